"""The model registry through the official client: register, version, stage, alias, load by alias."""

from __future__ import annotations

import json

import mlflow
import mlflow.pyfunc
import pytest
import requests
from mlflow.exceptions import MlflowException

from e2e_util import is_cairn, unique_name


class Doubler(mlflow.pyfunc.PythonModel):
    def __init__(self, factor: float = 2.0):
        self.factor = factor

    def predict(self, context, model_input, params=None):
        return [value * self.factor for value in model_input["x"]]


def _log_pyfunc(factor: float) -> tuple[str, str]:
    """A run with a logged pyfunc model named `model`; returns (run id, logged model id)."""
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(factor), pip_requirements=["mlflow"])
    return run.info.run_id, info.model_id


def _predict(uri: str) -> list[float]:
    import pandas as pd

    return list(mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"x": [1.0, 2.0]})))


def test_register_and_load_by_alias(ctx):
    name = unique_name("doubler")
    run_id, model_id = _log_pyfunc(2.0)
    first = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert first.version == "1"
    assert first.run_id == run_id
    if is_cairn():
        # The client does not read `model_id` back; Cairn's answers carry it (MLflow's do not).
        wire = requests.get(f"{ctx.api}/model-versions/get", params={"name": name, "version": "1"}, timeout=30).json()[
            "model_version"
        ]
        assert wire["model_id"] == model_id
    assert first.source == f"models:/{model_id}"
    assert first.status == "READY"

    _, second_model = _log_pyfunc(3.0)
    second = mlflow.register_model(f"models:/{second_model}", name, tags={"quality": "good"})
    assert second.version == "2"
    assert second.tags == {"quality": "good"}

    client = ctx.client
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "2")
    assert _predict(f"models:/{name}@champion") == [2.0, 4.0]
    assert _predict(f"models:/{name}@challenger") == [3.0, 6.0]
    assert _predict(f"models:/{name}/1") == [2.0, 4.0]
    assert _predict(f"models:/{name}/latest") == [3.0, 6.0]

    # Moving the alias changes what the same URI loads.
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert _predict(f"models:/{name}@champion") == [3.0, 6.0]
    model = client.get_registered_model(name)
    assert model.aliases == {"champion": "2", "challenger": "2"}
    assert sorted(client.get_model_version(name, "2").aliases) == ["challenger", "champion"]

    # The logged model lists the versions that register it.
    tagged = json.loads(client.get_logged_model(model_id).tags["mlflow.modelVersions"])
    assert {"name": name, "version": 1} in tagged or {"name": name, "version": "1"} in tagged
    uri = client.get_model_version_download_uri(name, "1")
    assert uri == client.get_logged_model(model_id).artifact_location


def test_registered_model_crud_and_search(ctx):
    client = ctx.client
    prefix = unique_name("crud")
    names = [f"{prefix}-{suffix}" for suffix in ("b", "a", "c")]
    for index, name in enumerate(names):
        client.create_registered_model(name, tags={"team": "risk" if index != 1 else "growth"}, description="d")
    model = client.get_registered_model(names[0])
    assert model.description == "d"
    assert model.tags == {"team": "risk"}

    client.update_registered_model(names[0], description="better")
    assert client.get_registered_model(names[0]).description == "better"
    client.set_registered_model_tag(names[0], "stage", "beta")
    client.delete_registered_model_tag(names[0], "team")
    assert client.get_registered_model(names[0]).tags == {"stage": "beta"}

    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")
    assert [m.name for m in found] == sorted(names)
    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%' AND tags.team = 'risk'")
    assert [m.name for m in found] == [names[2]]
    page = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"], max_results=2
    )
    assert [m.name for m in page] == [names[2], names[0]]
    rest = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"], max_results=2, page_token=page.token
    )
    assert [m.name for m in rest] == [names[1]]
    assert not rest.token

    renamed = f"{prefix}-renamed"
    client.rename_registered_model(names[1], renamed)
    with pytest.raises(MlflowException) as error:
        client.get_registered_model(names[1])
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model(renamed)
    assert [m.name for m in client.search_registered_models(filter_string=f"name = '{renamed}'")] == []


def test_versions_stages_and_aliases(ctx):
    client = ctx.client
    name = unique_name("staged")
    client.create_registered_model(name)
    runs = []
    for index in range(3):
        with mlflow.start_run() as run:
            mlflow.log_text("weights", "model/weights.txt")
            mlflow.log_text("flavors: {}\n", "model/MLmodel")
        runs.append(run.info.run_id)
        source = f"{run.info.artifact_uri}/model"
        version = client.create_model_version(name, source, run_id=run.info.run_id, description=f"v{index}")
        assert version.version == str(index + 1)
        assert version.current_stage == "None"
        assert version.source == source

    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "staging")
    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"None": "3", "Staging": "2", "Production": "1"}
    client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
    stages = [client.get_model_version(name, str(v)).current_stage for v in (1, 2, 3)]
    assert stages == ["Archived", "Staging", "Production"]
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["3"]

    client.update_model_version(name, "2", description="second")
    client.set_model_version_tag(name, "2", "validated", "yes")
    version = client.get_model_version(name, "2")
    assert (version.description, version.tags) == ("second", {"validated": "yes"})
    client.delete_model_version_tag(name, "2", "validated")
    assert client.get_model_version(name, "2").tags == {}

    found = client.search_model_versions(f"name = '{name}' AND run_id = '{runs[1]}'")
    assert [v.version for v in found] == ["2"]
    found = client.search_model_versions(f"run_id IN ('{runs[0]}', '{runs[2]}')", order_by=["version_number ASC"])
    assert [v.version for v in found] == ["1", "3"]

    # A version registered from the run's artifact folder downloads through the artifact proxy.
    local = mlflow.artifacts.download_artifacts(f"models:/{name}/2")
    with open(f"{local}/weights.txt") as handle:
        assert handle.read() == "weights"

    client.set_registered_model_alias(name, "champion", "3")
    client.delete_model_version(name, "3")
    with pytest.raises(MlflowException) as error:
        client.get_model_version_by_alias(name, "champion")
    # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE.
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).aliases == {}
    assert client.create_model_version(name, f"runs:/{runs[0]}/model", run_id=runs[0]).version == "4"


def _error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("error_code", "")


def test_registry_bad_input_is_refused_and_changes_nothing(ctx, api):
    name = unique_name("bad")
    with mlflow.start_run() as run:
        mlflow.log_text("x", "model/MLmodel")
    other_run = mlflow.start_run()
    mlflow.end_run()
    requests.post(f"{api}/registered-models/create", json={"name": name}, timeout=30).raise_for_status()
    good = {"name": name, "source": f"{run.info.artifact_uri}/model", "run_id": run.info.run_id}
    requests.post(f"{api}/model-versions/create", json=good, timeout=30).raise_for_status()

    cases = [
        ("post", "registered-models/create", {"name": name}, (400, "RESOURCE_ALREADY_EXISTS")),
        ("post", "registered-models/create", {"name": "a/b"}, (400, "INVALID_PARAMETER_VALUE")),
        ("post", "registered-models/create", {}, (400, "INVALID_PARAMETER_VALUE")),
        ("get", "registered-models/get", {"name": unique_name("missing")}, (404, "RESOURCE_DOES_NOT_EXIST")),
        ("get", "model-versions/get", {"name": name, "version": "9"}, (404, "RESOURCE_DOES_NOT_EXIST")),
        ("get", "model-versions/get", {"name": name, "version": "x"}, (400, "INVALID_PARAMETER_VALUE")),
        (
            "post",
            "model-versions/transition-stage",
            {"name": name, "version": "1", "stage": "Prod"},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "post",
            "registered-models/alias",
            {"name": name, "alias": "latest", "version": "1"},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "post",
            "registered-models/alias",
            {"name": name, "alias": "v1", "version": "1"},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "post",
            "registered-models/alias",
            {"name": name, "alias": "a b", "version": "1"},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "post",
            "registered-models/alias",
            {"name": name, "alias": "ok", "version": "7"},
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        ("get", "registered-models/alias", {"name": name, "alias": "nope"}, (400, "INVALID_PARAMETER_VALUE")),
        (
            "post",
            "model-versions/create",
            {**good, "source": f"{run.info.artifact_uri}/../../other"},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "post",
            "model-versions/create",
            {**good, "run_id": other_run.info.run_id},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "post",
            "model-versions/create",
            {"name": name, "source": f"runs:/{run.info.run_id}/model", "run_id": other_run.info.run_id},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        ("post", "model-versions/create", {"name": name, "source": "/tmp/model"}, (400, "INVALID_PARAMETER_VALUE")),
        ("get", "registered-models/search", {"filter": "metrics.a > 1"}, (400, "INVALID_PARAMETER_VALUE")),
        ("get", "registered-models/search", {"max_results": "5000"}, (400, "INVALID_PARAMETER_VALUE")),
        ("get", "model-versions/search", {"filter": "version_number = 'one'"}, (400, "INVALID_PARAMETER_VALUE")),
        ("get", "model-versions/search", {"order_by": "tags.x"}, (400, "INVALID_PARAMETER_VALUE")),
    ]
    if is_cairn():
        # MLflow's own server answers this with a 500; a user mistake is a 400 here.
        archive = {"name": name, "version": "1", "stage": "Archived", "archive_existing_versions": True}
        cases.append(("post", "model-versions/transition-stage", archive, (400, "INVALID_PARAMETER_VALUE")))
    failures = []
    for method, route, body, expected in cases:
        if method == "get":
            response = requests.get(f"{api}/{route}", params=body, timeout=30)
        else:
            response = requests.post(f"{api}/{route}", json=body, timeout=30)
        if _error(response) != expected:
            failures.append((route, body, response.status_code, response.text[:300]))
    assert failures == []

    # Nothing changed: one version, in stage None, no aliases.
    model = requests.get(f"{api}/registered-models/get", params={"name": name}, timeout=30).json()
    assert [v["version"] for v in model["registered_model"]["latest_versions"]] == ["1"]
    assert model["registered_model"]["latest_versions"][0]["current_stage"] == "None"
    assert "aliases" not in model["registered_model"]
