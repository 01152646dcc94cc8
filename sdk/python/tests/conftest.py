"""Fixtures: a real ``cairn server`` (``CAIRN_BIN``, default ``target/debug/cairn``) on a free
loopback port — on a throwaway PostgreSQL database with ``CAIRN_TEST_STORE=postgres`` — and a fresh
SDK folder per test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))
import pg_cluster  # noqa: E402


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CairnServer:
    """A server process that tests may kill and start again on the same port and data."""

    def __init__(self, root: Path, extra: list[str] | None = None, env: dict[str, str] | None = None):
        self.extra = extra or []
        self.env = env
        self.binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "debug" / "cairn"))
        if not Path(self.binary).exists():
            pytest.exit(f"CAIRN_BIN={self.binary} does not exist (cargo build -p cairn first)", 2)
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "server.log"
        # With CAIRN_TEST_STORE=postgres: a fresh database, kept across restarts like --data.
        self.store = pg_cluster.store_args()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "server", "--host", "127.0.0.1", "--port", str(self.port)]
                + ["--data", str(self.data), *self.store, *self.extra],
                stdout=out,
                stderr=out,
                start_new_session=True,
                env=None if self.env is None else {**os.environ, **self.env},
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cairn server exited: {self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("cairn server did not become healthy")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush (what a crash or an OOM kill does)."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None


@pytest.fixture(scope="session")
def server():
    root = Path(tempfile.mkdtemp(prefix="cairn-sdk-"))
    srv = CairnServer(root)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def own_server(tmp_path):
    """A server of the test's own, free to be killed and restarted."""
    srv = CairnServer(tmp_path)
    srv.start()
    yield srv
    srv.stop()


class S3Server:
    """s3s-fs, the S3-compatible server the Rust tests use (``CAIRN_S3S_FS``, else where
    ``scripts/lib.sh``'s ``ensure_s3s_fs`` installs it), on a free loopback port."""

    ACCESS, SECRET, BUCKET = "sdk-access", "sdk-secret", "cairn"

    def __init__(self, root: Path):
        binary = os.environ.get("CAIRN_S3S_FS") or os.path.expanduser("~/.cache/cairn/s3s-fs-0.14.1/bin/s3s-fs")
        if not Path(binary).is_file():
            pytest.exit(f"s3s-fs not found at {binary}: run `source scripts/lib.sh && ensure_s3s_fs`", 2)
        self.data = root / "s3"
        (self.data / self.BUCKET).mkdir(parents=True)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port), "--access-key", self.ACCESS]
            + ["--secret-key", self.SECRET, str(self.data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("s3s-fs did not start") from None
                time.sleep(0.02)

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.ACCESS,
            "AWS_SECRET_ACCESS_KEY": self.SECRET,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=15)


@pytest.fixture
def s3_server(tmp_path):
    """A Cairn server of the test's own whose artifacts are in S3 (a real s3s-fs); yields
    (server, s3)."""
    s3 = S3Server(tmp_path)
    srv = CairnServer(tmp_path, extra=["--artifacts", f"s3://{S3Server.BUCKET}/sdk"], env=s3.env())
    try:
        srv.start()
        yield srv, s3
    finally:
        srv.stop()
        s3.stop()


@pytest.fixture
def sdk_env(tmp_path, monkeypatch, server):
    """Points the SDK at the shared server with its own folder, a fresh project, no system
    metrics and no environment capture (tests that want them turn them on)."""
    import cairn
    from cairn import runs

    monkeypatch.setenv("CAIRN_URL", server.url)
    monkeypatch.setenv("CAIRN_DIR", str(tmp_path / "cairn"))
    monkeypatch.setenv("CAIRN_PROJECT", f"p-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("CAIRN_SYSTEM_METRICS", "0")
    monkeypatch.setenv("CAIRN_CAPTURE_ENV", "0")
    monkeypatch.delenv("CAIRN_MODE", raising=False)
    monkeypatch.delenv("CAIRN_TOKEN", raising=False)
    yield tmp_path / "cairn"
    current = runs.current()
    if current is not None:
        current.finish(timeout=5)
    assert cairn.active_run() is None
