"""`cairn import mlflow`: data written by the official mlflow client into an MLflow file store
(`mlruns/`) and into a live MLflow tracking server (the full `mlflow` package's own server)
comes back from Cairn through the same client unchanged: experiments with their tags, runs
with their ids, names, status, times and lifecycle, params, tags, every point of every metric
history, dataset inputs, logged models with their ids, params, tags and status, and artifact
bytes. A second import writes nothing; after the source grows, only what is new arrives."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import ViewType

from e2e_util import cairn_bin, is_mlflow, unique_name

pytestmark = pytest.mark.skipif(is_mlflow(), reason="`cairn import` is Cairn's own command")

# Writes the source data with the mlflow client, in its own process (the client's fluent API
# keeps global state). argv: tracking URI, a name prefix. Prints what it made as JSON.
WRITER = r"""
import json, sys, tempfile, os
import numpy as np, pandas as pd, mlflow
from mlflow import MlflowClient

uri, prefix = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
out = {}
exp = client.create_experiment(prefix + "-main", tags={"team": "vision", "nested/key": "x"})
out["main"] = exp
mlflow.set_experiment(experiment_id=exp)

with mlflow.start_run(run_name="baseline") as run:
    mlflow.log_params({"lr": 0.01, "optimizer/name": "adam", "layers": "[64, 64]"})
    mlflow.set_tags({"stage": "dev", "mlflow.note.content": "first *try*"})
    t0 = 1_780_000_000_000
    batch = []
    for step in range(1500):
        batch.append(mlflow.entities.Metric("loss", 1.0 / (step + 1), t0 + step, step))
        if step % 10 == 0:
            batch.append(mlflow.entities.Metric("val/acc", step / 1500.0, t0 + step, step))
    # Two values at one step, NaN and infinities.
    batch.append(mlflow.entities.Metric("odd", 1.5, t0, 7))
    batch.append(mlflow.entities.Metric("odd", 2.5, t0 + 1, 7))
    batch.append(mlflow.entities.Metric("odd", float("nan"), t0 + 2, 8))
    batch.append(mlflow.entities.Metric("odd", float("inf"), t0 + 3, 9))
    batch.append(mlflow.entities.Metric("odd", float("-inf"), t0 + 4, 10))
    for i in range(0, len(batch), 1000):
        client.log_batch(run.info.run_id, metrics=batch[i:i + 1000])
    df = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) * 2.0})
    mlflow.log_input(mlflow.data.from_pandas(df, source="s3://bucket/train.csv", name="train"), context="training")
    mlflow.log_text("hello from the run\n", "notes/readme.txt")
    mlflow.log_dict({"a": [1, 2, 3]}, "config/params.json")
    blob = np.random.default_rng(7).bytes(300_000)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "weights.bin")
        open(p, "wb").write(blob)
        mlflow.log_artifact(p, "checkpoints")
    model = mlflow.initialize_logged_model(name="classifier", model_type="sklearn",
                                           tags={"flavor": "sk"}, params={"C": "0.5"},
                                           source_run_id=run.info.run_id)
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "MLmodel"), "w").write("flavors: {}\n")
        os.makedirs(os.path.join(d, "data"))
        open(os.path.join(d, "data", "model.pkl"), "wb").write(b"\x80\x04model-bytes")
        client.log_model_artifacts(model.model_id, d)
    mlflow.finalize_logged_model(model.model_id, "READY")
    out["model"] = model.model_id
    out["baseline"] = run.info.run_id

with mlflow.start_run(run_name="crashed") as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_metric("loss", 9.0, step=0)
    out["crashed"] = run.info.run_id
client.set_terminated(out["crashed"], status="FAILED", end_time=1_780_000_999_000)

with mlflow.start_run(run_name="thrown-away") as run:
    mlflow.log_metric("loss", 3.0, step=0)
    out["deleted_run"] = run.info.run_id
client.delete_run(out["deleted_run"])

gone = client.create_experiment(prefix + "-gone")
with mlflow.start_run(experiment_id=gone, run_name="in-deleted-experiment") as run:
    mlflow.log_param("p", "1")
    out["gone_run"] = run.info.run_id
client.delete_experiment(gone)
out["gone"] = gone
print(json.dumps(out))
"""

# Appends to the source: more points to one run, a new run. argv: tracking URI, run id, experiment id.
GROWER = r"""
import sys, mlflow
from mlflow import MlflowClient
uri, run_id, exp = sys.argv[1:4]
client = MlflowClient(uri)
for step in range(1500, 1600):
    client.log_metric(run_id, "loss", 1.0 / (step + 1), timestamp=1_780_000_000_000 + step, step=step)
run = client.create_run(exp, run_name="late")
client.log_param(run.info.run_id, "lr", "0.5")
client.set_terminated(run.info.run_id)
print(run.info.run_id)
"""


def write(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def run_import(server_url: str, source: str, *extra: str) -> str:
    result = subprocess.run(
        [cairn_bin(), "import", "mlflow", source, "--server", server_url, *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, float]]:
    points = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]
    return sorted(points, key=lambda p: (p[0], p[1], repr(p[2])))


def same_points(a: list[tuple[int, int, float]], b: list[tuple[int, int, float]]) -> bool:
    if len(a) != len(b):
        return False
    for (s1, t1, v1), (s2, t2, v2) in zip(a, b, strict=True):
        if (s1, t1) != (s2, t2):
            return False
        if not (v1 == v2 or (math.isnan(v1) and math.isnan(v2))):
            return False
    return True


def artifact_files(client: MlflowClient, run_id: str, path: str | None = None) -> dict[str, int]:
    found: dict[str, int] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            found.update(artifact_files(client, run_id, info.path))
        else:
            found[info.path] = info.file_size
    return found


def assert_experiment_imported(source: MlflowClient, cairn: MlflowClient, name: str, tmp: Path) -> None:
    src_exp = source.get_experiment_by_name(name)
    dst_exp = cairn.get_experiment_by_name(name)
    assert src_exp is not None and dst_exp is not None
    assert dst_exp.lifecycle_stage == src_exp.lifecycle_stage
    for key, value in src_exp.tags.items():
        assert dst_exp.tags.get(key) == value, key
    src_runs = source.search_runs([src_exp.experiment_id], run_view_type=ViewType.ALL)
    assert src_runs
    dst_ids = {r.info.run_id for r in cairn.search_runs([dst_exp.experiment_id], run_view_type=ViewType.ALL)}
    assert dst_ids == {r.info.run_id for r in src_runs}
    for src in src_runs:
        dst = cairn.get_run(src.info.run_id)
        assert dst.info.experiment_id == dst_exp.experiment_id
        for field in ("run_name", "status", "start_time", "end_time", "lifecycle_stage", "user_id"):
            assert getattr(dst.info, field) == getattr(src.info, field), field
        assert dst.data.params == src.data.params
        for key, value in src.data.tags.items():
            assert dst.data.tags.get(key) == value, key
        assert dst.data.tags["cairn.import.source"] == "mlflow"
        assert set(dst.data.metrics) == set(src.data.metrics)
        for key in src.data.metrics:
            assert same_points(history(cairn, src.info.run_id, key), history(source, src.info.run_id, key)), key
        src_inputs = sorted(
            (d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.schema, d.dataset.profile, repr(d.tags))
            for d in src.inputs.dataset_inputs
        )
        dst_inputs = sorted(
            (d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.schema, d.dataset.profile, repr(d.tags))
            for d in dst.inputs.dataset_inputs
        )
        assert dst_inputs == src_inputs
        files = artifact_files(source, src.info.run_id)
        assert artifact_files(cairn, src.info.run_id) == files
        for path in files:
            a = Path(source.download_artifacts(src.info.run_id, path, str(tmp / "src" / src.info.run_id)))
            b = Path(cairn.download_artifacts(src.info.run_id, path, str(tmp / "dst" / src.info.run_id)))
            assert a.read_bytes() == b.read_bytes(), path
    src_models = source.search_logged_models(experiment_ids=[src_exp.experiment_id])
    for model in src_models:
        got = cairn.get_logged_model(model.model_id)
        assert got.experiment_id == dst_exp.experiment_id
        assert (got.name, got.model_type, got.source_run_id, got.status) == (
            model.name,
            model.model_type,
            model.source_run_id,
            model.status,
        )
        assert got.params == model.params
        for key, value in model.tags.items():
            assert got.tags.get(key) == value, key
        src_files = {f.path: f.file_size for f in source.list_logged_model_artifacts(model.model_id)}
        dst_files = {f.path: f.file_size for f in cairn.list_logged_model_artifacts(model.model_id)}
        assert dst_files == src_files
        sub = {f.path: f.file_size for f in cairn.list_logged_model_artifacts(model.model_id, "data")}
        assert sub == {f.path: f.file_size for f in source.list_logged_model_artifacts(model.model_id, "data")}


def counts_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("imported "))


def check_source(server_url: str, source_uri: str, import_source: str, tmp: Path, env: dict[str, str]) -> None:
    prefix = unique_name("imp")
    made = json.loads(write(WRITER, source_uri, prefix, env=env))
    source = MlflowClient(source_uri)
    cairn = MlflowClient(server_url)

    first = run_import(server_url, import_source, "--experiment", f"{prefix}-main", "--experiment", f"{prefix}-gone")
    assert "4 runs (4 imported, 0 unchanged" in counts_line(first), first
    assert_experiment_imported(source, cairn, f"{prefix}-main", tmp)
    assert_experiment_imported(source, cairn, f"{prefix}-gone", tmp)
    assert cairn.get_experiment_by_name(f"{prefix}-gone").lifecycle_stage == "deleted"
    assert cairn.get_run(made["deleted_run"]).info.lifecycle_stage == "deleted"
    assert cairn.get_run(made["crashed"]).info.status == "FAILED"
    model = cairn.get_logged_model(made["model"])
    assert model.status.to_proto() == source.get_logged_model(made["model"]).status.to_proto()
    baseline_points = len(cairn.get_metric_history(made["baseline"], "loss"))
    assert baseline_points == 1500

    again = run_import(server_url, import_source, "--experiment", f"{prefix}-main", "--experiment", f"{prefix}-gone")
    assert "4 runs (0 imported, 4 unchanged" in counts_line(again), again
    assert "0 params, 0 tags, 0 metric points" in again, again
    assert len(cairn.get_metric_history(made["baseline"], "loss")) == 1500

    late = write(GROWER, source_uri, made["baseline"], made["main"], env=env)
    grown = run_import(server_url, import_source, "--experiment", f"{prefix}-main")
    assert "4 runs (2 imported, 2 unchanged" in counts_line(grown), grown
    assert same_points(history(cairn, made["baseline"], "loss"), history(source, made["baseline"], "loss"))
    assert len(cairn.get_metric_history(made["baseline"], "loss")) == 1600
    assert cairn.get_run(late).data.params == {"lr": "0.5"}
    assert_experiment_imported(source, cairn, f"{prefix}-main", tmp)


def test_import_from_a_file_store(server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    uri = store.as_uri()
    check_source(server_url, uri, str(store), tmp_path, {"MLFLOW_ALLOW_FILE_STORE": "true"})


def test_import_without_artifacts_then_with_them(server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    prefix = unique_name("imp")
    made = json.loads(write(WRITER, store.as_uri(), prefix, env={"MLFLOW_ALLOW_FILE_STORE": "true"}))
    cairn = MlflowClient(server_url)
    out = run_import(server_url, str(store), "--experiment", f"{prefix}-main", "--no-artifacts")
    assert "0 artifact files" in out, out
    assert artifact_files(cairn, made["baseline"]) == {}
    out = run_import(server_url, f"file://{store}", "--experiment", f"{prefix}-main")
    assert "3 runs (3 imported" in counts_line(out), out
    assert artifact_files(cairn, made["baseline"]) == artifact_files(MlflowClient(store.as_uri()), made["baseline"])
    assert len(cairn.get_metric_history(made["baseline"], "loss")) == 1500


def test_bad_sources_are_refused_clearly(server_url, tmp_path):
    def refused(source: str, *extra: str) -> str:
        result = subprocess.run(
            [cairn_bin(), "import", "mlflow", source, "--server", server_url, *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        return result.stderr

    assert "no MLflow file store" in refused(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert "not an MLflow file store" in refused(str(tmp_path / "empty"))
    exp = tmp_path / "store" / "1"
    exp.mkdir(parents=True)
    (exp / "meta.yaml").write_text("name: x\nexperiment_id: '1'\n")
    assert "no experiment named" in refused(str(tmp_path / "store"), "--experiment", "nope")


def test_put_logged_model_keeps_the_id_and_is_idempotent(server_url):
    cairn = MlflowClient(server_url)
    exp = cairn.create_experiment(unique_name("models"))
    other = cairn.create_experiment(unique_name("models"))
    model_id = "m-" + "ab" * 16
    url = f"{server_url}/api/v1/logged-models/{model_id}"
    body = {
        "experiment_id": exp,
        "name": "net",
        "creation_timestamp": 1_780_000_000_000,
        "params": [{"key": "a", "value": "1"}],
    }
    first = requests.put(url, json=body, timeout=30)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    again = requests.put(url, json={**body, "name": "other"}, timeout=30)
    assert again.status_code == 200 and again.json()["created"] is False
    model = cairn.get_logged_model(model_id)
    assert (model.name, model.creation_timestamp, model.params) == ("net", 1_780_000_000_000, {"a": "1"})
    assert requests.put(url, json={**body, "experiment_id": other}, timeout=30).status_code == 409
    bad = requests.put(f"{server_url}/api/v1/logged-models/-bad", json=body, timeout=30)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert requests.put(url, json={"name": "x"}, timeout=30).status_code == 400
    missing = requests.put(
        f"{server_url}/api/v1/logged-models/m-{'cd' * 16}", json={"experiment_id": "987654"}, timeout=30
    )
    assert missing.status_code == 404


@pytest.fixture(scope="module")
def mlflow_server():
    """The full mlflow package's own tracking server (SQLite, proxied artifacts)."""
    binary = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    assert binary, "the test venv has no mlflow server (install tests/requirements.txt)"
    tmp = Path(tempfile.mkdtemp(prefix="mlflow-src-"))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [
            binary,
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp}/mlflow.db",
            "--artifacts-destination",
            str(tmp / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        log.close()
        pytest.fail("mlflow server did not start:\n" + (tmp / "server.log").read_text()[-3000:])
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def test_import_from_a_live_mlflow_server(server_url, mlflow_server, tmp_path):
    check_source(server_url, mlflow_server, mlflow_server, tmp_path, {})
