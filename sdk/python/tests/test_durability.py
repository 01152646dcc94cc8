"""Nothing logged is lost or applied twice: server crashes, unreachable servers, killed
training processes, offline runs, repeated syncs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cairn
from cairn import Client

OUTAGE_S = float(os.environ.get("CAIRN_TEST_OUTAGE_S", "30"))
KEYS = [f"m{i}" for i in range(10)]


def sync(directory: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "sync", str(directory), "--url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_exactly_once(client: Client, run_id: str, calls: int) -> None:
    for key in KEYS:
        history = client.get_metric_history(run_id, key)
        assert history.steps == list(range(calls)), f"{key}: {len(history)} points"
        assert history.values == [float(s) for s in range(calls)]


def log_step(run: cairn.Run, step: int) -> None:
    run.log({k: float(step) for k in KEYS})


def test_server_killed_mid_run_every_point_arrives_once(own_server, sdk_env):
    run = cairn.init(url=own_server.url)
    step = 0
    slowest = 0.0

    def log_for(seconds: float) -> None:
        nonlocal step, slowest
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            log_step(run, step)
            slowest = max(slowest, time.perf_counter() - started)
            step += 1
            time.sleep(0.001)

    log_for(2.0)
    own_server.kill()
    log_for(OUTAGE_S)
    own_server.start()
    log_for(2.0)
    assert run.finish(timeout=120) is True
    client = Client(own_server.url)
    assert_exactly_once(client, run.id, step)
    assert client.get_run(run.id).status == "FINISHED"
    print(f"{step} steps logged across a {OUTAGE_S:.0f} s outage; slowest log() {slowest * 1e3:.2f} ms")


def test_unreachable_at_init_and_finish_then_cairn_sync(own_server, sdk_env):
    own_server.stop()
    run = cairn.init(url=own_server.url, config={"lr": 0.5})
    for step in range(500):
        log_step(run, step)
    started = time.monotonic()
    assert run.finish(timeout=1.0) is False
    assert time.monotonic() - started < 10, "finish() waits a bounded time"
    folder = sdk_env / "runs" / run.id
    assert folder.exists()

    own_server.start()
    first = sync(folder, own_server.url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "synced" in first.stdout
    client = Client(own_server.url)
    assert_exactly_once(client, run.id, 500)
    stored = client.get_run(run.id)
    assert (stored.status, stored.params) == ("FINISHED", {"lr": "0.5"})


def test_next_process_delivers_what_an_earlier_one_left(own_server, sdk_env):
    own_server.stop()
    run = cairn.init(url=own_server.url)
    for step in range(300):
        log_step(run, step)
    assert run.finish(timeout=0.5) is False
    own_server.start()
    later = cairn.init(url=own_server.url)
    client = Client(own_server.url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.metric_summaries(run.id).get("m0", {}).get("count") == 300:
                break
        except cairn.NotFoundError:
            pass
        time.sleep(0.1)
    later.finish()
    assert_exactly_once(client, run.id, 300)
    deadline = time.monotonic() + 10
    while (sdk_env / "runs" / run.id).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (sdk_env / "runs" / run.id).exists(), "a delivered spool is removed"


def test_offline_run_syncs_exactly_once(server, sdk_env, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    run = cairn.init(mode="offline", config={"seed": 7}, tags=["offline"])
    for step in range(1000):
        log_step(run, step)
    run.log_artifact(tmp_path / "weights.bin", "model")
    run.finish()
    folder = sdk_env / "runs" / run.id
    client = Client(server.url)
    with pytest.raises(cairn.NotFoundError):
        client.get_run(run.id)

    first = sync(sdk_env, server.url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{run.id}: synced" in first.stdout
    assert_exactly_once(client, run.id, 1000)
    stored = client.get_run(run.id)
    assert (stored.status, stored.params["seed"]) == ("FINISHED", "7")
    down = client.download_artifacts(run.id, "model/weights.bin", tmp_path / "down")
    assert down.read_bytes() == b"\x00\x01" * 1000

    second = sync(sdk_env, server.url)
    assert second.returncode == 0 and "0 records sent" in second.stdout
    # Lose the delivery record (a crash between sending and noting it): replaying everything
    # still applies nothing twice.
    (folder / "spool" / "ack").unlink()
    third = sync(folder, server.url)
    assert third.returncode == 0, third.stdout + third.stderr
    assert_exactly_once(client, run.id, 1000)
    assert client.get_run(run.id).params == {"seed": "7"}


TRAINER = textwrap.dedent(
    """
    import os, signal, time, sys
    import cairn
    run = cairn.init(url=sys.argv[1], dir=sys.argv[2], project=sys.argv[3])
    print(run.id, flush=True)
    for step in range(2000):
        run.log({f"m{i}": float(step) for i in range(10)})
    time.sleep(0.5)  # the spooler has written everything to disk
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_killed_training_process_loses_nothing(own_server, sdk_env, tmp_path):
    own_server.stop()  # nothing is delivered before the trainer dies
    script = tmp_path / "train.py"
    script.write_text(TRAINER)
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, str(script), own_server.url, str(sdk_env), "killed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = proc.stdout.split()[0]
    own_server.start()
    result = sync(sdk_env, own_server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    client = Client(own_server.url)
    assert_exactly_once(client, run_id, 2000)
    assert client.get_run(run_id).status == "RUNNING"


def test_a_rejected_record_is_kept_and_reported(server, sdk_env):
    run = cairn.init()
    run.log({"ok": 1.0})
    # A record the server refuses (param already set with another value on the server).
    Client(server.url).log_batch(run.id, params={"fixed": "server"})
    run.config["fixed"] = "client"
    assert run.finish() is False
    folder = sdk_env / "runs" / run.id
    lines = (folder / "rejected.log").read_text().splitlines()
    assert json.loads(lines[0])["header"]["op"] == "batch"
    assert Client(server.url).get_run(run.id).metrics == {"ok": 1.0}


def test_a_script_that_crashes_leaves_a_failed_run_and_one_that_ends_a_finished_one(server, sdk_env, tmp_path):
    ids = {}
    for name, ending in (("crash", "raise SystemError('boom')"), ("clean", "pass")):
        script = tmp_path / f"{name}.py"
        script.write_text(
            f"import cairn\nrun = cairn.init()\nprint(run.id, flush=True)\nrun.log({{'x': 1.0}})\n{ending}\n"
        )
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        assert (proc.returncode != 0) == (name == "crash"), proc.stderr
        ids[name] = proc.stdout.split()[0]
    client = Client(server.url)
    assert client.get_run(ids["crash"]).status == "FAILED"
    assert client.get_run(ids["clean"]).status == "FINISHED"
    assert client.get_run(ids["crash"]).metrics == {"x": 1.0}
