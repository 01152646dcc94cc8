"""Operating a server: `GET /metrics` in Prometheus' text format counts requests by route and
the points the official client logged, `GET /ready` answers once the store does, and
`--log-format json` writes one JSON object per log line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric

from e2e_util import cairn_bin, is_mlflow

pytestmark = pytest.mark.skipif(is_mlflow(), reason="Cairn's own operations routes")


def test_metrics_ready_and_json_logs(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [cairn_bin(), "server", "--port", str(port), "--data", str(tmp_path / "data"), "--log-format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        assert requests.get(f"{url}/ready", timeout=5).text == "ready"
        client = MlflowClient(url)
        run_id = client.create_run(client.create_experiment("ops")).info.run_id
        client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (s + 1), 1_780_000_000_000, s) for s in range(250)])
        client.get_metric_history(run_id, "loss")

        scrape = requests.get(f"{url}/metrics", timeout=5)
        assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {}
        for line in scrape.text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        assert samples["cairn_ingested_points_total"] == 250
        batch = 'method="POST",route="/api/2.0/mlflow/runs/log-batch"'
        assert samples[f'cairn_http_requests_total{{{batch},status="200"}}'] == 1
        assert samples[f"cairn_http_request_duration_seconds_count{{{batch}}}"] == 1
        assert samples[f'cairn_http_request_duration_seconds_bucket{{{batch},le="+Inf"}}'] == 1
        assert samples["cairn_uptime_seconds"] > 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    for line in lines:
        entry = json.loads(line)
        assert {"timestamp", "level", "target"} <= set(entry), entry
    assert any(json.loads(line)["fields"].get("message", "").startswith("server stopped") for line in lines), lines[-3:]


def test_a_config_file_sets_what_flags_leave_unset(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "cairn.toml"
    config.write_text(f'port = {port}\ndata = "{tmp_path / "from-config"}"\nlog_format = "json"\nlog = "warn"\n')
    proc = subprocess.Popen(
        [cairn_bin(), "server", "--config", str(config), "--log", "info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        for _ in range(600):
            try:
                if requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).text == "OK"
        assert (tmp_path / "from-config" / "cairn.db").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    # --log info (a flag) won over the file's warn: info lines, as JSON (from the file).
    levels = {json.loads(line)["level"] for line in stderr.splitlines() if line.strip()}
    assert "INFO" in levels, stderr[:500]

    config.write_text("prot = 5000\n")
    bad = subprocess.run([cairn_bin(), "server", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "prot" in bad.stderr and "unknown field" in bad.stderr, bad.stderr
