"""search_runs filter grammar, ordering, pagination, view types and pandas output."""

from __future__ import annotations

import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from e2e_util import unique_name

BASE_START = 1_700_000_000_000


class Data:
    def __init__(self, client: MlflowClient, exp_id: str, ids: dict[str, str]):
        self.client = client
        self.exp_id = exp_id
        self.ids = ids
        self.names = {v: k for k, v in ids.items()}

    def search(self, filter_string="", order_by=None, run_view_type=ViewType.ACTIVE_ONLY, **kw):
        return self.client.search_runs(
            [self.exp_id], filter_string=filter_string, order_by=order_by, run_view_type=run_view_type, **kw
        )

    def names_of(self, filter_string="", order_by=None, **kw):
        return [self.names[r.info.run_id] for r in self.search(filter_string, order_by, **kw)]


@pytest.fixture(scope="module")
def data(server_url):
    """Five runs with a spread of metrics/params/tags:

    name   acc   loss  lr       opt    env   status
    alpha  0.9   0.1   '0.01'   adam   prod  FINISHED
    beta   0.5   0.4   '0.1'    sgd    dev   FINISHED
    gamma  0.7   -     '0.010'  Adam   Prod  RUNNING
    delta  -     -     -        -      -     FAILED
    eps    0.7   NaN   '1e-3'   sgd    -     FINISHED
    """
    mlflow.set_tracking_uri(server_url)
    client = MlflowClient(server_url)
    exp_id = client.create_experiment(unique_name("search"))
    spec = {
        "alpha": ({"acc": 0.9, "loss": 0.1}, {"lr": "0.01", "opt": "adam"}, {"env": "prod"}, "FINISHED"),
        "beta": ({"acc": 0.5, "loss": 0.4}, {"lr": "0.1", "opt": "sgd"}, {"env": "dev"}, "FINISHED"),
        "gamma": ({"acc": 0.7}, {"lr": "0.010", "opt": "Adam"}, {"env": "Prod"}, None),
        "delta": ({}, {}, {}, "FAILED"),
        "eps": ({"acc": 0.7, "loss": float("nan")}, {"lr": "1e-3", "opt": "sgd"}, {}, "FINISHED"),
    }
    ids = {}
    for i, (name, (metrics, params, tags, status)) in enumerate(spec.items()):
        run = client.create_run(exp_id, start_time=BASE_START + i * 1000, run_name=name)
        rid = run.info.run_id
        ids[name] = rid
        ts = BASE_START + i * 1000
        client.log_batch(
            rid,
            metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status:
            client.set_terminated(rid, status=status, end_time=ts + 500)
    # A deleted run that must never show up in ACTIVE_ONLY searches.
    deleted = client.create_run(exp_id, start_time=BASE_START + 10_000, run_name="zombie")
    client.log_batch(deleted.info.run_id, metrics=[Metric("acc", 0.9, BASE_START, 0)], params=[Param("lr", "0.01")])
    client.delete_run(deleted.info.run_id)
    ids["zombie"] = deleted.info.run_id
    return Data(client, exp_id, ids)


def S(*names):
    return sorted(names)


@pytest.mark.parametrize(
    "flt, expected",
    [
        # metrics: every comparator; != only matches runs that have the key
        ("metrics.acc = 0.9", S("alpha")),
        ("metrics.acc != 0.9", S("beta", "gamma", "eps")),
        ("metrics.acc < 0.7", S("beta")),
        ("metrics.acc <= 0.7", S("beta", "gamma", "eps")),
        ("metrics.acc > 0.7", S("alpha")),
        ("metrics.acc >= 0.7", S("alpha", "gamma", "eps")),
        ("metrics.acc >= 0.5 AND metrics.loss < 0.2", S("alpha")),
        ("metric.acc = 0.5", S("beta")),
        ("metrics.`acc` = 0.5", S("beta")),
        ('metrics."acc" = 0.5', S("beta")),
        ("metrics.acc > -1e9", S("alpha", "beta", "gamma", "eps")),
        ("metrics.nonexistent > 0", []),
        # params: strings, exact compare
        ("params.lr = '0.01'", S("alpha")),
        ('params.lr = "0.01"', S("alpha")),
        ("params.lr != '0.01'", S("beta", "gamma", "eps")),
        ("params.opt LIKE 'a%'", S("alpha")),
        ("params.opt LIKE 'A%'", S("gamma")),
        ("params.opt ILIKE 'a%'", S("alpha", "gamma")),
        ("params.lr LIKE '0.0_'", S("alpha")),
        ("params.lr LIKE '%1%'", S("alpha", "beta", "gamma", "eps")),
        ("params.lr LIKE '0.%1'", S("alpha", "beta")),
        ("param.opt = 'sgd'", S("beta", "eps")),
        ("parameters.opt = 'sgd'", S("beta", "eps")),
        ("params.lr IS NULL", S("delta")),
        ("params.lr IS NOT NULL", S("alpha", "beta", "gamma", "eps")),
        # tags
        ("tags.env = 'prod'", S("alpha")),
        ("tags.env != 'prod'", S("beta", "gamma")),
        ("tags.env LIKE 'prod'", S("alpha")),
        ("tags.env ILIKE 'prod'", S("alpha", "gamma")),
        ("tags.env ILIKE 'P%'", S("alpha", "gamma")),
        ("tag.env = 'dev'", S("beta")),
        ("tags.env IS NULL", S("delta", "eps")),
        ("tags.env IS NOT NULL", S("alpha", "beta", "gamma")),
        ("tags.`mlflow.runName` = 'gamma'", S("gamma")),
        ("tags.mlflow.runName = 'gamma'", S("gamma")),
        # attributes
        ("attributes.run_name = 'beta'", S("beta")),
        ("run_name = 'beta'", S("beta")),
        ("attributes.run_name LIKE '%a'", S("alpha", "beta", "gamma", "delta")),
        ("attributes.run_name ILIKE 'ALP%'", S("alpha")),
        ("attributes.run_name != 'beta'", S("alpha", "gamma", "delta", "eps")),
        ("attributes.status = 'FINISHED'", S("alpha", "beta", "eps")),
        ("attributes.status = 'RUNNING'", S("gamma")),
        ("attributes.status != 'FINISHED'", S("gamma", "delta")),
        ("status = 'FAILED'", S("delta")),
        (f"attributes.start_time > {BASE_START + 1500}", S("gamma", "delta", "eps")),
        (f"attributes.start_time >= {BASE_START + 1000}", S("beta", "gamma", "delta", "eps")),
        (f"attributes.start_time < {BASE_START + 1000}", S("alpha")),
        (f"attributes.start_time = {BASE_START + 2000}", S("gamma")),
        (f"attributes.end_time > {BASE_START}", S("alpha", "beta", "delta", "eps")),
        # combined
        ("params.opt = 'sgd' AND metrics.acc > 0.6", S("eps")),
        ("params.opt = 'sgd' and tags.env = 'dev'", S("beta")),
        ("attributes.status = 'FINISHED' AND params.lr != '0.1' AND metrics.acc >= 0.7", S("alpha", "eps")),
    ],
)
def test_filter(data, flt, expected):
    assert sorted(data.names_of(flt)) == expected


def test_run_id_in_and_not_in(data):
    a, b = data.ids["alpha"], data.ids["beta"]
    assert sorted(data.names_of(f"attributes.run_id IN ('{a}', '{b}')")) == ["alpha", "beta"]
    assert sorted(data.names_of(f"attributes.run_id NOT IN ('{a}', '{b}')")) == ["delta", "eps", "gamma"]
    assert data.names_of(f"attributes.run_id = '{a}'") == ["alpha"]
    # A deleted run id is not returned by ACTIVE_ONLY even when named.
    z = data.ids["zombie"]
    assert data.names_of(f"attributes.run_id IN ('{z}')") == []


def test_default_order_is_start_time_desc(data):
    assert data.names_of() == ["eps", "delta", "gamma", "beta", "alpha"]


def test_order_by_metric_missing_last_both_ways(data):
    asc = data.names_of(order_by=["metrics.acc ASC"])
    desc = data.names_of(order_by=["metrics.acc DESC"])
    # gamma and eps tie at 0.7: tie broken by start_time DESC (eps newer).
    assert asc == ["beta", "eps", "gamma", "alpha", "delta"]
    assert desc == ["alpha", "eps", "gamma", "beta", "delta"]


def test_order_by_metric_nan_after_values_before_missing(data):
    assert data.names_of(order_by=["metrics.loss ASC"]) == ["alpha", "beta", "eps", "delta", "gamma"]
    assert data.names_of(order_by=["metrics.loss DESC"])[:2] == ["beta", "alpha"]
    # NaN sorts after real values; missing values last.
    desc = data.names_of(order_by=["metrics.loss DESC"])
    assert set(desc[-2:]) == {"delta", "gamma"}


def test_order_by_param_and_attribute(data):
    # String order; run without the param last.
    assert data.names_of(order_by=["params.lr ASC"]) == ["alpha", "gamma", "beta", "eps", "delta"]
    assert data.names_of(order_by=["params.lr DESC"]) == ["eps", "beta", "gamma", "alpha", "delta"]
    assert data.names_of(order_by=["attributes.run_name ASC"]) == ["alpha", "beta", "delta", "eps", "gamma"]
    assert data.names_of(order_by=["attributes.start_time ASC"]) == ["alpha", "beta", "gamma", "delta", "eps"]
    assert data.names_of(order_by=["params.opt ASC", "metrics.acc DESC"]) == ["gamma", "alpha", "eps", "beta", "delta"]


def test_pagination_no_dups_no_gaps(data):
    all_ids = [r.info.run_id for r in data.search(order_by=["attributes.start_time ASC"])]
    seen, token, pages = [], None, 0
    while True:
        page = data.search(order_by=["attributes.start_time ASC"], max_results=2, page_token=token)
        pages += 1
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
        assert pages < 10
    assert seen == all_ids
    assert pages == 3
    # Exactly one full page: no token.
    page = data.search(max_results=5)
    assert len(page) == 5
    assert not page.token


def test_view_types(data):
    assert data.names_of(run_view_type=ViewType.DELETED_ONLY) == ["zombie"]
    assert sorted(data.names_of(run_view_type=ViewType.ALL)) == sorted(data.ids)
    assert sorted(data.names_of("params.lr = '0.01'", run_view_type=ViewType.ALL)) == ["alpha", "zombie"]


@pytest.mark.parametrize(
    "bad",
    [
        "metrics.acc = 'high'",  # quoted value for a metric
        "params.lr = 0.01",  # unquoted value for a param
        "metrics.acc > 0.5 OR metrics.acc < 0.1",
        "metrics.acc >",
        "foo.bar = 1",
        "attributes.nonsense = 'x'",
        "metrics.acc LIKE '0.9'",
        "params.lr ~ '1'",
    ],
)
def test_bad_filter_is_invalid_parameter_value(data, bad):
    with pytest.raises(MlflowException) as ei:
        data.search(bad)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert ei.value.get_http_status_code() == 400


def test_bad_order_by_is_invalid_parameter_value(data):
    with pytest.raises(MlflowException) as ei:
        data.search(order_by=["metrics.acc SIDEWAYS"])
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_runs_pandas(data):
    df = mlflow.search_runs(experiment_ids=[data.exp_id], order_by=["attributes.start_time ASC"])
    assert list(df["run_id"]) == [data.ids[n] for n in ["alpha", "beta", "gamma", "delta", "eps"]]
    for col in [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
        "metrics.acc",
        "metrics.loss",
        "params.lr",
        "params.opt",
        "tags.env",
        "tags.mlflow.runName",
    ]:
        assert col in df.columns, (col, list(df.columns))
    row = df.set_index("tags.mlflow.runName")
    assert row.loc["alpha", "metrics.acc"] == 0.9
    assert row.loc["beta", "params.lr"] == "0.1"
    assert row.loc["gamma", "tags.env"] == "Prod"
    assert row.loc["delta", "status"] == "FAILED"
    assert row.loc["gamma", "status"] == "RUNNING"
    assert (df["experiment_id"] == data.exp_id).all()
    # Filtered to pandas.
    df2 = mlflow.search_runs(experiment_ids=[data.exp_id], filter_string="params.opt = 'sgd'")
    assert sorted(df2["tags.mlflow.runName"]) == ["beta", "eps"]
    # By experiment name.
    name = data.client.get_experiment(data.exp_id).name
    df3 = mlflow.search_runs(experiment_names=[name], run_view_type=ViewType.DELETED_ONLY)
    assert list(df3["run_id"]) == [data.ids["zombie"]]


def test_search_across_experiments(ctx, data):
    with mlflow.start_run(experiment_id=ctx.experiment_id) as run:
        mlflow.log_param("lr", "0.01")
    got = ctx.client.search_runs([ctx.experiment_id, data.exp_id], "params.lr = '0.01'")
    assert {r.info.run_id for r in got} == {run.info.run_id, data.ids["alpha"]}


def test_search_many_runs_pagination(ctx):
    n = 45
    for i in range(n):
        ctx.client.create_run(ctx.experiment_id, start_time=BASE_START + i, run_name=f"r{i:03d}")
    seen, token = [], None
    while True:
        page = ctx.client.search_runs([ctx.experiment_id], max_results=10, page_token=token, order_by=["run_name DESC"])
        seen += [r.info.run_name for r in page]
        token = page.token
        if not token:
            break
    assert seen == [f"r{i:03d}" for i in reversed(range(n))]
    t0 = time.time()
    df = mlflow.search_runs([ctx.experiment_id], max_results=20)
    assert len(df) == 20
    assert time.time() - t0 < 30
