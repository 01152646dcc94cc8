"""Cairn's native metric API seen from Python: what the official client logs is what the native
series routes return, and the comparison statistics agree with scipy on the same data."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats

from e2e_util import is_mlflow, new_run, post

pytestmark = pytest.mark.skipif(is_mlflow(), reason="the native /api/v1 API is Cairn's own")

T0 = 1_780_000_000_000


def encode_double(value: float):
    """Doubles JSON cannot carry travel as strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def ingest(ctx, run_id: str, key: str, values, steps=None) -> None:
    steps = list(range(len(values))) if steps is None else steps
    encoded = [encode_double(v) for v in values]
    resp = post(
        f"{ctx.url}/api/v1/runs/{run_id}/metrics",
        {"metrics": [{"key": key, "steps": steps, "values": encoded, "timestamp": T0}]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == len(set(zip(steps, values, strict=True)))


def compare(ctx, body: dict) -> dict:
    resp = post(f"{ctx.url}/api/v1/compare", body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def close(a, b, rel=1e-9, abs_=1e-300):
    return a == pytest.approx(b, rel=rel, abs=abs_)


def test_points_logged_by_the_mlflow_client_read_back_natively(ctx):
    run_id = new_run(ctx)
    values = [1.0 / (step + 1) for step in range(300)]
    for step, value in enumerate(values):
        if step % 3 == 0:
            ctx.client.log_metric(run_id, "loss", value, step=step, timestamp=T0 + step)
    ctx.client.log_batch(
        run_id,
        metrics=[mlflow_metric("loss", value, T0 + step, step) for step, value in enumerate(values) if step % 3 != 0],
    )
    body = requests_get(ctx, f"/api/v1/runs/{run_id}/metrics/loss/points")
    assert body["count"] == 300
    assert body["steps"] == list(range(300))
    assert body["values"] == values
    view = requests_get(ctx, f"/api/v1/runs/{run_id}/metrics/loss/series", buckets=8)
    assert sum(view["buckets"]["count"]) == 300
    assert view["buckets"]["max"][0] == 1.0
    assert view["buckets"]["last"][-1] == values[-1]
    history = ctx.client.get_metric_history(run_id, "loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == values


def mlflow_metric(key, value, timestamp, step):
    from mlflow.entities import Metric

    return Metric(key, value, timestamp, step)


def requests_get(ctx, path: str, **params) -> dict:
    import requests

    resp = requests.get(f"{ctx.url}{path}", params=params, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def gauss_sample(seed: int, mean: float, sd: float, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


@pytest.mark.parametrize(
    "a,b",
    [
        # Large samples: asymptotic Mann-Whitney, many distinct values.
        (gauss_sample(1, 0.5, 0.1, 200), gauss_sample(2, 0.52, 0.2, 150)),
        # Small samples without ties: scipy uses the exact distribution.
        ([0.31, 0.12, 0.56, 0.44, 0.29, 0.61], [0.71, 0.52, 0.66, 0.93, 0.48]),
        # Ties: asymptotic with tie correction.
        ([1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 5.0], [2.0, 3.0, 4.0, 4.0, 5.0, 6.0, 6.0, 7.0]),
    ],
)
def test_two_run_tests_match_scipy(ctx, a, b):
    run_a, run_b = new_run(ctx), new_run(ctx)
    ingest(ctx, run_a, "loss", a)
    ingest(ctx, run_b, "loss", b)
    result = compare(ctx, {"run_ids": [run_a, run_b], "test": {"metric": "loss", "a": [run_a], "b": [run_b]}})
    test = result["test"]
    assert test["samples"] == "points"
    assert any("autocorrelated" in text for text in test["assumptions"])

    welch = stats.ttest_ind(a, b, equal_var=False)
    assert close(test["welch"]["t"], welch.statistic)
    assert close(test["welch"]["p_value"], welch.pvalue)
    assert close(test["welch"]["mean_difference"], np.mean(a) - np.mean(b))

    mwu = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert close(test["mann_whitney"]["u"], mwu.statistic)
    assert close(test["mann_whitney"]["p_value"], mwu.pvalue)
    assert close(test["mann_whitney"]["common_language"], mwu.statistic / (len(a) * len(b)))

    assert test["a"]["describe"]["n"] == len(a)
    assert close(test["a"]["describe"]["std"], np.std(a, ddof=1))
    assert close(test["b"]["describe"]["median"], np.median(b))


def test_groups_bands_best_run_and_params_diff(ctx):
    rng = random.Random(7)
    finals = {"0.1": [], "0.01": []}
    runs = []
    curves = {}
    for lr, shift in (("0.1", 0.0), ("0.01", 0.15)):
        for seed in range(5):
            run_id = new_run(ctx)
            ctx.client.log_param(run_id, "lr", lr)
            ctx.client.log_param(run_id, "batch_size", "32")
            ctx.client.log_param(run_id, "seed", str(seed))
            curve = [1.0 / (1 + step) + shift + rng.gauss(0, 0.01) for step in range(64)]
            ingest(ctx, run_id, "loss", curve)
            finals[lr].append(curve[-1])
            curves[run_id] = curve
            runs.append(run_id)

    result = compare(
        ctx,
        {
            "run_ids": runs,
            "best": {"metric": "loss", "direction": "min", "aggregate": "last"},
            "group_by": "params.lr",
            "bands": {"metric": "loss", "buckets": 64, "x": "step"},
            "test": {"metric": "loss", "aggregate": "last", "groups": ["0.1", "0.01"]},
        },
    )
    assert result["params"]["constant"] == {"batch_size": "32"}
    assert result["params"]["differing"] == ["lr", "seed"]
    assert {r["run_id"]: r["params"]["lr"] for r in result["runs"]} == {
        run_id: ("0.1" if i < 5 else "0.01") for i, run_id in enumerate(runs)
    }

    lasts = {run_id: curve[-1] for run_id, curve in curves.items()}
    best_run = min(lasts, key=lambda r: lasts[r])
    assert result["best"]["run_id"] == best_run
    assert result["best"]["value"] == lasts[best_run]
    assert [cell["last"] for cell in result["metrics"]["loss"]] == [lasts[r] for r in runs]

    groups = {g["value"]: g for g in result["groups"]}
    assert set(groups) == {"0.1", "0.01"}
    for lr, values in finals.items():
        described = groups[lr]["metrics"]["loss"]
        assert described["n"] == 5
        assert close(described["mean"], np.mean(values))
        assert close(described["std"], np.std(values, ddof=1))
        band = groups[lr]["band"]
        members = groups[lr]["run_ids"]
        # 64 steps on a 64-bucket grid: one step per bucket, so the band is per-step statistics.
        assert band["start"] == list(range(64))
        per_step = np.array([curves[r] for r in members])
        assert np.allclose(band["mean"], per_step.mean(axis=0), rtol=1e-12)
        assert np.allclose(band["std"], per_step.std(axis=0, ddof=1), rtol=1e-9)
        assert band["min"] == list(per_step.min(axis=0))
        assert band["max"] == list(per_step.max(axis=0))

    assert result["bands"]["width"] == 1
    assert (result["bands"]["from"], result["bands"]["to"]) == (0, 63)
    # The bands of a zoomed range: the same statistics, only steps 10..20, on a finer grid
    # than the whole range would get for the same bucket count.
    zoomed = compare(
        ctx,
        {"run_ids": runs, "group_by": "params.lr", "bands": {"metric": "loss", "buckets": 8, "from": 10, "to": 20}},
    )
    assert zoomed["metrics"]["loss"]  # summaries are still there by default
    coarse = compare(ctx, {"run_ids": runs, "group_by": "params.lr", "bands": {"metric": "loss", "buckets": 8}})
    assert coarse["bands"]["width"] == 8 and zoomed["bands"]["width"] == 2
    assert zoomed["bands"]["from"] <= 10 and zoomed["bands"]["to"] >= 20
    for group in zoomed["groups"]:
        band = group["band"]
        assert band["start"] and all(8 <= start <= 20 for start in band["start"])
        members = group["run_ids"]
        for i, start in enumerate(band["start"]):
            steps = [s for s in range(start, start + 2) if 10 <= s <= 20]
            per_run = [np.mean([curves[r][s] for s in steps]) for r in members]
            assert close(band["mean"][i], np.mean(per_run))

    test = result["test"]
    assert test["samples"] == "runs" and test["aggregate"] == "last"
    welch = stats.ttest_ind(finals["0.1"], finals["0.01"], equal_var=False)
    assert close(test["welch"]["t"], welch.statistic)
    assert close(test["welch"]["p_value"], welch.pvalue)
    mwu = stats.mannwhitneyu(finals["0.1"], finals["0.01"], alternative="two-sided")
    assert test["mann_whitney"]["method"] == "exact"
    assert close(test["mann_whitney"]["p_value"], mwu.pvalue)


def test_compare_without_summaries_lists_keys_with_run_counts(ctx):
    runs = [new_run(ctx) for _ in range(3)]
    ingest(ctx, runs[0], "loss", [0.9, 0.5])
    ingest(ctx, runs[1], "loss", [0.8])
    ingest(ctx, runs[1], "val/acc", [0.1, 0.2, 0.3])
    ctx.client.log_metric(runs[2], "lr", 0.01, step=0)  # through the MLflow route
    ctx.client.log_param(runs[0], "opt", "adam")
    ctx.client.log_param(runs[1], "opt", "sgd")

    full = compare(ctx, {"run_ids": runs})
    light = compare(ctx, {"run_ids": runs, "summaries": False})
    want = [{"key": "loss", "runs": 2}, {"key": "lr", "runs": 1}, {"key": "val/acc", "runs": 1}]
    assert full["metric_keys"] == want
    assert light["metric_keys"] == want
    assert sorted(full["metrics"]) == ["loss", "lr", "val/acc"]
    assert [cell["last"] if cell else None for cell in full["metrics"]["loss"]] == [0.5, 0.8, None]
    assert light["metrics"] == {}
    assert light["runs"] == full["runs"]
    assert light["params"] == full["params"]

    # Named keys are listed as asked, with 0 for a key no run has.
    named = compare(ctx, {"run_ids": runs, "metrics": ["lr", "missing"], "summaries": False})
    assert named["metric_keys"] == [{"key": "lr", "runs": 1}, {"key": "missing", "runs": 0}]
    # A best run still works without the summaries in the answer.
    best = compare(ctx, {"run_ids": runs, "summaries": False, "best": {"metric": "loss", "direction": "min"}})
    assert best["best"]["run_id"] == runs[0]
    assert best["metrics"] == {}


def test_compare_rejects_bad_requests(ctx):
    run_id = new_run(ctx)
    for body, says in [
        ({}, "run_ids"),
        ({"run_ids": []}, "run_ids"),
        ({"run_ids": [run_id], "best": {"metric": "m", "direction": "up"}}, "direction"),
        ({"run_ids": [run_id], "group_by": "metrics.loss"}, "group_by"),
        ({"run_ids": [run_id], "test": {"metric": "m", "groups": ["a", "b"]}}, "group_by"),
        ({"run_ids": [run_id], "test": {"metric": "m", "a": [run_id]}}, "test needs"),
        ({"run_ids": [run_id], "test": {"metric": "m", "a": [run_id], "b": ["f" * 32]}}, "not among"),
        ({"run_ids": [run_id], "bands": {"metric": "m", "buckets": 0}}, "buckets"),
        ({"run_ids": [run_id], "bands": {"metric": "m", "from": 5, "to": 1}}, "from"),
        ({"run_ids": [run_id], "test": {"metric": "m", "a": [run_id], "b": [run_id], "aggregate": "p99"}}, "aggregate"),
        ({"run_ids": [run_id], "summaries": "no"}, "summaries"),
    ]:
        resp = post(f"{ctx.url}/api/v1/compare", body)
        assert resp.status_code == 400, (body, resp.text)
        assert says in resp.json()["message"], (body, resp.text)
    resp = post(f"{ctx.url}/api/v1/compare", {"run_ids": ["f" * 32]})
    assert resp.status_code == 404, resp.text
