"""End-to-end fixtures: start a real tracking server and point the official mlflow client at it.

Server under test is chosen by ``E2E_SERVER``:

* ``cairn`` (default): ``$CAIRN_BIN server --host 127.0.0.1 --port P --data DIR``
  (``CAIRN_BIN`` defaults to ``<repo>/target/debug/cairn``); with ``CAIRN_TEST_STORE=postgres``
  also ``--store`` on a fresh database of a throwaway PostgreSQL cluster (``tests/pg_cluster.py``).
* ``mlflow``: MLflow's own server, ``$MLFLOW_SERVER_BIN server --backend-store-uri sqlite:///...``
  (``MLFLOW_SERVER_BIN`` is an ``mlflow`` executable from a venv with the full ``mlflow`` package).
  Used to check that every test expresses real MLflow behaviour.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pg_cluster  # noqa: E402

# Fail fast: a 5xx must not be retried for minutes. These are read by the client at call time.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
# Keep the client quiet and offline-friendly.
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MPLBACKEND", "Agg")

import mlflow  # noqa: E402
import requests  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from e2e_util import SERVER_KIND, Ctx, unique_name  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = float(os.environ.get("E2E_STARTUP_TIMEOUT", "120"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command(port: int, data_dir: Path) -> list[str]:
    if SERVER_KIND == "cairn":
        binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "debug" / "cairn"))
        if not Path(binary).exists():
            pytest.exit(f"E2E_SERVER=cairn but CAIRN_BIN={binary} does not exist (cargo build first)", 2)
        return [
            binary,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            str(data_dir),
            *pg_cluster.store_args(),
        ]
    if SERVER_KIND == "mlflow":
        binary = os.environ.get("MLFLOW_SERVER_BIN") or shutil.which("mlflow")
        if not binary or not Path(binary).exists():
            pytest.exit("E2E_SERVER=mlflow needs MLFLOW_SERVER_BIN (an mlflow executable with the full package)", 2)
        return [
            binary,
            "server",
            "--backend-store-uri",
            f"sqlite:///{data_dir}/mlflow.db",
            "--artifacts-destination",
            str(data_dir / "art"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # One worker: faster start on small machines and no SQLite writer contention.
            "--workers",
            os.environ.get("E2E_MLFLOW_WORKERS", "1"),
        ]
    pytest.exit(f"unknown E2E_SERVER={SERVER_KIND!r} (expected 'cairn' or 'mlflow')", 2)
    raise AssertionError("unreachable")


def _say(config, text: str) -> None:
    """Write past pytest's output capture (session fixtures' prints are otherwise swallowed)."""
    capman = config.pluginmanager.get_plugin("capturemanager") if config else None
    reporter = config.pluginmanager.get_plugin("terminalreporter") if config else None
    if capman is not None and reporter is not None:
        with capman.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(text)
    else:
        print(text)


def _dump(path: Path, label: str, config=None) -> None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    _say(config, f"----- {SERVER_KIND} server {label} ({path}, last 8000 chars) -----\n{text[-8000:]}")


@pytest.fixture(scope="session")
def server_url(request):
    """Start the server under test once per session; yield its base URL."""
    tmp = Path(tempfile.mkdtemp(prefix=f"e2e-{SERVER_KIND}-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    out_path, err_path = tmp / "stdout.log", tmp / "stderr.log"
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    if SERVER_KIND == "mlflow":
        # The GenAI job runner (huey consumers) is irrelevant here and slows start/stop a lot.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            _server_command(port, data_dir),
            stdout=out,
            stderr=err,
            cwd=str(tmp),
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    ready = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                ready = True
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
    if not ready:
        code = proc.poll()
        if code is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _dump(out_path, "stdout", request.config)
        _dump(err_path, "stderr", request.config)
        pytest.exit(f"{SERVER_KIND} server did not become healthy at {url} (exit code {code})", 2)

    yield url

    failed = request.session.testsfailed > 0
    # Terminate the whole process group (mlflow server spawns uvicorn/gunicorn workers).
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    grace = 30 if SERVER_KIND == "mlflow" else 10
    try:
        code = proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        _say(request.config, f"{SERVER_KIND} server ignored SIGTERM for {grace}s; killed")
        failed = True
    else:
        if code not in (0, -signal.SIGTERM) and SERVER_KIND == "cairn":
            _say(request.config, f"cairn server exited with code {code} after SIGTERM")
            failed = True
    try:  # stray children (mlflow's uvicorn workers) of the group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if failed or os.environ.get("E2E_SHOW_SERVER_LOG"):
        _dump(out_path, "stdout", request.config)
        _dump(err_path, "stderr", request.config)
    if not os.environ.get("E2E_KEEP_DATA"):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        _say(request.config, f"server data kept in {tmp}")


@pytest.fixture
def ctx(server_url, monkeypatch, request):
    """Point the client at the server and give the test its own fresh, active experiment."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_url)
    mlflow.set_tracking_uri(server_url)
    name = unique_name(request.node.name[:60])
    exp = mlflow.set_experiment(name)
    client = MlflowClient(tracking_uri=server_url)
    yield Ctx(url=server_url, client=client, experiment_id=exp.experiment_id, experiment_name=name)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    try:
        mlflow.flush_async_logging()
    except Exception:  # noqa: BLE001 - best effort cleanup
        pass


@pytest.fixture
def api(ctx) -> str:
    return ctx.api
