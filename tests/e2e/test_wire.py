"""Raw HTTP: status codes, error bodies, non-RPC routes, prefixes, path traversal."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import pytest
import requests

from e2e_util import assert_error, get, is_cairn, is_mlflow, new_run, post, unique_name


def raw_get(url: str, path: str) -> tuple[int, bytes, dict]:
    """GET without any client-side normalisation of the path (requests/urllib3 would drop '..')."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


def test_health(server_url):
    r = requests.get(f"{server_url}/health", timeout=10)
    assert r.status_code == 200
    assert r.text.strip() == "OK"


def test_version(server_url):
    r = requests.get(f"{server_url}/version", timeout=10)
    assert r.status_code == 200
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", r.text.strip()), r.text
    if is_mlflow():
        assert r.text.strip() == "3.17.2"


def test_server_info(server_url):
    r = requests.get(f"{server_url}/api/3.0/mlflow/server-info", timeout=10)
    assert r.status_code in (200, 404)
    if r.status_code == 200:
        body = r.json()
        # MLflow's server with a local artifact store cannot do multipart; Cairn can, on every
        # backend, and says so, which turns the client's parallel uploads on. Its ranged
        # downloads are slower than one streamed GET, so they are not announced.
        assert body.get("multipart_uploads_enabled", False) is is_cairn()
        assert body.get("multipart_downloads_enabled", False) is False


@pytest.mark.parametrize(
    "path",
    ["/api/2.0/mlflow/no-such-route", "/api/2.0/mlflow/runs/nope", "/ajax-api/2.0/mlflow/nope", "/api/9.9/x"],
)
def test_unknown_route_404(server_url, path):
    r = requests.get(f"{server_url}{path}", timeout=10)
    assert r.status_code == 404
    if is_cairn():
        # Deliberate Cairn difference (MLFLOW_COMPAT.md): unknown API routes answer JSON
        # ENDPOINT_NOT_FOUND; MLflow 3.17.2 answers Flask's HTML 404 page.
        assert r.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_post_requires_json_content_type(ctx, api):
    r = requests.post(f"{api}/experiments/create", data="name=x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Content-Type")
    r = requests.post(f"{api}/experiments/create", data=b'{"name": "x"}', timeout=10)  # no Content-Type
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # With a charset parameter it is fine.
    name = unique_name("ct")
    r = requests.post(
        f"{api}/experiments/create",
        data=f'{{"name": "{name}"}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["experiment_id"].isdigit()


def test_malformed_json_is_400(ctx, api):
    r = requests.post(
        f"{api}/experiments/create", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])


def test_error_body_shape(ctx, api):
    r = get(f"{api}/experiments/get", {"experiment_id": "123456789"})
    body = assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=123456789 exists")
    assert r.headers["Content-Type"].startswith("application/json")
    assert set(body) >= {"error_code", "message"}


def test_get_by_name_absent(ctx, api):
    r = get(f"{api}/experiments/get-by-name", {"experiment_name": "zz-absent-exp"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", "Could not find experiment with name 'zz-absent-exp'")


def test_missing_parameter_message(ctx, api):
    r = get(f"{api}/experiments/get")
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'experiment_id'")


def test_ajax_prefix_equivalence(ctx):
    name = unique_name("ajax")
    r = post(f"{ctx.url}/ajax-api/2.0/mlflow/experiments/create", {"name": name})
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    a = get(f"{ctx.url}/api/2.0/mlflow/experiments/get", {"experiment_id": exp_id}).json()
    b = get(f"{ctx.url}/ajax-api/2.0/mlflow/experiments/get", {"experiment_id": exp_id}).json()
    assert a == b
    assert a["experiment"]["name"] == name
    run_id = new_run(ctx)
    r = post(f"{ctx.url}/ajax-api/2.0/mlflow/runs/log-parameter", {"run_id": run_id, "key": "k", "value": "v"})
    assert r.status_code == 200
    assert ctx.client.get_run(run_id).data.params == {"k": "v"}
    s1 = post(f"{ctx.url}/api/2.0/mlflow/runs/search", {"experiment_ids": [ctx.experiment_id]}).json()
    s2 = post(f"{ctx.url}/ajax-api/2.0/mlflow/runs/search", {"experiment_ids": [ctx.experiment_id]}).json()
    assert s1 == s2
    assert [x["info"]["run_id"] for x in s1["runs"]] == [run_id]


def test_get_run_wire_shape(ctx, api):
    run_id = new_run(ctx, run_name="shape")
    ctx.client.log_metric(run_id, "m", 2.5, timestamp=1234, step=3)
    ctx.client.log_param(run_id, "p", "v")
    body = get(f"{api}/runs/get", {"run_id": run_id}).json()
    info = body["run"]["info"]
    assert info["run_id"] == run_id
    assert info["run_uuid"] == run_id
    assert info["experiment_id"] == ctx.experiment_id
    assert info["status"] == "RUNNING"
    assert info["lifecycle_stage"] == "active"
    assert info["run_name"] == "shape"
    assert isinstance(info["start_time"], int)
    assert "end_time" not in info
    data = body["run"]["data"]
    assert data["metrics"] == [{"key": "m", "value": 2.5, "timestamp": 1234, "step": 3}]
    assert data["params"] == [{"key": "p", "value": "v"}]
    assert {"key": "mlflow.runName", "value": "shape"} in data["tags"]


def test_empty_response_is_empty_object(ctx, api):
    run_id = new_run(ctx)
    r = post(f"{api}/runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})
    assert r.status_code == 200
    assert r.json() == {}


def test_run_uuid_alias_and_string_numbers(ctx, api):
    run_id = new_run(ctx)
    # run_uuid instead of run_id; int64 fields as numeric strings.
    r = post(
        f"{api}/runs/log-metric",
        {"run_uuid": run_id, "key": "m", "value": 1.5, "timestamp": "1700000000000", "step": "4"},
    )
    assert r.status_code == 200, r.text
    (m,) = ctx.client.get_metric_history(run_id, "m")
    assert (m.value, m.timestamp, m.step) == (1.5, 1700000000000, 4)


def test_update_run_wire(ctx, api):
    run_id = new_run(ctx)
    r = post(f"{api}/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1700000000123, "run_name": "x"})
    assert r.status_code == 200, r.text
    ri = r.json()["run_info"]
    assert ri["status"] == "FINISHED"
    assert ri["end_time"] == 1700000000123
    assert ri["run_name"] == "x"


def test_search_runs_requires_post(ctx, api):
    r = requests.get(f"{api}/runs/search", timeout=10)
    assert r.status_code in (404, 405)


def test_search_runs_page_token_only_when_more(ctx, api):
    for _ in range(3):
        new_run(ctx)
    b = post(f"{api}/runs/search", {"experiment_ids": [ctx.experiment_id], "max_results": 2}).json()
    assert len(b["runs"]) == 2 and b.get("next_page_token")
    b2 = post(
        f"{api}/runs/search",
        {"experiment_ids": [ctx.experiment_id], "max_results": 2, "page_token": b["next_page_token"]},
    ).json()
    assert len(b2["runs"]) == 1
    assert "next_page_token" not in b2 or not b2["next_page_token"]
    b3 = post(f"{api}/runs/search", {"experiment_ids": [ctx.experiment_id], "max_results": 3}).json()
    assert len(b3["runs"]) == 3
    assert not b3.get("next_page_token")


def test_enum_view_type_by_name_and_int(ctx, api):
    run_id = new_run(ctx)
    ctx.client.delete_run(run_id)
    for vt in ("DELETED_ONLY", 2):
        b = post(f"{api}/runs/search", {"experiment_ids": [ctx.experiment_id], "run_view_type": vt}).json()
        assert [x["info"]["run_id"] for x in b["runs"]] == [run_id], vt


@pytest.mark.parametrize(
    "path",
    [
        "/api/2.0/mlflow-artifacts/artifacts/0/../../etc/passwd",
        "/api/2.0/mlflow-artifacts/artifacts/0/%2E%2E/%2E%2E/etc/passwd",
        "/api/2.0/mlflow-artifacts/artifacts/%2Fetc%2Fpasswd",
        "/api/2.0/mlflow-artifacts/artifacts?path=../x",
        "/api/2.0/mlflow-artifacts/artifacts?path=0/%2E%2E/%2E%2E",
        "/api/2.0/mlflow-artifacts/artifacts?path=/etc",
    ],
)
def test_artifact_path_traversal_rejected(server_url, path):
    status, body, _ = raw_get(server_url, path)
    assert status == 400, (status, body[:300])
    assert b"Invalid path" in body


def test_artifact_list_and_get_artifact_traversal(ctx):
    run_id = new_run(ctx)
    for path in (
        f"/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=../x",
        f"/get-artifact?run_id={run_id}&path=../../x",
    ):
        status, body, _ = raw_get(ctx.url, path)
        assert status == 400, (path, status, body[:300])
        assert b"Invalid path" in body
