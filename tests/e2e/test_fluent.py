"""The fluent API (mlflow.start_run / log_* / set_tag / end_run) against the server."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.entities import RunStatus

from e2e_util import unique_name


def test_set_experiment_creates_then_reuses(ctx):
    name = unique_name("fluent-exp")
    exp = mlflow.set_experiment(name)
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.experiment_id.isdigit()
    again = mlflow.set_experiment(name)
    assert again.experiment_id == exp.experiment_id
    assert ctx.client.get_experiment_by_name(name).experiment_id == exp.experiment_id
    by_id = mlflow.set_experiment(experiment_id=exp.experiment_id)
    assert by_id.name == name


def test_default_experiment_exists(ctx):
    exp = ctx.client.get_experiment("0")
    assert exp.name == "Default"
    assert ctx.client.get_experiment_by_name("Default").experiment_id == "0"


def test_basic_run_logging(ctx):
    with mlflow.start_run(run_name="basic") as run:
        run_id = run.info.run_id
        assert run.info.experiment_id == ctx.experiment_id
        assert run.info.status == "RUNNING"
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"depth": 3, "opt": "adam", "none": None})
        mlflow.log_metric("loss", 1.5)
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=2)
        mlflow.set_tag("team", "ml")
        mlflow.set_tags({"a": "1", "b": "two"})
        assert mlflow.active_run().info.run_id == run_id
    assert mlflow.active_run() is None

    r = ctx.client.get_run(run_id)
    assert r.info.status == "FINISHED"
    assert r.info.run_name == "basic"
    assert r.info.end_time is not None and r.info.end_time >= r.info.start_time
    assert r.info.lifecycle_stage == "active"
    assert r.data.params == {"lr": "0.01", "depth": "3", "opt": "adam", "none": "None"}
    assert r.data.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.8}
    assert r.data.tags["team"] == "ml"
    assert r.data.tags["a"] == "1"
    assert r.data.tags["b"] == "two"
    assert r.data.tags["mlflow.runName"] == "basic"
    assert r.info.artifact_uri.endswith(f"{run_id}/artifacts")


def test_explicit_start_and_end_run_with_status(ctx):
    run = mlflow.start_run()
    mlflow.log_param("x", "1")
    mlflow.end_run(status="KILLED")
    r = ctx.client.get_run(run.info.run_id)
    assert r.info.status == "KILLED"
    assert r.info.end_time is not None


def test_exception_inside_with_marks_run_failed(ctx):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run:
            mlflow.log_metric("before", 1.0)
            _ = 1 / 0
    r = ctx.client.get_run(run.info.run_id)
    assert r.info.status == "FAILED"
    assert RunStatus.from_string(r.info.status) == RunStatus.FAILED
    assert r.data.metrics == {"before": 1.0}
    assert r.info.end_time is not None


def test_nested_runs_have_parent_tag(ctx):
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("m", 1)
            with mlflow.start_run(nested=True) as grandchild:
                pass
    c = ctx.client.get_run(child.info.run_id)
    g = ctx.client.get_run(grandchild.info.run_id)
    p = ctx.client.get_run(parent.info.run_id)
    assert c.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert g.data.tags["mlflow.parentRunId"] == child.info.run_id
    assert "mlflow.parentRunId" not in p.data.tags
    assert {p.info.status, c.info.status, g.info.status} == {"FINISHED"}
    found = mlflow.search_runs(
        experiment_ids=[ctx.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
    )
    assert [r.info.run_id for r in found] == [child.info.run_id]


def test_generated_run_name(ctx):
    with mlflow.start_run() as run:
        pass
    r = ctx.client.get_run(run.info.run_id)
    assert r.info.run_name, "a run without a name gets a generated one"
    assert r.data.tags["mlflow.runName"] == r.info.run_name
    # A raw client create_run without name gets one from the server as well.
    raw = ctx.client.create_run(ctx.experiment_id)
    assert raw.info.run_name
    assert ctx.client.get_run(raw.info.run_id).data.tags["mlflow.runName"] == raw.info.run_name


def test_run_name_tag_sets_run_name(ctx):
    run = ctx.client.create_run(ctx.experiment_id, tags={"mlflow.runName": "from-tag"})
    assert run.info.run_name == "from-tag"
    assert ctx.client.get_run(run.info.run_id).info.run_name == "from-tag"


def test_resume_run_by_id(ctx):
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0, step=0)
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_metric("m", 2.0, step=1)
    r = ctx.client.get_run(run.info.run_id)
    assert r.data.metrics["m"] == 2.0
    assert r.info.status == "FINISHED"
    hist = ctx.client.get_metric_history(run.info.run_id, "m")
    assert [(m.step, m.value) for m in hist] == [(0, 1.0), (1, 2.0)]


def test_async_logging_many_steps(ctx):
    n = 500
    with mlflow.start_run() as run:
        for step in range(n):
            mlflow.log_metrics({"a": float(step), "b": float(step) * 2}, step=step, synchronous=False)
        mlflow.log_param("p", "v", synchronous=False)
        mlflow.set_tag("t", "v", synchronous=False)
        mlflow.flush_async_logging()
    hist_a = ctx.client.get_metric_history(run.info.run_id, "a")
    hist_b = ctx.client.get_metric_history(run.info.run_id, "b")
    assert [m.step for m in hist_a] == list(range(n))
    assert [m.value for m in hist_a] == [float(s) for s in range(n)]
    assert [m.value for m in hist_b] == [float(s) * 2 for s in range(n)]
    r = ctx.client.get_run(run.info.run_id)
    assert r.data.metrics == {"a": float(n - 1), "b": float(n - 1) * 2}
    assert r.data.params == {"p": "v"}
    assert r.data.tags["t"] == "v"


def test_last_active_run_and_search_in_current_experiment(ctx):
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 3)
    assert mlflow.last_active_run().info.run_id == run.info.run_id
    df = mlflow.search_runs()  # current experiment
    assert list(df["run_id"]) == [run.info.run_id]
    assert df.loc[0, "metrics.x"] == 3.0
