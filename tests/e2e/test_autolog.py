"""sklearn autologging: params, metrics, tags, dataset input, logged model, and model loading."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
import mlflow.sklearn  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


@pytest.fixture
def autolog():
    mlflow.sklearn.autolog(log_input_examples=False, silent=True)
    yield
    mlflow.sklearn.autolog(disable=True)


def test_sklearn_autolog_round_trip(ctx, autolog, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = LogisticRegression(C=0.5, max_iter=200)
    with mlflow.start_run() as run:
        model.fit(X, y)
    run_id = run.info.run_id

    r = ctx.client.get_run(run_id)
    assert r.info.status == "FINISHED"
    assert r.data.params["C"] == "0.5"
    assert r.data.params["max_iter"] == "200"
    assert "training_accuracy_score" in r.data.metrics
    assert 0.5 <= r.data.metrics["training_accuracy_score"] <= 1.0
    assert r.data.tags["estimator_name"] == "LogisticRegression"
    assert r.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert len(r.inputs.dataset_inputs) >= 1

    # The logged model (MLflow 3 logged models).
    lm = mlflow.last_logged_model()
    assert lm is not None
    assert lm.model_id.startswith("m-")
    assert lm.source_run_id == run_id
    assert lm.experiment_id == ctx.experiment_id
    assert str(lm.status).endswith("READY")
    found = mlflow.search_logged_models(experiment_ids=[ctx.experiment_id], output_format="list")
    assert [m.model_id for m in found] == [lm.model_id]
    # Training metrics are linked to the model as well.
    assert any(m.key == "training_accuracy_score" for m in (lm.metrics or []))
    # The run lists the model among its outputs.
    assert [o.model_id for o in r.outputs.model_outputs] == [lm.model_id]

    loaded = mlflow.sklearn.load_model(f"models:/{lm.model_id}")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    # The artifacts live under the model's own artifact location.
    assert lm.artifact_location.endswith(f"/models/{lm.model_id}/artifacts")
    names = {a.path.rsplit("/", 1)[-1] for a in mlflow.artifacts.list_artifacts(artifact_uri=lm.artifact_location)}
    assert {"MLmodel", "model.pkl"} <= names
