"""`cairn export`: runs logged with the official mlflow client come back through pandas from
`runs.csv` (params, latest metrics and their statistics, tags; one row per run) and
`metrics.csv` (every point), and through pyarrow and pandas from the same tables as Parquet
(typed columns, timestamps as timestamps); the filter selects runs, and bad input is refused
clearly."""

from __future__ import annotations

import math
import subprocess

import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag

from e2e_util import cairn_bin, is_mlflow, unique_name

pytestmark = pytest.mark.skipif(is_mlflow(), reason="`cairn export` is Cairn's own command")

T0 = 1_780_000_000_000


def export(ctx, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [cairn_bin(), "export", "--server", ctx.url, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def seed(ctx) -> tuple[str, dict[str, dict]]:
    name = unique_name("export")
    exp_id = ctx.client.create_experiment(name)
    runs = {}
    for i, lr in enumerate(["0.1", "0.01", "0.001"]):
        run = ctx.client.create_run(exp_id, run_name=f"run, {i}", start_time=T0 + i)
        rid = run.info.run_id
        losses = [1.0 / (1 + step) + i for step in range(50)]
        if i == 2:
            losses[10] = math.nan
        metrics = [Metric("train/loss", v, T0 + step, step) for step, v in enumerate(losses)]
        metrics.append(Metric("acc", 0.5 + i / 10, T0, 0))
        tags = [RunTag("note", 'said "hi"\nthen left')] if i == 0 else []
        ctx.client.log_batch(rid, metrics=metrics, params=[Param("lr", lr), Param("bs", "32")], tags=tags)
        ctx.client.set_terminated(rid)
        runs[rid] = {"lr": lr, "losses": losses, "acc": 0.5 + i / 10, "name": f"run, {i}"}
    return name, runs


def test_export_round_trips_through_pandas(ctx, tmp_path):
    name, runs = seed(ctx)
    done = export(ctx, "--experiment", name, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "exported 3 runs (2 metric keys)" in done.stdout, done.stdout
    assert "and 153 points" in done.stdout, done.stdout

    table = pd.read_csv(tmp_path / "runs.csv", dtype={"params.lr": str, "params.bs": str})
    assert len(table) == 3
    assert list(table.columns[:8]) == [
        "run_id",
        "run_name",
        "experiment_id",
        "user_id",
        "status",
        "start_time",
        "end_time",
        "lifecycle_stage",
    ]
    for _, row in table.iterrows():
        want = runs[row["run_id"]]
        assert row["run_name"] == want["name"]
        assert row["status"] == "FINISHED"
        assert row["params.lr"] == want["lr"] and row["params.bs"] == "32"
        assert row["metrics.acc"] == want["acc"]
        assert row["metrics.train/loss"] == want["losses"][-1]
        finite = [v for v in want["losses"] if not math.isnan(v)]
        assert row["metrics.train/loss.count"] == 50
        assert row["metrics.train/loss.max"] == max(finite)
        assert row["metrics.train/loss.min"] == min(finite)
    noted = table[table["run_name"] == "run, 0"].iloc[0]
    assert noted["tags.note"] == 'said "hi"\nthen left'

    points = pd.read_csv(tmp_path / "metrics.csv")
    assert list(points.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert len(points) == 3 * 51
    for rid, want in runs.items():
        loss = points[(points["run_id"] == rid) & (points["key"] == "train/loss")].sort_values("step")
        assert list(loss["step"]) == list(range(50))
        assert list(loss["timestamp"]) == [T0 + step for step in range(50)]
        for got, expected in zip(loss["value"], want["losses"], strict=True):
            assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_parquet_files_hold_the_same_tables_typed(ctx, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    name, runs = seed(ctx)
    done = export(ctx, "--experiment", name, "--format", "parquet", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "runs.parquet" in done.stdout and "153 points" in done.stdout, done.stdout
    assert not (tmp_path / "runs.csv").exists()

    table = pq.read_table(tmp_path / "runs.parquet")
    schema = table.schema
    assert schema.field("run_id").type == pa.string()
    assert schema.field("params.lr").type == pa.string()
    assert schema.field("start_time").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("metrics.train/loss").type == pa.float64()
    assert schema.field("metrics.train/loss.count").type == pa.int64()
    frame = table.to_pandas()
    assert len(frame) == 3
    for _, row in frame.iterrows():
        want = runs[row["run_id"]]
        assert row["params.lr"] == want["lr"]
        assert row["metrics.acc"] == want["acc"]
        assert row["metrics.train/loss.count"] == 50
        assert row["start_time"].value // 1_000_000 >= T0
    assert frame[frame["run_name"] == "run, 0"].iloc[0]["tags.note"] == 'said "hi"\nthen left'
    assert frame["tags.note"].isna().sum() == 2

    csv_done = export(ctx, "--experiment", name, "--out", str(tmp_path / "csv"))
    assert csv_done.returncode == 0, csv_done.stderr
    from_csv = pd.read_csv(tmp_path / "csv" / "runs.csv")
    assert list(from_csv.columns) == frame.columns.tolist()

    points = pd.read_parquet(tmp_path / "metrics.parquet")
    assert list(points.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert len(points) == 3 * 51
    assert str(points["timestamp"].dtype) == "datetime64[ms, UTC]"
    for rid, want in runs.items():
        loss = points[(points["run_id"] == rid) & (points["key"] == "train/loss")].sort_values("step")
        assert list(loss["step"]) == list(range(50))
        assert [t.value // 1_000_000 for t in loss["timestamp"]] == [T0 + step for step in range(50)]
        for got, expected in zip(loss["value"], want["losses"], strict=True):
            assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_a_filter_selects_runs_and_history_is_optional(ctx, tmp_path):
    name, runs = seed(ctx)
    done = export(ctx, "--experiment", name, "--filter", "params.lr = '0.01'", "--no-history", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "runs.csv", dtype={"params.lr": str})
    assert list(table["params.lr"]) == ["0.01"]
    assert not (tmp_path / "metrics.csv").exists()


def test_bad_input_is_refused_with_a_clear_message(ctx, tmp_path):
    name, _ = seed(ctx)
    for args, says in [
        (["--experiment", unique_name("missing")], "no experiment with the id or name"),
        (["--experiment", name, "--filter", "params.lr =="], "filter"),
    ]:
        done = export(ctx, *args, "--out", str(tmp_path / "out"))
        assert done.returncode != 0
        assert says in done.stderr.lower() or says in done.stderr, done.stderr
