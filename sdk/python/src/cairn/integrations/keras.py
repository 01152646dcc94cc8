"""A Keras callback that writes to Cairn (Keras 3 on any backend, or ``tf.keras``).

::

    from cairn.integrations.keras import CairnKerasCallback

    model.fit(x, y, epochs=10, validation_split=0.1, callbacks=[CairnKerasCallback(project="mnist")])

When training begins the run gets ``fit``'s parameters (``epochs``, ``steps``…) and the
optimizer's config (``optimizer.*``) as config. At each epoch's end the epoch logs (``loss``,
``val_loss``, metrics…) are logged at ``step=epoch``; ``log_every_n_batches=N`` also logs the
batch logs every N batches as ``batch/<name>`` at the global batch number. A run the callback
started is finished when training ends.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

try:
    import keras
except ImportError:  # Keras 2 inside TensorFlow
    from tensorflow import keras

from ..runs import Run
from . import log_config, metric_values, start_run

log = logging.getLogger("cairn.integrations")

BATCH_PREFIX = "batch/"


class CairnKerasCallback(keras.callbacks.Callback):
    """Logs a Keras ``fit``'s parameters and metrics to Cairn."""

    def __init__(
        self,
        run: Run | None = None,
        *,
        log_every_n_batches: int | None = None,
        log_params: bool = True,
        project: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        **init_kwargs: Any,
    ):
        """``run``: log into this run. Otherwise the current Cairn run is used, or a new one
        is started with ``project``, ``name``, ``tags`` and ``init_kwargs`` (``url``,
        ``mode``, ``dir``…)."""
        super().__init__()
        if log_every_n_batches is not None and log_every_n_batches < 1:
            raise ValueError("log_every_n_batches must be at least 1")
        self._given_run = run
        self._init_kwargs: dict[str, Any] = {"project": project, "name": name, "tags": tags, **init_kwargs}
        self._every = log_every_n_batches
        self._log_params = log_params
        self._run: Run | None = None
        self._owns_run = False
        self._batches = 0

    @property
    def run(self) -> Run | None:
        """The run being logged into (None before training begins)."""
        return self._run

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._run is None or self._run._finished:
            self._run, self._owns_run = start_run(self._given_run, self._init_kwargs)
            self._batches = 0
        if self._log_params:
            log_config(self._run, self._params())

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {k: v for k, v in (self.params or {}).items() if k != "verbose"}
        model = getattr(self, "model", None)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            try:
                config = dict(optimizer.get_config())
            except Exception:  # noqa: BLE001 — an optimizer without a config is not fatal
                config = {}
            config.setdefault("name", type(optimizer).__name__)
            params["optimizer"] = config
        if model is not None:
            try:
                params["model.num_params"] = int(model.count_params())
            except Exception:  # noqa: BLE001 — an unbuilt model has no parameter count
                pass
        return params

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._run is None or not logs:
            return
        values = metric_values(logs)
        if values:
            self._run.log(values, step=int(epoch))

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._every is None or self._run is None:
            return
        self._batches += 1
        if self._batches % self._every == 0 and logs:
            values = metric_values(logs, BATCH_PREFIX)
            if values:
                self._run.log(values, step=self._batches)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._run is not None and self._owns_run and not self._run._finished:
            self._run.finish()
