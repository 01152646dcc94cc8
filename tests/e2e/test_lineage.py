"""Lineage of what the official client logs (datasets, nested runs, logged and registered
models), forks over HTTP, and the registry's native read routes."""

from __future__ import annotations

import mlflow
import mlflow.data
import mlflow.pyfunc
import pandas as pd
import pytest
import requests

from e2e_util import is_mlflow, unique_name

pytestmark = pytest.mark.skipif(is_mlflow(), reason="Cairn's native API")


class Identity(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def _lineage(url: str, node: str, **params) -> tuple[dict[str, dict], set[tuple[str, str, str]]]:
    response = requests.get(f"{url}/api/v1/lineage", params={"node": node, **params}, timeout=30)
    response.raise_for_status()
    answer = response.json()
    return {n["id"]: n for n in answer["nodes"]}, {(e["from"], e["relation"], e["to"]) for e in answer["edges"]}


def test_registered_version_traces_back_to_its_data(ctx):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame, source="s3://bucket/train.parquet", name="train")
    with mlflow.start_run(run_name="sweep") as parent:
        with mlflow.start_run(run_name="trial", nested=True) as child:
            mlflow.log_input(dataset, context="training")
            info = mlflow.pyfunc.log_model(name="model", python_model=Identity(), pip_requirements=["mlflow"])
    name = unique_name("traced")
    mlflow.register_model(f"models:/{info.model_id}", name)

    nodes, edges = _lineage(ctx.url, f"model_version:{name}/1", direction="upstream", depth=5)
    data = f"dataset:train@{dataset.digest}"
    assert (f"model:{info.model_id}", "registered_as", f"model_version:{name}/1") in edges
    assert (f"run:{child.info.run_id}", "output", f"model:{info.model_id}") in edges
    assert (data, "input", f"run:{child.info.run_id}") in edges
    assert (f"run:{parent.info.run_id}", "parent_of", f"run:{child.info.run_id}") in edges
    assert nodes[f"run:{child.info.run_id}"]["label"] == "trial"
    assert nodes[f"run:{child.info.run_id}"]["experiment_id"] == ctx.experiment_id
    assert nodes[data]["label"] == "train"
    assert nodes[f"model_version:{name}/1"]["label"] == f"{name} v1"

    # Downstream from the data: every run that used this version of it, and what they made.
    nodes, edges = _lineage(ctx.url, data, direction="downstream", depth=3)
    assert {f"run:{child.info.run_id}", f"model:{info.model_id}", f"model_version:{name}/1"} <= set(nodes)
    # Only runs and data: the walk does not step onto models or files.
    nodes, _ = _lineage(ctx.url, data, direction="downstream", depth=3, kinds="run,dataset")
    assert set(nodes) == {data, f"run:{child.info.run_id}"}
    bad = requests.get(f"{ctx.url}/api/v1/lineage", params={"node": data, "kinds": "run,bogus"}, timeout=30)
    assert bad.status_code == 400 and "bogus" in bad.json()["message"]
    # The model's files hang off the model; a depth of 1 stops before them.
    nodes, _ = _lineage(ctx.url, f"run:{child.info.run_id}", direction="downstream", depth=1)
    assert not any(n.startswith("artifact:") for n in nodes)
    nodes, _ = _lineage(ctx.url, f"run:{child.info.run_id}", direction="downstream", depth=2)
    assert any(n.startswith("artifact:") for n in nodes)
    answer = requests.get(
        f"{ctx.url}/api/v1/lineage", params={"node": f"run:{child.info.run_id}", "max_nodes": 3}, timeout=30
    ).json()
    assert len(answer["nodes"]) == 3 and answer["truncated"] is True


def test_registry_native_reads(ctx):
    name = unique_name("listed")
    client = ctx.client
    client.create_registered_model(name, tags={"team": "risk"}, description="d")
    with mlflow.start_run() as run:
        mlflow.log_text("x", "model/MLmodel")
    for _ in range(3):
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(name, "champion", "2")

    answer = requests.get(f"{ctx.url}/api/v1/registered-models/{name}", timeout=30).json()
    assert [v["version"] for v in answer["versions"]] == ["3", "2", "1"]
    assert answer["registered_model"]["aliases"] == [{"alias": "champion", "version": "2"}]
    assert answer["versions"][1]["aliases"] == ["champion"]
    listed = requests.get(
        f"{ctx.url}/api/v1/registered-models", params={"filter": f"name = '{name}'"}, timeout=30
    ).json()
    assert [m["name"] for m in listed["registered_models"]] == [name]
    missing = requests.get(f"{ctx.url}/api/v1/registered-models/{unique_name('nope')}", timeout=30)
    assert missing.status_code == 404
    bad = requests.get(f"{ctx.url}/api/v1/registered-models", params={"filter": "nope = 1"}, timeout=30)
    assert bad.status_code == 400


def test_fork_over_http(ctx):
    with mlflow.start_run(run_name="source") as source:
        mlflow.log_params({"lr": 0.1})
        mlflow.set_tag("team", "risk")
        for step in range(6):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    url = f"{ctx.url}/api/v1/runs/{source.info.run_id}/fork"
    new_id = "f" * 31 + "1"
    created = requests.post(url, json={"step": 2, "run_id": new_id}, timeout=30)
    assert created.status_code == 201, created.text
    again = requests.post(url, json={"step": 2, "run_id": new_id}, timeout=30)
    assert again.status_code == 200 and again.json()["created"] is False
    fork = ctx.client.get_run(new_id)
    assert fork.data.params == {"lr": "0.1"}
    assert fork.data.tags["team"] == "risk"
    assert fork.data.tags["cairn.fork.from"] == source.info.run_id
    history = ctx.client.get_metric_history(new_id, "loss")
    assert [m.step for m in history] == [0, 1, 2]

    # The id of a run that is not this fork, an unknown source, a missing step.
    other = requests.post(url, json={"step": 2, "run_id": source.info.run_id}, timeout=30)
    assert other.status_code == 409
    unknown = requests.post(f"{ctx.url}/api/v1/runs/{'9' * 32}/fork", json={"step": 1}, timeout=30)
    assert unknown.status_code == 404
    missing = requests.post(url, json={}, timeout=30)
    assert missing.status_code == 400
    # Nothing but the one fork was created.
    runs = ctx.client.search_runs([ctx.experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted([source.info.run_id, new_id])
