"""Comments on runs and experiments over the native API: markdown bodies, @mentions, edits."""

from __future__ import annotations

import time

import mlflow
import pytest
import requests

from e2e_util import is_mlflow

pytestmark = pytest.mark.skipif(is_mlflow(), reason="Cairn's comments")


def test_comments_on_a_run_and_an_experiment(ctx):
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5)
    url = f"{ctx.url}/api/v1/runs/{run.info.run_id}/comments"
    made = requests.post(url, json={"body": "Diverged after **step 40**, cc @ada and @bob."}, timeout=10)
    assert made.status_code == 201, made.text
    comment = made.json()["comment"]
    assert comment["mentions"] == ["ada", "bob"] and comment["author"] is None and comment["edited"] is None
    assert comment["target"] == {"kind": "run", "id": run.info.run_id}
    requests.post(url, json={"body": "second"}, timeout=10).raise_for_status()
    listed = requests.get(url, timeout=10).json()["comments"]
    assert [c["body"] for c in listed] == ["Diverged after **step 40**, cc @ada and @bob.", "second"]

    edited = requests.patch(f"{ctx.url}/api/v1/comments/{comment['id']}", json={"body": "fixed, @carol"}, timeout=10)
    assert edited.status_code == 200
    assert edited.json()["comment"]["mentions"] == ["carol"] and edited.json()["comment"]["edited"]
    assert requests.delete(f"{ctx.url}/api/v1/comments/{comment['id']}", timeout=10).status_code == 200
    assert [c["body"] for c in requests.get(url, timeout=10).json()["comments"]] == ["second"]

    on_experiment = f"{ctx.url}/api/v1/experiments/{ctx.experiment_id}/comments"
    requests.post(on_experiment, json={"body": "baseline sweep"}, timeout=10).raise_for_status()
    assert len(requests.get(on_experiment, timeout=10).json()["comments"]) == 1

    for path, body, status in [
        (url, {"body": "   "}, 400),
        (url, {"text": "wrong field"}, 400),
        (url, {"body": "x" * 20_001}, 400),
        (f"{ctx.url}/api/v1/runs/{'f' * 32}/comments", {"body": "x"}, 404),
        (f"{ctx.url}/api/v1/experiments/987654/comments", {"body": "x"}, 404),
    ]:
        assert requests.post(path, json=body, timeout=10).status_code == status, (path, body)
    assert requests.patch(f"{ctx.url}/api/v1/comments/999999", json={"body": "x"}, timeout=10).status_code == 404
    assert requests.delete(f"{ctx.url}/api/v1/comments/abc", timeout=10).status_code == 400


def test_annotations_on_chart_points(ctx):
    with mlflow.start_run() as run:
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    url = f"{ctx.url}/api/v1/runs/{run.info.run_id}/annotations"
    made = requests.post(url, json={"key": "loss", "step": 3, "text": "lr decay"}, timeout=10)
    assert made.status_code == 201, made.text
    requests.post(url, json={"key": "loss", "step": 1, "text": "warm-up ends"}, timeout=10).raise_for_status()
    listed = requests.get(url, timeout=10).json()["annotations"]
    assert [(a["step"], a["text"]) for a in listed] == [(1, "warm-up ends"), (3, "lr decay")]
    gone = requests.delete(f"{ctx.url}/api/v1/annotations/{made.json()['annotation']['id']}", timeout=10)
    assert gone.status_code == 200
    assert len(requests.get(url, timeout=10).json()["annotations"]) == 1
    for body, status in [
        ({"key": "loss", "step": 1, "text": " "}, 400),
        ({"key": "", "step": 1, "text": "x"}, 400),
        ({"key": "loss", "text": "x"}, 400),
        ({"key": "loss", "step": "one", "text": "x"}, 400),
    ]:
        assert requests.post(url, json=body, timeout=10).status_code == status, body
    missing = requests.post(
        f"{ctx.url}/api/v1/runs/{'f' * 32}/annotations", json={"key": "loss", "step": 1, "text": "x"}, timeout=10
    )
    assert missing.status_code == 404


def _activity(url: str, count: int, **kwargs) -> list[dict]:
    """The run's activity once it has `count` entries (it is written a few ms after a change)."""
    deadline = time.monotonic() + 10
    while True:
        history = requests.get(url, timeout=10, **kwargs).json()["activity"]
        if len(history) >= count or time.monotonic() > deadline:
            return history
        time.sleep(0.05)


def test_a_runs_activity_history(ctx):
    client = ctx.client
    run = client.create_run(ctx.experiment_id, run_name="tracked")
    run_id = run.info.run_id
    client.set_tag(run_id, "team", "risk")
    client.set_tag(run_id, "mlflow.source.name", "train.py")  # a system tag: not listed
    client.set_tag(run_id, "mlflow.note.content", "first note")
    client.delete_tag(run_id, "team")
    client.update_run(run_id, name="tracked-2")
    client.set_terminated(run_id, "FAILED")
    client.delete_run(run_id)
    client.restore_run(run_id)
    history = _activity(f"{ctx.url}/api/v1/runs/{run_id}/activity", 8)
    changes = [entry["change"] for entry in reversed(history)]
    assert changes == [
        "created",
        "tag team = risk",
        "note edited",
        "tag team removed",
        "renamed to tracked-2",
        "status FAILED",
        "deleted",
        "restored",
    ], changes
    assert all(entry["user"] is None for entry in history), "no authentication: nobody to name"
    limited = requests.get(f"{ctx.url}/api/v1/runs/{run_id}/activity", params={"limit": 2}, timeout=10)
    assert [e["change"] for e in limited.json()["activity"]] == ["restored", "deleted"]
    missing = requests.get(f"{ctx.url}/api/v1/runs/{'f' * 32}/activity", timeout=10)
    assert missing.status_code == 404
