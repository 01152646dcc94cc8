"""Metric history, latest-value semantics, special float values, long histories."""

from __future__ import annotations

import math
import time

import mlflow
import requests
from mlflow.entities import Metric

from e2e_util import get, is_mlflow, new_run, post


def test_history_ordered_by_step_regardless_of_logging_order(ctx):
    run_id = new_run(ctx)
    ts = int(time.time() * 1000)
    for step in [5, 2, 9, 0, 7, 1]:
        ctx.client.log_metric(run_id, "m", float(step) * 10, timestamp=ts + step, step=step)
    hist = ctx.client.get_metric_history(run_id, "m")
    assert [m.step for m in hist] == [0, 1, 2, 5, 7, 9]
    assert [m.value for m in hist] == [0.0, 10.0, 20.0, 50.0, 70.0, 90.0]
    assert all(m.key == "m" for m in hist)
    assert [m.timestamp for m in hist] == [ts + s for s in [0, 1, 2, 5, 7, 9]]


def test_same_step_ordered_by_timestamp(ctx):
    run_id = new_run(ctx)
    ctx.client.log_metric(run_id, "m", 3.0, timestamp=3000, step=1)
    ctx.client.log_metric(run_id, "m", 1.0, timestamp=1000, step=1)
    ctx.client.log_metric(run_id, "m", 2.0, timestamp=2000, step=1)
    hist = ctx.client.get_metric_history(run_id, "m")
    assert [(m.timestamp, m.value) for m in hist] == [(1000, 1.0), (2000, 2.0), (3000, 3.0)]
    assert ctx.client.get_run(run_id).data.metrics["m"] == 3.0


def test_latest_is_largest_step_even_if_logged_first(ctx):
    run_id = new_run(ctx)
    ts = int(time.time() * 1000)
    ctx.client.log_metric(run_id, "loss", 0.1, timestamp=ts, step=100)
    ctx.client.log_metric(run_id, "loss", 0.9, timestamp=ts + 10, step=0)
    ctx.client.log_metric(run_id, "loss", 0.5, timestamp=ts + 20, step=50)
    r = ctx.client.get_run(run_id)
    assert r.data.metrics["loss"] == 0.1
    found = ctx.client.search_runs([ctx.experiment_id], "metrics.loss < 0.2")
    assert [x.info.run_id for x in found] == [run_id]
    assert ctx.client.search_runs([ctx.experiment_id], "metrics.loss > 0.4") == []


def test_default_step_is_zero(ctx):
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0)
    (m,) = ctx.client.get_metric_history(run.info.run_id, "x")
    assert m.step == 0
    assert m.timestamp > 0


# MLflow's SQL store clamps +-Inf to +-sys.float_info.max (1.7976931348623157e308) when it stores a
# metric; Cairn keeps the real infinities (MLFLOW_COMPAT.md: NaN/Infinity/-Infinity both ways).
INF = 1.7976931348623157e308 if is_mlflow() else math.inf
INF_WIRE = 1.7976931348623157e308 if is_mlflow() else "Infinity"
NINF_WIRE = -1.7976931348623157e308 if is_mlflow() else "-Infinity"


def test_nan_and_infinities_round_trip(ctx):
    run_id = new_run(ctx)
    ts = int(time.time() * 1000)
    ctx.client.log_metric(run_id, "nan", float("nan"), timestamp=ts)
    ctx.client.log_metric(run_id, "pinf", float("inf"), timestamp=ts)
    ctx.client.log_metric(run_id, "ninf", float("-inf"), timestamp=ts)
    ctx.client.log_batch(
        run_id, metrics=[Metric("series", v, ts + i, i) for i, v in enumerate([1.0, float("nan"), float("inf"), -2.0])]
    )
    r = ctx.client.get_run(run_id)
    assert math.isnan(r.data.metrics["nan"])
    assert r.data.metrics["pinf"] == INF
    assert r.data.metrics["ninf"] == -INF
    assert r.data.metrics["series"] == -2.0
    vals = [m.value for m in ctx.client.get_metric_history(run_id, "series")]
    assert vals[0] == 1.0 and math.isnan(vals[1]) and vals[2] == INF and vals[3] == -2.0
    assert math.isnan(ctx.client.get_metric_history(run_id, "nan")[0].value)
    assert ctx.client.get_metric_history(run_id, "pinf")[0].value == INF
    assert ctx.client.get_metric_history(run_id, "ninf")[0].value == -INF


def test_nan_on_the_wire(ctx, api):
    """Proto-JSON spells NaN/Infinity as strings, both ways."""
    run_id = new_run(ctx)
    for key, value in [("a", "NaN"), ("b", "Infinity"), ("c", "-Infinity")]:
        resp = post(f"{api}/runs/log-metric", {"run_id": run_id, "key": key, "value": value, "timestamp": 1, "step": 0})
        assert resp.status_code == 200, resp.text
    body = get(f"{api}/runs/get", {"run_id": run_id}).json()
    metrics = {m["key"]: m["value"] for m in body["run"]["data"]["metrics"]}
    assert metrics == {"a": "NaN", "b": INF_WIRE, "c": NINF_WIRE}
    hist = get(f"{api}/metrics/get-history", {"run_id": run_id, "metric_key": "b"}).json()
    assert hist["metrics"][0]["value"] == INF_WIRE


def test_long_history_is_paged(ctx):
    """30,000 points: the client asks 25,000 per page and follows next_page_token."""
    run_id = new_run(ctx)
    n = 30_000
    ts = 1_700_000_000_000
    session = requests.Session()
    for start in range(0, n, 1000):
        batch = [{"key": "long", "value": float(i), "timestamp": ts + i, "step": i} for i in range(start, start + 1000)]
        resp = session.post(f"{ctx.api}/runs/log-batch", json={"run_id": run_id, "metrics": batch}, timeout=60)
        assert resp.status_code == 200, resp.text
    # Raw first page: at most 25,000 and a token.
    raw = get(f"{ctx.api}/metrics/get-history", {"run_id": run_id, "metric_key": "long", "max_results": 25000}).json()
    assert len(raw["metrics"]) == 25000
    assert raw.get("next_page_token")
    hist = ctx.client.get_metric_history(run_id, "long")
    assert len(hist) == n
    assert [m.step for m in hist] == list(range(n))
    assert hist[-1].value == float(n - 1)
    assert ctx.client.get_run(run_id).data.metrics["long"] == float(n - 1)


def test_history_of_unknown_key_is_empty(ctx):
    run_id = new_run(ctx)
    assert ctx.client.get_metric_history(run_id, "nope") == []


def test_metric_history_small_page_tokens_raw(ctx, api):
    run_id = new_run(ctx)
    ctx.client.log_batch(run_id, metrics=[Metric("k", float(i), 1000 + i, i) for i in range(7)])
    seen, token = [], None
    for _ in range(10):
        params = {"run_id": run_id, "metric_key": "k", "max_results": 3}
        if token:
            params["page_token"] = token
        body = get(f"{api}/metrics/get-history", params).json()
        seen += [m["step"] for m in body.get("metrics", [])]
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == list(range(7))
