"""Dataset inputs: log_input, run.inputs, and datasets.* search filters."""

from __future__ import annotations

import mlflow
import mlflow.data
import pandas as pd

from e2e_util import get


def _df() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0], "name": ["a", "b", "c"]})


def test_log_input_and_search_by_dataset(ctx):
    ds = mlflow.data.from_pandas(_df(), name="train_ds")
    ev = mlflow.data.from_pandas(_df().head(2), name="eval_ds")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training", tags={"split": "train"})
        mlflow.log_input(ev, context="eval")
    with mlflow.start_run() as other:
        mlflow.log_param("unrelated", "1")

    r = ctx.client.get_run(run.info.run_id)
    inputs = {di.dataset.name: di for di in r.inputs.dataset_inputs}
    assert set(inputs) == {"train_ds", "eval_ds"}
    train = inputs["train_ds"]
    assert train.dataset.digest == ds.digest
    assert train.dataset.source_type == ds.source.__class__._get_source_type()
    assert train.dataset.schema and "x" in train.dataset.schema
    assert train.dataset.profile and "num_rows" in train.dataset.profile
    tags = {t.key: t.value for t in train.tags}
    assert tags["mlflow.data.context"] == "training"
    assert tags["split"] == "train"
    assert {t.key: t.value for t in inputs["eval_ds"].tags}["mlflow.data.context"] == "eval"
    assert ctx.client.get_run(other.info.run_id).inputs.dataset_inputs == []

    def found(flt):
        return [x.info.run_id for x in ctx.client.search_runs([ctx.experiment_id], flt)]

    assert found("datasets.name = 'train_ds'") == [run.info.run_id]
    assert found("datasets.name = 'nope_ds'") == []
    assert found(f"datasets.digest = '{ds.digest}'") == [run.info.run_id]
    assert found("datasets.context = 'training'") == [run.info.run_id]
    assert found("datasets.name LIKE 'train%'") == [run.info.run_id]
    assert found("datasets.name IN ('eval_ds', 'zzz')") == [run.info.run_id]
    assert found("dataset.name = 'eval_ds' AND params.unrelated = '1'") == []


def test_log_same_dataset_twice_is_deduplicated(ctx):
    ds = mlflow.data.from_pandas(_df(), name="dup_ds")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
        mlflow.log_input(ds, context="training")
    r = ctx.client.get_run(run.info.run_id)
    assert [di.dataset.name for di in r.inputs.dataset_inputs] == ["dup_ds"]


def test_dataset_inputs_on_the_wire(ctx):
    ds = mlflow.data.from_pandas(_df(), name="wire_ds")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
    body = get(f"{ctx.api}/runs/get", {"run_id": run.info.run_id}).json()
    (di,) = body["run"]["inputs"]["dataset_inputs"]
    assert di["dataset"]["name"] == "wire_ds"
    assert di["dataset"]["digest"] == ds.digest
    assert {"key": "mlflow.data.context", "value": "training"} in di["tags"]
