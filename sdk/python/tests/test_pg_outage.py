"""PostgreSQL stopped and started again under a running server: the server refuses with 503 and
Retry-After meanwhile, the SDK spools and retries, and every point arrives exactly once once the
database is back, with no restart of the server.

The test runs its own PostgreSQL cluster (``tests/pg_cluster.py``), so that the outage touches no
other test's server, and skips only when the machine has no PostgreSQL binaries."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
import uuid
from email.message import Message
from pathlib import Path

import pg_cluster
import pytest
from conftest import CairnServer

import cairn
from cairn import Client

KEYS = [f"m{i}" for i in range(5)]


def postgres_installed() -> bool:
    return bool(os.environ.get("CAIRN_PG_BIN")) or any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


@pytest.fixture
def cluster():
    if not postgres_installed():
        pytest.skip("no PostgreSQL binaries (/usr/lib/postgresql/*/bin or CAIRN_PG_BIN)")
    own = pg_cluster.Cluster()
    yield own
    own.remove()


@pytest.fixture
def pg_server(tmp_path, cluster):
    root = tmp_path / "server"
    root.mkdir()
    srv = CairnServer(root)
    srv.store = ["--store", cluster.fresh_database()]
    srv.start()
    yield srv
    srv.stop()


def raw(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, Message]:
    """(status, headers) of one request, without the SDK."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_postgres_restart_is_ridden_out_without_losing_a_point(pg_server, cluster, sdk_env, caplog):
    run = cairn.init(url=pg_server.url)
    step = 0

    def log_for(seconds: float) -> None:
        nonlocal step
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            run.log({k: float(step) for k in KEYS})
            step += 1
            time.sleep(0.002)

    with caplog.at_level(logging.WARNING, logger="cairn"):
        log_for(1.0)
        cluster.stop("fast")
        write = raw(
            "POST",
            f"{pg_server.url}/api/v1/runs/{run.id}/metrics",
            {"metrics": [{"key": "probe", "steps": [0], "values": [1.0], "timestamp": 1}]},
            {"Idempotency-Key": uuid.uuid4().hex},
        )
        read = raw("GET", f"{pg_server.url}/api/v1/runs/{run.id}")
        log_for(2.0)
        cluster.start()
        log_for(1.0)
        assert run.finish(timeout=60) is True

    for status, headers in (write, read):
        assert status == 503, (status, headers)
        assert int(headers.get("Retry-After", "0")) >= 1, dict(headers)
    assert any("spooling and retrying" in r.getMessage() for r in caplog.records), "the SDK saw the outage"
    assert pg_server.proc is not None and pg_server.proc.poll() is None, "the server was not restarted"
    client = Client(pg_server.url)
    for key in KEYS:
        history = client.get_metric_history(run.id, key)
        assert history.steps == list(range(step)), f"{key}: {len(history)} of {step} points"
        assert history.values == [float(s) for s in range(step)]
    assert client.get_run(run.id).status == "FINISHED"
    assert "probe" not in client.get_run(run.id).metrics, "a refused write stored nothing"
