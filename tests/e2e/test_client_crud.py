"""MlflowClient CRUD on experiments and runs."""

from __future__ import annotations

import time

import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from e2e_util import new_run, unique_name


def _error_code(exc: MlflowException) -> str:
    return exc.error_code


# ---------------------------------------------------------------- experiments


def test_create_and_get_experiment(ctx):
    name = unique_name("crud")
    before = int(time.time() * 1000) - 5000
    exp_id = ctx.client.create_experiment(name, tags={"k1": "v1", "k2": "v2"})
    assert isinstance(exp_id, str) and exp_id.isdigit()
    exp = ctx.client.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.tags == {"k1": "v1", "k2": "v2"}
    assert exp.artifact_location  # server-assigned
    assert exp.creation_time >= before
    assert exp.last_update_time >= exp.creation_time
    by_name = ctx.client.get_experiment_by_name(name)
    assert by_name.experiment_id == exp_id
    assert by_name.tags == {"k1": "v1", "k2": "v2"}


def test_get_experiment_by_name_absent_is_none(ctx):
    assert ctx.client.get_experiment_by_name(unique_name("absent")) is None


def test_get_unknown_experiment_raises(ctx):
    with pytest.raises(MlflowException) as ei:
        ctx.client.get_experiment("987654321")
    assert _error_code(ei.value) == "RESOURCE_DOES_NOT_EXIST"
    assert "No Experiment with id=987654321 exists" in str(ei.value)


def test_rename_experiment(ctx):
    exp_id = ctx.new_experiment("torename")
    new = unique_name("renamed")
    ctx.client.rename_experiment(exp_id, new)
    assert ctx.client.get_experiment(exp_id).name == new
    assert ctx.client.get_experiment_by_name(new).experiment_id == exp_id


def test_delete_and_restore_experiment(ctx):
    name = unique_name("del")
    exp_id = ctx.client.create_experiment(name)
    ctx.client.delete_experiment(exp_id)
    exp = ctx.client.get_experiment(exp_id)
    assert exp.lifecycle_stage == "deleted"
    # A deleted experiment is still found by name, with its stage.
    assert ctx.client.get_experiment_by_name(name).lifecycle_stage == "deleted"
    ids_active = {e.experiment_id for e in ctx.client.search_experiments(filter_string=f"name = '{name}'")}
    assert exp_id not in ids_active
    ids_deleted = {
        e.experiment_id
        for e in ctx.client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'")
    }
    assert ids_deleted == {exp_id}
    ctx.client.restore_experiment(exp_id)
    assert ctx.client.get_experiment(exp_id).lifecycle_stage == "active"
    ids_active = {e.experiment_id for e in ctx.client.search_experiments(filter_string=f"name = '{name}'")}
    assert ids_active == {exp_id}


def test_experiment_tags_set_and_delete(ctx):
    exp_id = ctx.new_experiment("tags")
    ctx.client.set_experiment_tag(exp_id, "a", "1")
    ctx.client.set_experiment_tag(exp_id, "b", "2")
    ctx.client.set_experiment_tag(exp_id, "a", "updated")
    assert ctx.client.get_experiment(exp_id).tags == {"a": "updated", "b": "2"}
    ctx.client.delete_experiment_tag(exp_id, "a")
    assert ctx.client.get_experiment(exp_id).tags == {"b": "2"}


def test_search_experiments_filters_order_and_pages(ctx):
    prefix = unique_name("srch")
    ids = []
    for i in range(5):
        ids.append(
            ctx.client.create_experiment(
                f"{prefix}-{i}", tags={"idx": str(i), "parity": "even" if i % 2 == 0 else "odd"}
            )
        )
        time.sleep(0.005)
    other = ctx.client.create_experiment(f"{prefix.upper()}-X")

    def names(**kw):
        return [e.name for e in ctx.client.search_experiments(**kw)]

    # LIKE is case-sensitive, ILIKE not.
    assert sorted(names(filter_string=f"name LIKE '{prefix}-%'")) == [f"{prefix}-{i}" for i in range(5)]
    assert len(names(filter_string=f"name ILIKE '{prefix}-%'")) == 6
    assert names(filter_string=f"name = '{prefix}-3'") == [f"{prefix}-3"]
    # Tag filters.
    assert sorted(names(filter_string=f"name LIKE '{prefix}%' AND tags.parity = 'even'")) == [
        f"{prefix}-0",
        f"{prefix}-2",
        f"{prefix}-4",
    ]
    assert names(filter_string=f"name LIKE '{prefix}%' AND tags.idx = '1'") == [f"{prefix}-1"]
    # order_by.
    assert names(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"]) == [
        f"{prefix}-{i}" for i in reversed(range(5))
    ]
    assert names(filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"]) == [f"{prefix}-{i}" for i in range(5)]
    # Default order: newest first.
    assert names(filter_string=f"name LIKE '{prefix}-%'") == [f"{prefix}-{i}" for i in reversed(range(5))]

    # Pagination: max_results + page_token, no dups, no gaps.
    seen = []
    token = None
    pages = 0
    while True:
        page = ctx.client.search_experiments(
            filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"], max_results=2, page_token=token
        )
        pages += 1
        assert len(page) <= 2
        seen += [e.name for e in page]
        token = page.token
        if not token:
            break
        assert pages < 10
    assert seen == [f"{prefix}-{i}" for i in range(5)]
    assert pages == 3

    # View types.
    ctx.client.delete_experiment(ids[0])
    flt = f"name LIKE '{prefix}-%'"
    assert f"{prefix}-0" not in names(filter_string=flt)
    assert names(filter_string=flt, view_type=ViewType.DELETED_ONLY) == [f"{prefix}-0"]
    assert len(names(filter_string=flt, view_type=ViewType.ALL)) == 5
    assert other


# ---------------------------------------------------------------- runs


def test_create_and_get_run(ctx):
    start = int(time.time() * 1000)
    run = ctx.client.create_run(ctx.experiment_id, start_time=start, tags={"t1": "v1"}, run_name="my-run")
    info = run.info
    assert len(info.run_id) == 32
    assert info.experiment_id == ctx.experiment_id
    assert info.status == "RUNNING"
    assert info.start_time == start
    assert info.end_time is None
    assert info.lifecycle_stage == "active"
    assert info.run_name == "my-run"
    got = ctx.client.get_run(info.run_id)
    assert got.info.run_id == info.run_id
    assert got.data.tags["t1"] == "v1"
    assert got.data.tags["mlflow.runName"] == "my-run"
    assert got.data.metrics == {}
    assert got.data.params == {}


def test_update_run(ctx):
    run_id = new_run(ctx)
    ctx.client.update_run(run_id, status="SCHEDULED", name="new-name")
    r = ctx.client.get_run(run_id)
    assert r.info.status == "SCHEDULED"
    assert r.info.end_time is None
    assert r.info.run_name == "new-name"
    assert r.data.tags["mlflow.runName"] == "new-name"
    end = int(time.time() * 1000) + 1000
    ctx.client.set_terminated(run_id, status="KILLED", end_time=end)
    r = ctx.client.get_run(run_id)
    assert r.info.status == "KILLED"
    assert r.info.end_time == end
    assert r.info.run_name == "new-name"


def test_delete_and_restore_run(ctx):
    run_id = new_run(ctx)
    keep = new_run(ctx)
    ctx.client.delete_run(run_id)
    r = ctx.client.get_run(run_id)  # still readable
    assert r.info.lifecycle_stage == "deleted"
    active = {x.info.run_id for x in ctx.client.search_runs([ctx.experiment_id])}
    assert active == {keep}
    deleted = {x.info.run_id for x in ctx.client.search_runs([ctx.experiment_id], run_view_type=ViewType.DELETED_ONLY)}
    assert deleted == {run_id}
    ctx.client.restore_run(run_id)
    assert ctx.client.get_run(run_id).info.lifecycle_stage == "active"
    active = {x.info.run_id for x in ctx.client.search_runs([ctx.experiment_id])}
    assert active == {keep, run_id}


def test_set_and_delete_tag(ctx):
    run_id = new_run(ctx)
    ctx.client.set_tag(run_id, "k", "v1")
    ctx.client.set_tag(run_id, "k", "v2")  # tags may change
    ctx.client.set_tag(run_id, "other", "x")
    assert ctx.client.get_run(run_id).data.tags["k"] == "v2"
    ctx.client.delete_tag(run_id, "k")
    tags = ctx.client.get_run(run_id).data.tags
    assert "k" not in tags
    assert tags["other"] == "x"
    with pytest.raises(MlflowException) as ei:
        ctx.client.delete_tag(run_id, "never-set")
    assert _error_code(ei.value) == "RESOURCE_DOES_NOT_EXIST"


def test_log_batch(ctx):
    run_id = new_run(ctx)
    ts = int(time.time() * 1000)
    ctx.client.log_batch(
        run_id,
        metrics=[Metric("m1", 1.0, ts, 0), Metric("m1", 2.0, ts, 1), Metric("m2", -3.5, ts, 0)],
        params=[Param("p1", "a"), Param("p2", "b")],
        tags=[RunTag("t1", "x")],
    )
    r = ctx.client.get_run(run_id)
    assert r.data.metrics == {"m1": 2.0, "m2": -3.5}
    assert r.data.params == {"p1": "a", "p2": "b"}
    assert r.data.tags["t1"] == "x"
    hist = ctx.client.get_metric_history(run_id, "m1")
    assert [(m.value, m.step, m.timestamp) for m in hist] == [(1.0, 0, ts), (2.0, 1, ts)]
    # Empty batch is a no-op.
    ctx.client.log_batch(run_id)


def test_log_batch_large_is_chunked_by_client(ctx):
    run_id = new_run(ctx)
    ts = int(time.time() * 1000)
    ctx.client.log_batch(run_id, metrics=[Metric("big", float(i), ts, i) for i in range(2500)])
    hist = ctx.client.get_metric_history(run_id, "big")
    assert len(hist) == 2500
    assert ctx.client.get_run(run_id).data.metrics["big"] == 2499.0


def test_get_unknown_run(ctx):
    with pytest.raises(MlflowException) as ei:
        ctx.client.get_run("0" * 32)
    assert _error_code(ei.value) == "RESOURCE_DOES_NOT_EXIST"
    assert f"Run with id={'0' * 32} not found" in str(ei.value)
