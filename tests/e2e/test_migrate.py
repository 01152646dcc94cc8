"""`cairn migrate`: an embedded install written by the official mlflow client, moved into a fresh
PostgreSQL database (a throwaway cluster, ``tests/pg_cluster.py``), serves every run, param, tag,
metric point (NaN and infinities included) and artifact byte through a server started with
``--store URL --data <same folder>``, and takes new writes; the copy prints one verification line
per table, never a password, and a second copy into the filled database is refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pg_cluster
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from e2e_util import cairn_bin, is_mlflow

pytestmark = pytest.mark.skipif(is_mlflow(), reason="`cairn migrate` is Cairn's own command")

T0 = 1_780_000_000_000


def start(data: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [cairn_bin(), "server", "--host", "127.0.0.1", "--port", str(port), "--data", str(data), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("cairn server did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def cairn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cairn_bin(), *args], capture_output=True, text=True, timeout=300)


def with_password(url: str, password: str) -> str:
    """The cluster trusts local connections, so a password in the URL is accepted and ignored."""
    return url.replace("postgres@", f"postgres:{password}@", 1)


def artifact_bytes(client: MlflowClient, run_id: str, into: Path, path: str | None = None) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            found.update(artifact_bytes(client, run_id, into, info.path))
        else:
            local = client.download_artifacts(run_id, info.path, str(into))
            found[info.path] = Path(local).read_bytes()
    return found


def points(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, str]]:
    """A metric's history, values as their exact text (NaN compares equal to itself)."""
    return [(m.step, m.timestamp, repr(m.value)) for m in client.get_metric_history(run_id, key)]


def test_embedded_install_moves_to_postgres(tmp_path):
    data = tmp_path / "data"
    embedded, url = start(data)
    try:
        client = MlflowClient(url)
        exp = client.create_experiment("moving", tags={"team": "vision"})
        weights = tmp_path / "weights.bin"
        weights.write_bytes(np.random.default_rng(7).bytes(300_000))
        runs = []
        for i in range(3):
            run_id = client.create_run(exp, run_name=f"run-{i}", tags={"stage": "train"}).info.run_id
            client.log_batch(
                run_id,
                params=[Param("lr", str(10**-i)), Param("layers", str(i + 2))],
                tags=[RunTag("note", "tab\there\nnew line")],
            )
            for first in range(0, 3000, 1000):
                batch = [Metric("loss", 1.0 / (s + 1 + i), T0 + s, s) for s in range(first, first + 1000)]
                client.log_batch(run_id, metrics=batch)
            client.log_batch(
                run_id,
                metrics=[
                    Metric("odd", float("nan"), T0, 0),
                    Metric("odd", float("inf"), T0, 1),
                    Metric("odd", float("-inf"), T0, 2),
                ],
            )
            notes = tmp_path / f"notes-{i}.txt"
            notes.write_text(f"run {i}\n")
            client.log_artifact(run_id, str(notes), "notes")
            client.log_artifact(run_id, str(weights), "model")
            runs.append(run_id)
        client.set_terminated(runs[0])
        client.delete_run(runs[2])

        expected = {}
        for run_id in runs:
            run = client.get_run(run_id)
            expected[run_id] = {
                "info": (run.info.run_name, run.info.status, run.info.lifecycle_stage, run.info.end_time),
                "params": run.data.params,
                "tags": run.data.tags,
                "loss": points(client, run_id, "loss"),
                "odd": points(client, run_id, "odd"),
                "files": artifact_bytes(client, run_id, tmp_path / "before" / run_id),
            }
    finally:
        stop(embedded)
    assert len(expected[runs[1]]["loss"]) == 3000
    assert expected[runs[1]]["odd"] == [(0, T0, "nan"), (1, T0, "inf"), (2, T0, "-inf")]

    cluster = pg_cluster.shared()
    database = cluster.fresh_database()
    moved = cairn("migrate", "--from", str(data), "--to", with_password(database, "s3cr3t-pw"))
    assert moved.returncode == 0, moved.stderr
    assert "s3cr3t-pw" not in moved.stdout + moved.stderr
    verified = [line for line in moved.stdout.splitlines() if line.startswith("verified ")]
    assert verified and all(line.endswith(" ok") for line in verified), moved.stdout
    assert any(line.split()[1:3] == ["runs", "3"] for line in verified), verified
    assert "copied runs: 3 rows" in moved.stderr, moved.stderr
    assert f"--store 'postgres://[REDACTED]@127.0.0.1:{cluster.port}/" in moved.stdout, moved.stdout
    assert f"--data {data}" in moved.stdout, moved.stdout

    # The same install copied again, as JSON, into another empty database.
    other = cluster.fresh_database()
    as_json = cairn("migrate", "--from", str(data), "--to", other, "--json")
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout)
    tables = {t["name"]: t for t in summary["tables"]}
    assert tables["runs"]["rows"] == 3 and tables["params"]["rows"] == 6
    assert all(t["verified"] for t in summary["tables"])
    assert summary["rows"] == sum(t["rows"] for t in summary["tables"])
    assert summary["metric_bytes"] > 0 and summary["table_count"] == len(summary["tables"])

    # A filled database is refused, and says what it holds.
    again = cairn("migrate", "--from", str(data), "--to", database)
    assert again.returncode != 0
    assert "not empty" in again.stderr and "runs (3 rows)" in again.stderr, again.stderr

    served, url = start(data, "--store", database)
    try:
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("moving")
        assert experiment.experiment_id == exp and experiment.tags["team"] == "vision"
        for run_id in runs:
            run = client.get_run(run_id)
            want = expected[run_id]
            assert (run.info.run_name, run.info.status, run.info.lifecycle_stage, run.info.end_time) == want["info"]
            assert run.data.params == want["params"] and run.data.tags == want["tags"]
            assert points(client, run_id, "loss") == want["loss"]
            assert points(client, run_id, "odd") == want["odd"]
            assert artifact_bytes(client, run_id, tmp_path / "after" / run_id) == want["files"]
        assert client.get_run(runs[1]).data.metrics["odd"] == float("-inf")
        active = client.search_runs([exp], order_by=["params.layers ASC"])
        assert [r.info.run_id for r in active] == runs[:2]

        # New writes land next to the moved data.
        new = client.create_run(exp, run_name="after-move").info.run_id
        client.log_batch(new, metrics=[Metric("loss", 0.5, T0, 0)], params=[Param("lr", "0.5")])
        extra = tmp_path / "extra.txt"
        extra.write_text("written on postgres\n")
        client.log_artifact(new, str(extra))
        client.log_artifact(new, str(weights), "model")
        assert client.get_run(new).data.params == {"lr": "0.5"}
        assert points(client, new, "loss") == [(0, T0, "0.5")]
        assert artifact_bytes(client, new, tmp_path / "new") == {
            "extra.txt": b"written on postgres\n",
            "model/weights.bin": weights.read_bytes(),
        }
        later = client.create_experiment("after-move")
        assert int(later) > int(exp)
    finally:
        stop(served)
