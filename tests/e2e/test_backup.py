"""`cairn backup` and `cairn restore`: a backup taken while a client keeps logging, restored into
a new data folder, serves every run, param, tag, point and artifact byte the original held at the
moment of the backup (the run being written comes back as a whole prefix of its batches); bad
use is refused clearly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from e2e_util import cairn_bin, is_mlflow

pytestmark = pytest.mark.skipif(is_mlflow(), reason="`cairn backup` is Cairn's own command")

T0 = 1_780_000_000_000


def start(data: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [cairn_bin(), "server", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)],
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


def artifact_bytes(client: MlflowClient, run_id: str, into: Path, path: str | None = None) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            found.update(artifact_bytes(client, run_id, into, info.path))
        else:
            local = client.download_artifacts(run_id, info.path, str(into))
            found[info.path] = Path(local).read_bytes()
    return found


def test_backup_while_logging_then_restore(tmp_path):
    original, url = start(tmp_path / "a")
    restored = None
    try:
        client = MlflowClient(url)
        exp = client.create_experiment("backed-up", tags={"team": "vision"})
        shared = tmp_path / "shared.bin"
        shared.write_bytes(np.random.default_rng(3).bytes(200_000))
        finished = []
        for i in range(3):
            run_id = client.create_run(exp, run_name=f"run-{i}").info.run_id
            client.log_batch(run_id, params=[Param("lr", str(10**-i)), Param("i", str(i))], tags=[RunTag("k", "v")])
            for start_step in range(0, 2000, 1000):
                batch = [Metric("loss", 1.0 / (s + 1 + i), T0 + s, s) for s in range(start_step, start_step + 1000)]
                client.log_batch(run_id, metrics=batch)
            own = tmp_path / f"notes-{i}.txt"
            own.write_text(f"run {i}\n")
            client.log_artifact(run_id, str(own), "notes")
            client.log_artifact(run_id, str(shared), "weights")
            client.set_terminated(run_id)
            finished.append(run_id)

        live = client.create_run(exp, run_name="live").info.run_id
        done = threading.Event()
        logged: list[int] = []

        def writer() -> None:
            step = 0
            while not done.is_set():
                client.log_batch(live, metrics=[Metric("x", float(s), T0 + s, s) for s in range(step, step + 100)])
                step += 100
                logged.append(step)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while not logged or logged[-1] < 500:
                time.sleep(0.05)
            backup = cairn("backup", "--data", str(tmp_path / "a"), "--to", str(tmp_path / "bk"))
            assert backup.returncode == 0, backup.stderr
            assert "backed up" in backup.stdout and "4 runs" in backup.stdout, backup.stdout
        finally:
            done.set()
            thread.join()
        assert logged[-1] > 500

        restore = cairn("restore", "--from", str(tmp_path / "bk"), "--data", str(tmp_path / "c"))
        assert restore.returncode == 0, restore.stderr
        assert "restored" in restore.stdout, restore.stdout
        restored, url2 = start(tmp_path / "c")
        back = MlflowClient(url2)

        experiment = back.get_experiment_by_name("backed-up")
        assert experiment.experiment_id == exp and experiment.tags["team"] == "vision"
        for run_id in finished:
            a, b = client.get_run(run_id), back.get_run(run_id)
            assert (b.info.run_name, b.info.status, b.info.start_time, b.info.end_time) == (
                a.info.run_name,
                a.info.status,
                a.info.start_time,
                a.info.end_time,
            )
            assert b.data.params == a.data.params and b.data.tags == a.data.tags
            original_points = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, "loss")]
            assert [(m.step, m.timestamp, m.value) for m in back.get_metric_history(run_id, "loss")] == original_points
            assert len(original_points) == 2000
            assert artifact_bytes(back, run_id, tmp_path / "b" / run_id) == artifact_bytes(
                client, run_id, tmp_path / "a-art" / run_id
            )
        # The run being written comes back as whole batches up to the moment of the backup.
        steps = sorted(m.step for m in back.get_metric_history(live, "x"))
        assert len(steps) >= 500 and len(steps) % 100 == 0
        assert steps == list(range(len(steps)))
        assert len(steps) <= logged[-1]
    finally:
        stop(original)
        if restored is not None:
            stop(restored)


def test_bad_use_is_refused_clearly(tmp_path):
    assert "no Cairn database" in cairn("backup", "--data", str(tmp_path / "none"), "--to", str(tmp_path / "x")).stderr
    proc, _ = start(tmp_path / "a")
    stop(proc)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    refused = cairn("backup", "--data", str(tmp_path / "a"), "--to", str(tmp_path / "full"))
    assert refused.returncode != 0 and "not empty" in refused.stderr
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tmp_path / "a" / "cairn.db", partial / "cairn.db")
    refused = cairn("restore", "--from", str(partial), "--data", str(tmp_path / "new"))
    assert refused.returncode != 0 and "not a complete backup" in refused.stderr
    assert cairn("backup", "--data", str(tmp_path / "a"), "--to", str(tmp_path / "bk")).returncode == 0
    refused = cairn("restore", "--from", str(tmp_path / "bk"), "--data", str(tmp_path / "a"))
    assert refused.returncode != 0 and "holds a database already" in refused.stderr
