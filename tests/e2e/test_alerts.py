"""Alerts: rules on an experiment call a real webhook receiver on loopback when a run fails, a
metric crosses a threshold; a failing webhook is retried and every attempt is logged."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import pytest
import requests

from e2e_util import is_mlflow

pytestmark = pytest.mark.skipif(is_mlflow(), reason="Cairn's alerts")


class Receiver:
    """A webhook receiver: records every POST; `/flaky` answers 500 to its first request."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        received = self.calls
        flaky = {"failed": False}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/flaky" and not flaky["failed"]:
                    flaky["failed"] = True
                    self.send_response(500)
                else:
                    received.append((self.path, body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, path: str, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [body for p, body in self.calls if p == path]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{path}: {self.calls}")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def _rule(api: str, experiment_id: str, **body) -> dict:
    answer = requests.post(f"{api}/api/v1/experiments/{experiment_id}/alerts", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["alert"]


def test_failed_runs_and_thresholds_reach_the_webhook(ctx, receiver):
    url, exp = ctx.url, ctx.experiment_id
    failed = _rule(url, exp, name="failures", condition="run_failed", webhook_url=f"{receiver.url}/ok")
    _rule(url, exp, name="finished", condition="run_finished", webhook_url=f"{receiver.url}/finished")
    high = _rule(
        url,
        exp,
        name="loss too high",
        condition="metric_above",
        key="loss",
        threshold=2.5,
        webhook_url=f"{receiver.url}/flaky",
        format="slack",
    )
    listed = requests.get(f"{url}/api/v1/experiments/{exp}/alerts", timeout=10).json()["alerts"]
    assert [a["name"] for a in listed] == ["failures", "finished", "loss too high"]
    assert listed[2]["key"] == "loss" and listed[2]["threshold"] == 2.5

    run = mlflow.start_run()
    mlflow.log_metric("loss", 1.0, step=0)
    mlflow.log_metric("loss", 3.0, step=1)
    time.sleep(0.3)
    mlflow.log_metric("loss", 4.0, step=2)  # the rule fired for this run already
    mlflow.end_run("FAILED")

    (body,) = receiver.wait("/ok", 1)
    assert body["run_id"] == run.info.run_id and body["condition"] == "run_failed"
    assert body["alert"] == "failures" and "failed" in body["text"]
    (slack,) = receiver.wait("/flaky", 1)
    assert slack["text"].startswith("[loss too high] loss = 3") and run.info.run_id in slack["text"]
    log = requests.get(f"{url}/api/v1/alerts/{high['id']}/deliveries", timeout=10).json()["deliveries"]
    assert [(d["attempt"], d["status"], d["delivered"]) for d in log] == [(2, 200, True), (1, 500, False)]
    time.sleep(1.0)
    assert len([p for p, _ in receiver.calls if p == "/flaky"]) == 1, "once per run"
    assert not [p for p, _ in receiver.calls if p == "/finished"], "the run failed, it did not finish"

    assert requests.delete(f"{url}/api/v1/alerts/{failed['id']}", timeout=10).status_code == 200
    assert requests.get(f"{url}/api/v1/alerts/{failed['id']}/deliveries", timeout=10).status_code == 404


def test_bad_rules_are_refused(ctx):
    url, exp = ctx.url, ctx.experiment_id
    cases = [
        ({"name": "x", "condition": "bogus", "webhook_url": "http://127.0.0.1:9/"}, 400),
        ({"name": "x", "condition": "run_failed", "webhook_url": "ftp://x"}, 400),
        ({"name": "x", "condition": "metric_above", "webhook_url": "http://127.0.0.1:9/"}, 400),
        ({"name": "x", "condition": "silent", "minutes": 0, "webhook_url": "http://127.0.0.1:9/"}, 400),
        ({"name": " ", "condition": "run_failed", "webhook_url": "http://127.0.0.1:9/"}, 400),
        ({"name": "x", "condition": "run_failed", "webhook_url": "http://127.0.0.1:9/", "format": "xml"}, 400),
    ]
    for body, status in cases:
        answer = requests.post(f"{url}/api/v1/experiments/{exp}/alerts", json=body, timeout=10)
        assert answer.status_code == status, (body, answer.text)
    missing = requests.post(
        f"{url}/api/v1/experiments/987654/alerts",
        json={"name": "x", "condition": "run_failed", "webhook_url": "http://127.0.0.1:9/"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert requests.get(f"{url}/api/v1/experiments/{exp}/alerts", timeout=10).json()["alerts"] == []
