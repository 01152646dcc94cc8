"""Authorisation matrix: every experiment-scoped route × caller role × visibility × share.

A server with --auth; team `home` (owner, admin, member, viewer, and `creator`, a member who
creates the experiments) and team `partner` (a member and a viewer); a site admin; a user in no
team; and anonymous requests. For each visibility (private, team, public) and share with
`partner` (none, read, write) there is an experiment with a run, a file and a logged model.

Each route is sent by each caller against each experiment. The expected answer comes from the
rules written out again here (`expected`), independently of the server's code: allowed requests
succeed; a caller who may not read gets a 404 (the experiment's existence is private), one who
may read but not enough a 403, anonymous a 401; and a refused request changes nothing (a
snapshot of the experiment, its run, files and model, taken as the site admin, is equal before
and after). Searches are checked to return exactly what each caller may read.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import tempfile
import uuid
from pathlib import Path

import pytest
import requests
from test_auth import PASSWORD, _cli, _start

from e2e_util import is_mlflow

pytestmark = pytest.mark.skipif(is_mlflow(), reason="Cairn's authorisation")

NONE, READ, WRITE, MANAGE = 0, 1, 2, 3
HOME_ROLES = {"owner": "owner", "tadmin": "admin", "member": "member", "viewer": "viewer", "creator": "member"}
PARTNER_ROLES = {"pmember": "member", "pviewer": "viewer"}
CALLERS = ["admin", *HOME_ROLES, *PARTNER_ROLES, "outsider", "anonymous"]
VISIBILITIES = ["private", "team", "public"]
SHARES = [None, "read", "write"]
API = "/api/2.0/mlflow"


def expected(caller: str, visibility: str, share: str | None) -> int:
    """The rules of ARCHITECTURE.md's authorisation section, written out independently."""
    if caller == "admin":
        return MANAGE
    best = READ if visibility == "public" else NONE
    role = HOME_ROLES.get(caller)
    if role in ("owner", "admin") or caller == "creator":
        best = MANAGE
    elif role == "member" and visibility != "private":
        best = max(best, WRITE)
    elif role == "viewer" and visibility != "private":
        best = max(best, READ)
    partner = PARTNER_ROLES.get(caller)
    if partner and share:
        best = max(best, WRITE if share == "write" and partner == "member" else READ)
    return best


class World:
    """The server, a session per caller, and helpers that make fixtures as the creator."""

    def __init__(self, url: str, tokens: dict[str, str]):
        self.url = url
        self.sessions: dict[str, requests.Session] = {}
        for caller in CALLERS:
            session = requests.Session()
            if caller != "anonymous":
                session.headers["Authorization"] = f"Bearer {tokens[caller]}"
            self.sessions[caller] = session

    def call(self, caller: str, method: str, path: str, **kwargs) -> requests.Response:
        return self.sessions[caller].request(method, self.url + path, timeout=30, **kwargs)

    def ok(self, caller: str, method: str, path: str, **kwargs) -> dict:
        response = self.call(caller, method, path, **kwargs)
        assert response.ok, f"{caller} {method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def experiment(self, visibility: str, share: str | None, deleted: bool = False) -> str:
        name = f"exp-{visibility}-{share}-{uuid.uuid4().hex[:8]}"
        tags = [
            {"key": "cairn.team", "value": "home"},
            {"key": "cairn.visibility", "value": visibility},
            {"key": "x", "value": "1"},
        ]
        experiment_id = self.ok("creator", "POST", f"{API}/experiments/create", json={"name": name, "tags": tags})[
            "experiment_id"
        ]
        if share:
            self.ok("owner", "PUT", f"/api/v1/experiments/{experiment_id}/shares/partner", json={"level": share})
        if deleted:
            self.ok("creator", "POST", f"{API}/experiments/delete", json={"experiment_id": experiment_id})
        return experiment_id

    def run(self, experiment_id: str, deleted: bool = False) -> str:
        run = self.ok("creator", "POST", f"{API}/runs/create", json={"experiment_id": experiment_id})["run"]
        run_id = run["info"]["run_id"]
        self.ok(
            "creator",
            "POST",
            f"{API}/runs/log-batch",
            json={
                "run_id": run_id,
                "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}],
                "params": [{"key": "lr", "value": "0.1"}],
                "tags": [{"key": "t", "value": "1"}],
            },
        )
        # Bytes of its own, so that a blob belongs to one run's experiment only.
        self.ok("creator", "PUT", f"/api/v1/runs/{run_id}/files/a.txt", data=f"hello {run_id}".encode())
        if deleted:
            self.ok("creator", "POST", f"{API}/runs/delete", json={"run_id": run_id})
        return run_id

    def model(self, experiment_id: str, run_id: str) -> str:
        body = {
            "experiment_id": experiment_id,
            "name": "m",
            "source_run_id": run_id,
            "tags": [{"key": "x", "value": "1"}],
        }
        return self.ok("creator", "POST", f"{API}/logged-models", json=body)["model"]["info"]["model_id"]

    def registered(self, visibility: str, model_id: str) -> str:
        """A registered model of team `home` with `visibility`, a tag `x`, version 1 from the
        logged model, and alias `champion`."""
        name = f"rm-{visibility}-{uuid.uuid4().hex[:8]}"
        tags = [
            {"key": "cairn.team", "value": "home"},
            {"key": "cairn.visibility", "value": visibility},
            {"key": "x", "value": "1"},
        ]
        self.ok("creator", "POST", f"{API}/registered-models/create", json={"name": name, "tags": tags})
        self.ok("creator", "POST", f"{API}/model-versions/create", json={"name": name, "source": f"models:/{model_id}"})
        self.ok(
            "creator",
            "POST",
            f"{API}/model-versions/set-tag",
            json={"name": name, "version": "1", "key": "x", "value": "1"},
        )
        self.ok(
            "creator",
            "POST",
            f"{API}/registered-models/alias",
            json={"name": name, "alias": "champion", "version": "1"},
        )
        return name

    def snapshot(self, target: dict) -> tuple:
        """Everything a refused request could have changed, read as the site admin."""
        experiment = self.ok("admin", "GET", f"{API}/experiments/get", params={"experiment_id": target["experiment"]})
        run = self.ok("admin", "GET", f"{API}/runs/get", params={"run_id": target["run"]})
        files = self.ok("admin", "GET", f"/api/v1/runs/{target['run']}/artifacts")
        model = self.ok("admin", "GET", f"{API}/logged-models/{target['model']}")
        access = self.ok("admin", "GET", f"/api/v1/experiments/{target['experiment']}/access")
        alerts = self.ok("admin", "GET", f"/api/v1/experiments/{target['experiment']}/alerts")
        comments = self.ok("admin", "GET", f"/api/v1/runs/{target['run']}/comments")
        runs = self.ok(
            "admin",
            "POST",
            f"{API}/runs/search",
            json={"experiment_ids": [target["experiment"]], "run_view_type": "ALL"},
        )
        experiment["experiment"].pop("last_update_time", None)
        run_count = len(runs.get("runs", []))
        probe = self.call("admin", "GET", target["probe"]).text if target.get("probe") else None
        registered = self.call(
            "admin", "GET", f"{API}/registered-models/get", params={"name": target["registered"]}
        ).text
        versions = self.call(
            "admin", "GET", f"{API}/model-versions/search", params={"filter": f"name = '{target['registered']}'"}
        ).text
        return experiment, run, files, model, access, alerts, comments, run_count, probe, registered, versions


def _unique() -> str:
    return uuid.uuid4().hex[:10]


def _fresh_model(w: World, t: dict) -> str:
    """A logged model of the target's experiment made for one request (probed for changes)."""
    model_id = w.model(t["experiment"], t["run"])
    t["probe"] = f"{API}/logged-models/{model_id}"
    return model_id


def _mpu(w: World, t: dict, caller: str, with_part: bool = False) -> tuple[str, str]:
    """An MLflow multipart upload the creator started (and sent its one part to)."""
    path = f"{t['root']}/mp-{caller}-{_unique()}.bin"
    made = w.ok("creator", "POST", f"/api/2.0/mlflow-artifacts/mpu/create/{path}", json={"path": path, "num_parts": 1})
    if with_part:
        w.ok("creator", "PUT", f"/api/2.0/mlflow-artifacts/mpu/parts/{made['upload_id']}/1", data=b"0123456789")
    t["probe"] = f"/api/v1/uploads/{made['upload_id']}"
    return path, made["upload_id"]


def _upload(w: World, t: dict, caller: str) -> str:
    """A native resumable upload of 10 bytes the creator started."""
    made = w.ok(
        "creator", "POST", f"/api/v1/runs/{t['run']}/uploads", json={"path": f"r-{caller}-{_unique()}", "size": 10}
    )
    t["probe"] = f"/api/v1/uploads/{made['upload_id']}"
    return made["upload_id"]


def _comment(w: World, t: dict) -> int:
    made = w.ok("creator", "POST", f"/api/v1/runs/{t['run']}/comments", json={"body": "the creator's"})
    t["probe"] = f"/api/v1/runs/{t['run']}/comments"
    return made["comment"]["id"]


def _annotation(w: World, t: dict) -> int:
    made = w.ok("creator", "POST", f"/api/v1/runs/{t['run']}/annotations", json={"key": "loss", "step": 0, "text": "x"})
    t["probe"] = f"/api/v1/runs/{t['run']}/annotations"
    return made["annotation"]["id"]


def _alert(w: World, t: dict) -> int:
    body = {"name": f"a-{_unique()}", "condition": "run_failed", "webhook_url": "http://127.0.0.1:9/hook"}
    return w.ok("creator", "POST", f"/api/v1/experiments/{t['experiment']}/alerts", json=body)["alert"]["id"]


def _digest(w: World, t: dict) -> str:
    files = w.ok("creator", "GET", f"/api/v1/runs/{t['run']}/artifacts")
    return next(f["digest"] for f in files["files"] if f["path"] == "a.txt")


def _author_only(caller: str, permission: int) -> int | str:
    """Comments and annotations: their author (the creator) and site admins change them; others
    who may read get a 403."""
    if permission == NONE:
        return 404
    return "2xx" if caller in ("creator", "admin") else 403


# Each route: (name, permission it needs, fresh target kind or None, request maker). A request
# maker gets the world, the target (experiment, run, model ids) and the caller, and answers
# (method, path, keyword arguments). Routes that destroy their target get a fresh one per call
# ("run", "deleted-run", "experiment", "deleted-experiment").
ROUTES = [
    (
        "v1 retention delete",
        MANAGE,
        None,
        lambda w, t, c: ("DELETE", f"/api/v1/experiments/{t['experiment']}/retention", {}),
    ),
    (
        "ajax-api runs/get",
        READ,
        None,
        lambda w, t, c: ("GET", "/ajax-api/2.0/mlflow/runs/get", {"params": {"run_id": t["run"]}}),
    ),
    (
        "ajax-api proxy download",
        READ,
        None,
        lambda w, t, c: ("GET", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{t['root']}/a.txt", {}),
    ),
    # The model registry: a registered model belongs to a team with a visibility (no shares).
    (
        "registry registered-models/get",
        READ,
        None,
        lambda w, t, c: ("GET", f"{API}/registered-models/get", {"params": {"name": t["registered"]}}),
        "registry",
    ),
    (
        "registry registered-models/rename",
        MANAGE,
        "registered",
        lambda w, t, c: (
            "POST",
            f"{API}/registered-models/rename",
            {"json": {"name": t["registered"], "new_name": f"{t['registered']}-renamed"}},
        ),
        "registry",
    ),
    (
        "registry registered-models/update",
        WRITE,
        None,
        lambda w, t, c: (
            "PATCH",
            f"{API}/registered-models/update",
            {"json": {"name": t["registered"], "description": f"by {c}"}},
        ),
        "registry",
    ),
    (
        "registry registered-models/delete",
        MANAGE,
        "registered",
        lambda w, t, c: ("DELETE", f"{API}/registered-models/delete", {"json": {"name": t["registered"]}}),
        "registry",
    ),
    (
        "registry get-latest-versions",
        READ,
        None,
        lambda w, t, c: ("POST", f"{API}/registered-models/get-latest-versions", {"json": {"name": t["registered"]}}),
        "registry",
    ),
    (
        "registry registered-models/set-tag",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/registered-models/set-tag",
            {"json": {"name": t["registered"], "key": f"k-{c}", "value": "1"}},
        ),
        "registry",
    ),
    (
        "registry registered-models/delete-tag",
        WRITE,
        "registered",
        lambda w, t, c: (
            "DELETE",
            f"{API}/registered-models/delete-tag",
            {"json": {"name": t["registered"], "key": "x"}},
        ),
        "registry",
    ),
    (
        "registry alias set",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/registered-models/alias",
            {"json": {"name": t["registered"], "alias": f"a-{c}", "version": "1"}},
        ),
        "registry",
    ),
    (
        "registry alias delete",
        WRITE,
        "registered",
        lambda w, t, c: (
            "DELETE",
            f"{API}/registered-models/alias",
            {"json": {"name": t["registered"], "alias": "champion"}},
        ),
        "registry",
    ),
    (
        "registry alias get",
        READ,
        None,
        lambda w, t, c: (
            "GET",
            f"{API}/registered-models/alias",
            {"params": {"name": t["registered"], "alias": "champion"}},
        ),
        "registry",
    ),
    (
        "registry model-versions/create",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/model-versions/create",
            {"json": {"name": t["registered"], "source": f"models:/{t['model']}"}},
        ),
        "registry",
    ),
    (
        "registry model-versions/get",
        READ,
        None,
        lambda w, t, c: ("GET", f"{API}/model-versions/get", {"params": {"name": t["registered"], "version": "1"}}),
        "registry",
    ),
    (
        "registry model-versions/update",
        WRITE,
        None,
        lambda w, t, c: (
            "PATCH",
            f"{API}/model-versions/update",
            {"json": {"name": t["registered"], "version": "1", "description": c}},
        ),
        "registry",
    ),
    (
        "registry transition-stage",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/model-versions/transition-stage",
            {"json": {"name": t["registered"], "version": "1", "stage": "Staging", "archive_existing_versions": False}},
        ),
        "registry",
    ),
    (
        "registry model-versions/delete",
        WRITE,
        "registered",
        lambda w, t, c: ("DELETE", f"{API}/model-versions/delete", {"json": {"name": t["registered"], "version": "1"}}),
        "registry",
    ),
    (
        "registry get-download-uri",
        READ,
        None,
        lambda w, t, c: (
            "GET",
            f"{API}/model-versions/get-download-uri",
            {"params": {"name": t["registered"], "version": "1"}},
        ),
        "registry",
    ),
    (
        "registry model-versions/set-tag",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/model-versions/set-tag",
            {"json": {"name": t["registered"], "version": "1", "key": f"v-{c}", "value": "1"}},
        ),
        "registry",
    ),
    (
        "registry model-versions/delete-tag",
        WRITE,
        "registered",
        lambda w, t, c: (
            "DELETE",
            f"{API}/model-versions/delete-tag",
            {"json": {"name": t["registered"], "version": "1", "key": "x"}},
        ),
        "registry",
    ),
    (
        "registry v1 registered model",
        READ,
        None,
        lambda w, t, c: ("GET", f"/api/v1/registered-models/{t['registered']}", {}),
        "registry",
    ),
    (
        "registry v1 access get",
        READ,
        None,
        lambda w, t, c: ("GET", f"/api/v1/registered-models/{t['registered']}/access", {}),
        "registry",
    ),
    (
        "registry v1 access change",
        MANAGE,
        None,
        lambda w, t, c: (
            "PATCH",
            f"/api/v1/registered-models/{t['registered']}/access",
            {"json": {"visibility": t["visibility"]}},
        ),
        "registry",
    ),
    (
        "mlflow experiments/delete-experiment-tag",
        WRITE,
        "experiment",
        lambda w, t, c: (
            "POST",
            f"{API}/experiments/delete-experiment-tag",
            {"json": {"experiment_id": t["experiment"], "key": "x"}},
        ),
    ),
    (
        "mlflow runs/log-model",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/runs/log-model",
            {"json": {"run_id": t["run"], "model_json": '{"artifact_path": "m", "flavors": {}}'}},
        ),
    ),
    (
        "mlflow logged-models delete",
        WRITE,
        None,
        lambda w, t, c: ("DELETE", f"{API}/logged-models/{_fresh_model(w, t)}", {}),
    ),
    (
        "mlflow logged-models delete tag",
        WRITE,
        None,
        lambda w, t, c: ("DELETE", f"{API}/logged-models/{_fresh_model(w, t)}/tags/x", {}),
    ),
    (
        "mlflow mpu part",
        WRITE,
        None,
        lambda w, t, c: ("PUT", f"/api/2.0/mlflow-artifacts/mpu/parts/{_mpu(w, t, c)[1]}/1", {"data": b"0123456789"}),
    ),
    (
        "mlflow mpu abort",
        WRITE,
        None,
        lambda w, t, c: (
            lambda p, u: ("POST", f"/api/2.0/mlflow-artifacts/mpu/abort/{p}", {"json": {"path": p, "upload_id": u}})
        )(*_mpu(w, t, c)),
    ),
    (
        "mlflow mpu complete",
        WRITE,
        None,
        lambda w, t, c: (
            lambda p, u: (
                "POST",
                f"/api/2.0/mlflow-artifacts/mpu/complete/{p}",
                {"json": {"path": p, "upload_id": u, "parts": [{"part_number": 1, "etag": f'"{u}-1"'}]}},
            )
        )(*_mpu(w, t, c, with_part=True)),
    ),
    (
        "mlflow presigned",
        READ,
        None,
        lambda w, t, c: ("GET", f"/api/2.0/mlflow-artifacts/presigned/{t['root']}/a.txt", {}),
    ),
    ("v1 presigned", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/presigned/a.txt", {})),
    ("v1 upload get", WRITE, None, lambda w, t, c: ("GET", f"/api/v1/uploads/{_upload(w, t, c)}", {})),
    (
        "v1 upload part",
        WRITE,
        None,
        lambda w, t, c: ("PUT", f"/api/v1/uploads/{_upload(w, t, c)}/parts/1", {"data": b"0123456789"}),
    ),
    ("v1 upload abort", WRITE, None, lambda w, t, c: ("DELETE", f"/api/v1/uploads/{_upload(w, t, c)}", {})),
    (
        "v1 upload complete",
        WRITE,
        None,
        lambda w, t, c: (
            lambda u: (
                w.ok("creator", "PUT", f"/api/v1/uploads/{u}/parts/1", data=b"0123456789"),
                ("POST", f"/api/v1/uploads/{u}/complete", {"json": {}}),
            )[1]
        )(_upload(w, t, c)),
    ),
    ("v1 blob", READ, None, lambda w, t, c: ("GET", f"/api/v1/blobs/{_digest(w, t)}", {})),
    (
        "v1 logged model put",
        WRITE,
        None,
        lambda w, t, c: (
            "PUT",
            f"/api/v1/logged-models/m-{uuid.uuid4().hex}",
            {"json": {"experiment_id": t["experiment"], "name": f"put-{c}"}},
        ),
    ),
    (
        "v1 series (many runs)",
        READ,
        None,
        lambda w, t, c: ("POST", "/api/v1/series", {"json": {"run_ids": [t["run"]], "key": "loss"}}),
    ),
    ("v1 alert delete", WRITE, None, lambda w, t, c: ("DELETE", f"/api/v1/alerts/{_alert(w, t)}", {})),
    ("v1 alert deliveries", READ, None, lambda w, t, c: ("GET", f"/api/v1/alerts/{_alert(w, t)}/deliveries", {})),
    (
        "v1 comment edit",
        READ,
        None,
        lambda w, t, c: ("PATCH", f"/api/v1/comments/{_comment(w, t)}", {"json": {"body": f"edited by {c}"}}),
        _author_only,
    ),
    (
        "v1 comment delete",
        READ,
        None,
        lambda w, t, c: ("DELETE", f"/api/v1/comments/{_comment(w, t)}", {}),
        _author_only,
    ),
    (
        "v1 annotation delete",
        READ,
        None,
        lambda w, t, c: ("DELETE", f"/api/v1/annotations/{_annotation(w, t)}", {}),
        _author_only,
    ),
    (
        "mlflow metrics/get-history-bulk",
        READ,
        None,
        lambda w, t, c: (
            "GET",
            f"{API}/metrics/get-history-bulk",
            {"params": {"run_id": t["run"], "metric_key": "loss"}},
        ),
    ),
    (
        "mlflow logged-models finalize",
        WRITE,
        None,
        lambda w, t, c: (
            "PATCH",
            f"{API}/logged-models/{t['model']}",
            {"json": {"model_id": t["model"], "status": "LOGGED_MODEL_READY"}},
        ),
    ),
    (
        "mlflow runs/outputs",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/runs/outputs",
            {"json": {"run_id": t["run"], "models": [{"model_id": t["model"], "step": 0}]}},
        ),
    ),
    (
        "v1 summaries (many runs)",
        READ,
        None,
        lambda w, t, c: ("POST", "/api/v1/summaries", {"json": {"run_ids": [t["run"]]}}),
    ),
    (
        "v1 lineage diff",
        READ,
        None,
        lambda w, t, c: ("GET", "/api/v1/lineage/diff", {"params": {"a": t["run"], "b": t["run"]}}),
    ),
    ("v1 annotations list", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/annotations", {})),
    ("v1 retention get", READ, None, lambda w, t, c: ("GET", f"/api/v1/experiments/{t['experiment']}/retention", {})),
    (
        "v1 experiment patch rename",
        MANAGE,
        None,
        lambda w, t, c: ("PATCH", f"/api/v1/experiments/{t['experiment']}", {"json": {"name": f"n-{_unique()}"}}),
    ),
    (
        "v1 experiment patch delete",
        MANAGE,
        "experiment",
        lambda w, t, c: ("PATCH", f"/api/v1/experiments/{t['experiment']}", {"json": {"lifecycle_stage": "deleted"}}),
    ),
    # A live-stream subscription: without the WebSocket upgrade an allowed request gets the
    # "speaks WebSocket" 400 after its targets were authorised; a refused one never gets there.
    (
        "v1 stream subscribe run",
        READ,
        None,
        lambda w, t, c: ("GET", "/api/v1/stream", {"params": {"runs": t["run"]}}),
        400,
    ),
    (
        "v1 stream subscribe experiment",
        READ,
        None,
        lambda w, t, c: ("GET", "/api/v1/stream", {"params": {"experiments": t["experiment"]}}),
        400,
    ),
    (
        "mlflow experiments/get",
        READ,
        None,
        lambda w, t, c: ("GET", f"{API}/experiments/get", {"params": {"experiment_id": t["experiment"]}}),
    ),
    (
        "mlflow experiments/get-by-name",
        READ,
        None,
        lambda w, t, c: ("GET", f"{API}/experiments/get-by-name", {"params": {"experiment_name": t["name"]}}),
    ),
    (
        "mlflow experiments/update",
        MANAGE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/experiments/update",
            {"json": {"experiment_id": t["experiment"], "new_name": f"renamed-{_unique()}"}},
        ),
    ),
    (
        "mlflow experiments/delete",
        MANAGE,
        "experiment",
        lambda w, t, c: ("POST", f"{API}/experiments/delete", {"json": {"experiment_id": t["experiment"]}}),
    ),
    (
        "mlflow experiments/restore",
        MANAGE,
        "deleted-experiment",
        lambda w, t, c: ("POST", f"{API}/experiments/restore", {"json": {"experiment_id": t["experiment"]}}),
    ),
    (
        "mlflow experiments/set-experiment-tag",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/experiments/set-experiment-tag",
            {"json": {"experiment_id": t["experiment"], "key": f"k-{c}", "value": "v"}},
        ),
    ),
    (
        "mlflow runs/create",
        WRITE,
        None,
        lambda w, t, c: ("POST", f"{API}/runs/create", {"json": {"experiment_id": t["experiment"]}}),
    ),
    ("mlflow runs/get", READ, None, lambda w, t, c: ("GET", f"{API}/runs/get", {"params": {"run_id": t["run"]}})),
    (
        "mlflow runs/update",
        WRITE,
        None,
        lambda w, t, c: ("POST", f"{API}/runs/update", {"json": {"run_id": t["run"], "run_name": f"r-{c}"}}),
    ),
    (
        "mlflow runs/delete",
        WRITE,
        "run",
        lambda w, t, c: ("POST", f"{API}/runs/delete", {"json": {"run_id": t["run"]}}),
    ),
    (
        "mlflow runs/restore",
        WRITE,
        "deleted-run",
        lambda w, t, c: ("POST", f"{API}/runs/restore", {"json": {"run_id": t["run"]}}),
    ),
    (
        "mlflow runs/log-metric",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/runs/log-metric",
            {"json": {"run_id": t["run"], "key": "loss", "value": 1.0, "timestamp": 2, "step": 1}},
        ),
    ),
    (
        "mlflow runs/log-parameter",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/runs/log-parameter",
            {"json": {"run_id": t["run"], "key": f"p-{c}", "value": "1"}},
        ),
    ),
    (
        "mlflow runs/log-batch",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/runs/log-batch",
            {"json": {"run_id": t["run"], "tags": [{"key": f"b-{c}", "value": "1"}]}},
        ),
    ),
    (
        "mlflow runs/set-tag",
        WRITE,
        None,
        lambda w, t, c: ("POST", f"{API}/runs/set-tag", {"json": {"run_id": t["run"], "key": f"s-{c}", "value": "1"}}),
    ),
    (
        "mlflow runs/delete-tag",
        WRITE,
        "run",
        lambda w, t, c: ("POST", f"{API}/runs/delete-tag", {"json": {"run_id": t["run"], "key": "t"}}),
    ),
    (
        "mlflow runs/log-inputs",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/runs/log-inputs",
            {
                "json": {
                    "run_id": t["run"],
                    "datasets": [
                        {"dataset": {"name": f"d-{c}", "digest": "abc", "source_type": "local", "source": "{}"}}
                    ],
                }
            },
        ),
    ),
    (
        "mlflow metrics/get-history",
        READ,
        None,
        lambda w, t, c: ("GET", f"{API}/metrics/get-history", {"params": {"run_id": t["run"], "metric_key": "loss"}}),
    ),
    (
        "mlflow metrics/get-history-bulk-interval",
        READ,
        None,
        lambda w, t, c: (
            "GET",
            f"{API}/metrics/get-history-bulk-interval",
            {"params": {"run_ids": t["run"], "metric_key": "loss", "max_results": 10}},
        ),
    ),
    (
        "mlflow logged-models create",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/logged-models",
            {"json": {"experiment_id": t["experiment"], "name": f"m-{c}"}},
        ),
    ),
    ("mlflow logged-models get", READ, None, lambda w, t, c: ("GET", f"{API}/logged-models/{t['model']}", {})),
    (
        "mlflow logged-models set tags",
        WRITE,
        None,
        lambda w, t, c: (
            "PATCH",
            f"{API}/logged-models/{t['model']}/tags",
            {"json": {"tags": [{"key": f"mt-{c}", "value": "1"}]}},
        ),
    ),
    (
        "mlflow logged-models params",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"{API}/logged-models/{t['model']}/params",
            {"json": {"params": [{"key": f"mp-{c}", "value": "1"}]}},
        ),
    ),
    (
        "mlflow artifacts/list",
        READ,
        None,
        lambda w, t, c: ("GET", f"{API}/artifacts/list", {"params": {"run_id": t["run"]}}),
    ),
    (
        "get-artifact",
        READ,
        None,
        lambda w, t, c: ("GET", "/get-artifact", {"params": {"run_uuid": t["run"], "path": "a.txt"}}),
    ),
    (
        "proxy download",
        READ,
        None,
        lambda w, t, c: ("GET", f"/api/2.0/mlflow-artifacts/artifacts/{t['root']}/a.txt", {}),
    ),
    (
        "proxy list",
        READ,
        None,
        lambda w, t, c: ("GET", "/api/2.0/mlflow-artifacts/artifacts", {"params": {"path": t["root"]}}),
    ),
    (
        "proxy upload",
        WRITE,
        None,
        lambda w, t, c: ("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{t['root']}/up-{c}.txt", {"data": b"x"}),
    ),
    (
        "proxy delete",
        WRITE,
        "run",
        lambda w, t, c: ("DELETE", f"/api/2.0/mlflow-artifacts/artifacts/{t['root']}/a.txt", {}),
    ),
    (
        "proxy multipart create",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"/api/2.0/mlflow-artifacts/mpu/create/{t['root']}/big-{c}.bin",
            {"json": {"path": f"{t['root']}/big-{c}.bin", "num_parts": 1}},
        ),
    ),
    ("v1 experiment get", READ, None, lambda w, t, c: ("GET", f"/api/v1/experiments/{t['experiment']}", {})),
    (
        "v1 experiment patch tags",
        WRITE,
        None,
        lambda w, t, c: (
            "PATCH",
            f"/api/v1/experiments/{t['experiment']}",
            {"json": {"set_tags": [{"key": f"v-{c}", "value": "1"}]}},
        ),
    ),
    ("v1 experiment keys", READ, None, lambda w, t, c: ("GET", f"/api/v1/experiments/{t['experiment']}/keys", {})),
    (
        "v1 retention set",
        MANAGE,
        None,
        lambda w, t, c: (
            "PUT",
            f"/api/v1/experiments/{t['experiment']}/retention",
            {"json": {"after_days": 30, "resolution": 10}},
        ),
    ),
    ("v1 run get", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}", {})),
    (
        "v1 run put (existing)",
        WRITE,
        None,
        lambda w, t, c: ("PUT", f"/api/v1/runs/{t['run']}", {"json": {"experiment_id": t["experiment"]}}),
    ),
    (
        "v1 run patch",
        WRITE,
        None,
        lambda w, t, c: ("PATCH", f"/api/v1/runs/{t['run']}", {"json": {"run_name": f"p-{c}"}}),
    ),
    (
        "v1 ingest",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"/api/v1/runs/{t['run']}/metrics",
            {"json": {"metrics": [{"key": f"i-{c}", "steps": [0], "values": [1.0], "timestamp": 1}]}},
        ),
    ),
    ("v1 summaries", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/metrics", {})),
    ("v1 points", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/metrics/loss/points", {})),
    ("v1 series", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/metrics/loss/series", {})),
    ("v1 compare", READ, None, lambda w, t, c: ("POST", "/api/v1/compare", {"json": {"run_ids": [t["run"]]}})),
    ("v1 files list", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/artifacts", {})),
    ("v1 file get", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/files/a.txt", {})),
    ("v1 file put", WRITE, None, lambda w, t, c: ("PUT", f"/api/v1/runs/{t['run']}/files/n-{c}.txt", {"data": b"x"})),
    ("v1 file delete", WRITE, "run", lambda w, t, c: ("DELETE", f"/api/v1/runs/{t['run']}/files/a.txt", {})),
    (
        "v1 upload create",
        WRITE,
        None,
        lambda w, t, c: ("POST", f"/api/v1/runs/{t['run']}/uploads", {"json": {"path": f"u-{c}.bin", "size": 10}}),
    ),
    ("v1 comments list", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/comments", {})),
    (
        "v1 comment add",
        READ,
        None,
        lambda w, t, c: ("POST", f"/api/v1/runs/{t['run']}/comments", {"json": {"body": f"hi from {c}"}}),
    ),
    (
        "v1 annotation add",
        READ,
        None,
        lambda w, t, c: (
            "POST",
            f"/api/v1/runs/{t['run']}/annotations",
            {"json": {"key": "loss", "step": 0, "text": c}},
        ),
    ),
    ("v1 activity", READ, None, lambda w, t, c: ("GET", f"/api/v1/runs/{t['run']}/activity", {})),
    ("v1 alerts list", READ, None, lambda w, t, c: ("GET", f"/api/v1/experiments/{t['experiment']}/alerts", {})),
    (
        "v1 alert create",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"/api/v1/experiments/{t['experiment']}/alerts",
            {"json": {"name": f"a-{c}", "condition": "run_failed", "webhook_url": "http://127.0.0.1:9/hook"}},
        ),
    ),
    ("v1 lineage", READ, None, lambda w, t, c: ("GET", "/api/v1/lineage", {"params": {"node": f"run:{t['run']}"}})),
    (
        "v1 lineage record",
        WRITE,
        None,
        lambda w, t, c: (
            "POST",
            f"/api/v1/runs/{t['run']}/lineage",
            {"json": {"inputs": [f"dataset:d-{c}@abc"]}},
        ),
    ),
    ("v1 fork", WRITE, None, lambda w, t, c: ("POST", f"/api/v1/runs/{t['run']}/fork", {"json": {"step": 0}})),
    ("v1 access get", READ, None, lambda w, t, c: ("GET", f"/api/v1/experiments/{t['experiment']}/access", {})),
    (
        "v1 access change",
        MANAGE,
        None,
        lambda w, t, c: (
            "PATCH",
            f"/api/v1/experiments/{t['experiment']}/access",
            {"json": {"visibility": t["visibility"]}},
        ),
    ),
    (
        "v1 share",
        MANAGE,
        "experiment",
        lambda w, t, c: (
            "PUT",
            f"/api/v1/experiments/{t['experiment']}/shares/partner",
            {"json": {"level": t["share"] or "read"}},
        ),
    ),
]


@pytest.fixture(scope="module")
def world():
    root = Path(tempfile.mkdtemp(prefix="cairn-matrix-"))
    data = root / "data"
    _cli(data, "user", "create", "admin", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    users = [name for name in CALLERS if name not in ("admin", "anonymous")]
    for name in users:
        _cli(data, "user", "create", name, "--password-stdin", stdin=PASSWORD + "\n")
    tokens = {name: _cli(data, "token", "create", "--user", name, "--name", "t") for name in ["admin", *users]}
    proc, url = _start(root, data, "--rate-limit", "0")
    w = World(url, tokens)
    w.ok("owner", "POST", "/api/v1/teams", json={"name": "home"})
    for name, role in HOME_ROLES.items():
        if name != "owner":
            w.ok("owner", "PUT", f"/api/v1/teams/home/members/{name}", json={"role": role})
    w.ok("pmember", "POST", "/api/v1/teams", json={"name": "partner"})
    w.ok("pmember", "PUT", "/api/v1/teams/partner/members/pviewer", json={"role": "viewer"})
    # pmember owns partner; their role there is still "member and up", which is what shares test.
    w.targets = {}
    for visibility, share in itertools.product(VISIBILITIES, SHARES):
        w.targets[(visibility, share)] = _fixture(w, w.experiment(visibility, share), visibility)
    yield w
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(15)
    shutil.rmtree(root, ignore_errors=True)


def _fixture(w: World, experiment_id: str, visibility: str) -> dict:
    run_id = w.run(experiment_id)
    model_id = w.model(experiment_id, run_id)
    return {
        "experiment": experiment_id,
        "run": run_id,
        "model": model_id,
        "registered": w.registered(visibility, model_id),
    }


def _target(w: World, visibility: str, share: str | None, fresh: str | None) -> dict:
    """The ids a request goes to: the shared fixture of (visibility, share), or a fresh one."""
    base = w.targets[(visibility, share)]
    if fresh in ("experiment", "deleted-experiment"):
        fixture = _fixture(w, w.experiment(visibility, share), visibility)
        if fresh == "deleted-experiment":
            w.ok("creator", "POST", f"{API}/experiments/delete", json={"experiment_id": fixture["experiment"]})
    elif fresh == "registered":
        fixture = dict(base, registered=w.registered(visibility, base["model"]))
    elif fresh in ("run", "deleted-run"):
        fixture = dict(base, run=w.run(base["experiment"], deleted=fresh == "deleted-run"))
    else:
        fixture = base
    experiment = w.ok("admin", "GET", f"{API}/experiments/get", params={"experiment_id": fixture["experiment"]})
    run = w.ok("admin", "GET", f"{API}/runs/get", params={"run_id": fixture["run"]})["run"]
    return dict(
        fixture,
        name=experiment["experiment"]["name"],
        root=run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/"),
        visibility=visibility,
        share=share,
    )


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_route_by_role_visibility_and_share(world, route):
    name, need, fresh, make = route[:4]
    special = route[4] if len(route) > 4 else None
    failures = []
    for visibility, share in itertools.product(VISIBILITIES, SHARES):
        for caller in CALLERS:
            target = _target(world, visibility, share, fresh)
            method, path, kwargs = make(world, target, caller)
            # Registered models have no shares.
            permission = expected(caller, visibility, None if special == "registry" else share)
            allowed = caller != "anonymous" and permission >= need
            want = None
            if callable(special) and caller != "anonymous":
                want = special(caller, permission)
                allowed = want == "2xx"
            before = None if allowed or method == "GET" else world.snapshot(target)
            response = world.call(caller, method, path, **kwargs)
            status = response.status_code
            if caller == "anonymous":
                want = "401"
                good = status == 401
            elif want is not None:
                good = 200 <= status < 300 if want == "2xx" else status == want
            elif allowed:
                fixed = special if isinstance(special, int) else None
                want = str(fixed or "2xx")
                good = status == fixed if fixed else 200 <= status < 300
            elif permission == NONE:
                want = "404"
                good = status == 404
            else:
                want = "403"
                good = status == 403
            if not good:
                failures.append(f"{caller} on {visibility}/{share}: {status} (want {want}) {response.text[:200]}")
            elif before is not None and world.snapshot(target) != before:
                failures.append(f"{caller} on {visibility}/{share}: refused with {status} but something changed")
    assert not failures, f"{name}:\n" + "\n".join(failures)


def test_searches_return_exactly_what_each_caller_may_read(world):
    ours = {world.targets[key]["experiment"]: key for key in itertools.product(VISIBILITIES, SHARES)}
    for caller in CALLERS:
        if caller == "anonymous":
            assert (
                world.call(caller, "POST", f"{API}/experiments/search", json={"max_results": 1000}).status_code == 401
            )
            continue
        readable = {e for e, (v, s) in ours.items() if expected(caller, v, s) >= READ}
        found = world.ok(caller, "POST", f"{API}/experiments/search", json={"max_results": 1000}).get("experiments", [])
        assert {e["experiment_id"] for e in found} & set(ours) == readable, caller
        listed = world.ok(caller, "GET", "/api/v1/experiments", params={"max_results": 1000})["experiments"]
        assert {e["experiment_id"] for e in listed} & set(ours) == readable, caller
        runs = world.ok(caller, "POST", f"{API}/runs/search", json={"experiment_ids": list(ours), "max_results": 1000})
        run_experiments = {r["info"]["experiment_id"] for r in runs.get("runs", [])}
        assert run_experiments <= readable, caller
        assert run_experiments == readable, caller
        window = world.ok(
            caller, "POST", "/api/v1/runs/search", json={"experiment_ids": list(ours), "offset": 0, "limit": 1000}
        )
        assert {r["info"]["experiment_id"] for r in window["runs"]} <= readable, caller
        assert window["total"] == len(window["runs"]), "the total counts only readable runs"
        registered = {world.targets[key]["registered"]: key for key in itertools.product(VISIBILITIES, SHARES)}
        may_read = {name for name, (v, _) in registered.items() if expected(caller, v, None) >= READ}
        found = world.ok(caller, "GET", f"{API}/registered-models/search", params={"max_results": 1000})
        assert {m["name"] for m in found.get("registered_models", [])} & set(registered) == may_read, caller
        found = world.ok(caller, "GET", "/api/v1/registered-models", params={"max_results": 1000})
        assert {m["name"] for m in found.get("registered_models", [])} & set(registered) == may_read, caller
        found = world.ok(caller, "GET", f"{API}/model-versions/search", params={"max_results": 10000})
        assert {v["name"] for v in found.get("model_versions", [])} & set(registered) == may_read, caller
        models = world.ok(caller, "POST", f"{API}/logged-models/search", json={"experiment_ids": list(ours)})
        assert {m["info"]["experiment_id"] for m in models.get("models", [])} <= readable, caller


def test_new_experiments_go_to_the_personal_team_and_common_ground_stays_shared(world):
    experiment_id = world.ok("outsider", "POST", f"{API}/experiments/create", json={"name": f"solo-{_unique()}"})[
        "experiment_id"
    ]
    access = world.ok("outsider", "GET", f"/api/v1/experiments/{experiment_id}/access")["access"]
    assert access["team"] == "~outsider" and access["visibility"] == "team" and access["permission"] == "manage"
    assert access["creator"] == "outsider"
    assert (
        world.call("member", "GET", f"{API}/experiments/get", params={"experiment_id": experiment_id}).status_code
        == 404
    )
    # A team one is not a member of cannot receive experiments; a viewer cannot create in it.
    for caller, status in (("outsider", 404), ("viewer", 403)):
        body = {"name": f"x-{_unique()}", "tags": [{"key": "cairn.team", "value": "home"}]}
        assert world.call(caller, "POST", f"{API}/experiments/create", json=body).status_code == status
    bad = {"name": f"x-{_unique()}", "tags": [{"key": "cairn.visibility", "value": "secret"}]}
    assert world.call("member", "POST", f"{API}/experiments/create", json=bad).status_code == 400
    # The Default experiment belongs to no team: everyone signed in writes, only admins manage.
    run = world.ok("outsider", "POST", f"{API}/runs/create", json={"experiment_id": "0"})["run"]
    assert run["info"]["experiment_id"] == "0"
    rename = {"experiment_id": "0", "new_name": "Default"}
    assert world.call("outsider", "POST", f"{API}/experiments/update", json=rename).status_code == 403
    assert world.call("admin", "POST", f"{API}/experiments/update", json=rename).status_code == 200


def test_team_management_rules(world):
    # Only owners touch the owner role; admins manage the rest; members manage nothing.
    assert world.call("tadmin", "PUT", "/api/v1/teams/home/members/outsider", json={"role": "viewer"}).ok
    assert world.call("tadmin", "PUT", "/api/v1/teams/home/members/outsider", json={"role": "owner"}).status_code == 403
    assert (
        world.call("member", "PUT", "/api/v1/teams/home/members/outsider", json={"role": "member"}).status_code == 403
    )
    assert world.call("pviewer", "GET", "/api/v1/teams/home").status_code == 404, "a team's members are private"
    assert world.call("outsider", "DELETE", "/api/v1/teams/home/members/outsider").ok, "anyone may leave"
    assert world.call("owner", "DELETE", "/api/v1/teams/home/members/owner").status_code == 400, "the last owner stays"
    assert world.call("owner", "DELETE", "/api/v1/teams/home").status_code == 400, "a team owning experiments stays"
    assert world.call("owner", "DELETE", "/api/v1/teams/~owner").status_code == 400, "personal teams stay"
    assert world.call("owner", "PUT", "/api/v1/teams/home/members/nobody", json={"role": "viewer"}).status_code == 404
    assert world.call("owner", "PUT", "/api/v1/teams/home/members/outsider", json={"role": "boss"}).status_code == 400
    teams = world.ok("viewer", "GET", "/api/v1/teams")["teams"]
    assert {(t["name"], t["role"]) for t in teams} == {("home", "viewer"), ("~viewer", "owner")}
    everything = world.ok("admin", "GET", "/api/v1/teams")["teams"]
    assert {"home", "partner"} <= {t["name"] for t in everything}
    # A removed member loses access at once.
    experiment_id = world.targets[("team", None)]["experiment"]
    assert world.call("viewer", "GET", f"{API}/experiments/get", params={"experiment_id": experiment_id}).ok
    world.ok("owner", "DELETE", "/api/v1/teams/home/members/viewer")
    assert (
        world.call("viewer", "GET", f"{API}/experiments/get", params={"experiment_id": experiment_id}).status_code
        == 404
    )
    world.ok("owner", "PUT", "/api/v1/teams/home/members/viewer", json={"role": "viewer"})


def test_garbage_collection_is_for_site_admins(world):
    for caller in ("owner", "member", "outsider"):
        answer = world.call(caller, "POST", "/api/v1/admin/gc", json={"dry_run": True})
        assert answer.status_code == 403, caller
    assert world.call("anonymous", "POST", "/api/v1/admin/gc", json={"dry_run": True}).status_code == 401
    assert world.ok("admin", "POST", "/api/v1/admin/gc", json={"dry_run": True})["dry_run"] is True


def test_the_official_client_sees_the_same_rules(world, monkeypatch):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    target = world.targets[("team", None)]
    tokens = {
        c: s.headers["Authorization"].removeprefix("Bearer ") for c, s in world.sessions.items() if c != "anonymous"
    }
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    mlflow.set_tracking_uri(world.url)

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["member"])
    client = MlflowClient(world.url)
    client.log_metric(target["run"], "from-the-client", 1.0)
    assert client.get_metric_history(target["run"], "from-the-client")[0].value == 1.0

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["viewer"])
    client = MlflowClient(world.url)
    assert client.get_run(target["run"]).info.run_id == target["run"]
    with pytest.raises(MlflowException) as refused:
        client.log_metric(target["run"], "from-the-client", 2.0)
    assert refused.value.error_code == "PERMISSION_DENIED"

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["outsider"])
    client = MlflowClient(world.url)
    with pytest.raises(MlflowException) as hidden:
        client.get_experiment(target["experiment"])
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    names = {e.name for e in client.search_experiments(max_results=1000)}
    assert (
        world.ok("admin", "GET", f"{API}/experiments/get", params={"experiment_id": target["experiment"]})[
            "experiment"
        ]["name"]
        not in names
    )


def test_the_sdk_creates_its_project_in_a_team(world, tmp_path):
    import cairn

    tokens = {
        c: s.headers["Authorization"].removeprefix("Bearer ") for c, s in world.sessions.items() if c != "anonymous"
    }
    project = f"sdk-{_unique()}"
    run = cairn.init(
        project=project,
        team="home",
        visibility="private",
        url=world.url,
        token=tokens["member"],
        dir=str(tmp_path),
        capture_environment=False,
        system_metrics_interval=0,
    )
    run.log({"loss": 0.5})
    run.finish()
    experiment = world.ok("member", "GET", f"{API}/experiments/get-by-name", params={"experiment_name": project})
    experiment_id = experiment["experiment"]["experiment_id"]
    access = world.ok("member", "GET", f"/api/v1/experiments/{experiment_id}/access")["access"]
    assert (access["team"], access["visibility"], access["creator"]) == ("home", "private", "member")
    assert (
        world.call("viewer", "GET", f"{API}/experiments/get", params={"experiment_id": experiment_id}).status_code
        == 404
    )
    points = world.ok("member", "GET", f"/api/v1/runs/{run.id}/metrics/loss/points")
    assert points["values"] == [0.5]
    # A project whose name another team's private experiment holds is refused without its id.
    bad = world.call("outsider", "PUT", f"/api/v1/runs/{uuid.uuid4().hex}", json={"experiment_name": project})
    assert bad.status_code == 409 and experiment_id not in bad.text, bad.text
    with pytest.raises(cairn.UsageError):
        cairn.init(project=project, visibility="secret", url=world.url, token=tokens["member"], dir=str(tmp_path))


def test_mentions_reach_the_mentioned_user_where_they_may_read(world):
    target = world.targets[("public", None)]
    hidden = world.targets[("private", None)]
    first = world.ok("creator", "POST", f"/api/v1/runs/{target['run']}/comments", json={"body": "look @outsider"})
    world.ok("creator", "POST", f"/api/v1/runs/{hidden['run']}/comments", json={"body": "secret for @outsider"})
    second = world.ok(
        "creator", "POST", f"/api/v1/experiments/{target['experiment']}/comments", json={"body": "and @outsider again"}
    )
    found = world.ok("outsider", "GET", "/api/v1/mentions")["comments"]
    ids = [c["id"] for c in found]
    assert ids[:2] == [second["comment"]["id"], first["comment"]["id"]], found
    assert all("secret" not in c["body"] for c in found), "a private experiment's comment stays hidden"
    older = world.ok("outsider", "GET", "/api/v1/mentions", params={"before": ids[0], "limit": 1})["comments"]
    assert [c["id"] for c in older] == [first["comment"]["id"]]
    mine = world.ok("member", "GET", "/api/v1/mentions")["comments"]
    assert all("member" in c["mentions"] for c in mine), "only one's own mentions"
    assert world.call("anonymous", "GET", "/api/v1/mentions").status_code == 401
