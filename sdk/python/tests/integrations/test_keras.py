"""``CairnKerasCallback`` on a real Keras 3 model (torch backend, a tiny Dense network, 2
epochs, CPU) against a real server."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
keras = pytest.importorskip("keras")


from cairn import autolog  # noqa: E402
from cairn.integrations.keras import CairnKerasCallback  # noqa: E402


def tiny_model(learning_rate: float = 0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse", metrics=["mae"])
    return model


def data():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def test_epoch_and_batch_metrics_and_params(project):
    x, y = data()
    callback = CairnKerasCallback(log_every_n_batches=2, name="tiny-dense")
    tiny_model().fit(x, y, epochs=2, batch_size=16, validation_split=0.25, callbacks=[callback], verbose=0)

    run = project.only_run()
    assert run.run_id == callback.run.id and run.name == "tiny-dense" and run.status == "FINISHED"
    assert run.params["epochs"] == "2" and run.params["steps"] == "3"
    assert run.params["optimizer.learning_rate"] == "0.01" and run.params["optimizer.name"] == "adam"
    assert run.params["model.num_params"] == str(4 * 8 + 8 + 8 + 1)
    for key in ("loss", "mae", "val_loss", "val_mae"):
        assert project.history(run.run_id, key)[0] == [0, 1], key
    assert project.history(run.run_id, "batch/loss")[0] == [2, 4, 6]


def test_autolog_adds_the_callback_to_fit(project):
    assert "keras" in autolog(lightning=False, transformers=False)
    x, y = data()
    tiny_model(0.02).fit(x, y, epochs=2, batch_size=32, verbose=0)
    run = project.only_run()
    assert run.status == "FINISHED" and run.params["optimizer.learning_rate"] == "0.02"
    assert project.history(run.run_id, "loss")[0] == [0, 1]
    autolog(disable=True)
    tiny_model().fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert len(project.runs()) == 1


def test_autolog_before_import_patches_on_import(run_python):
    out = run_python(
        """
        import sys
        from cairn import autolog
        assert "keras" in autolog(lightning=False, transformers=False)
        assert "keras" not in sys.modules
        import keras
        assert getattr(keras.Model.fit, "__cairn_autolog__", False)
        print("patched")
        """
    )
    assert out.strip() == "patched"
