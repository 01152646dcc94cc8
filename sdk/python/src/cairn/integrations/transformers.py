"""A Hugging Face ``Trainer`` callback that writes to Cairn.

::

    from cairn.integrations.transformers import CairnCallback

    trainer = Trainer(model, args, train_dataset=..., callbacks=[CairnCallback(project="glue")])

When training begins the run gets the ``TrainingArguments`` (``to_sanitized_dict()``) and the
model's config as its config (the arguments win where both have a key, as in Hugging Face's
own integrations). Every ``Trainer.log`` call is logged at ``state.global_step`` with Hugging
Face's names: ``eval_*`` keys become ``eval/*``, ``test_*`` become ``test/*``, everything else
``train/*``. Only the main process logs. A run the callback started is finished when training
ends (logs that come after that, from an ``evaluate()`` after ``train()``, are then dropped with
a warning: start a run with ``cairn.init()`` around both to keep them). ``log_checkpoints=True``
uploads each saved checkpoint folder under ``checkpoints/checkpoint-<step>/``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback

from ..runs import Run
from . import log_config, metric_values, start_run

log = logging.getLogger("cairn.integrations")


def rewrite_logs(logs: Mapping[str, Any]) -> dict[str, Any]:
    """Hugging Face's metric names: ``eval_x`` -> ``eval/x``, ``test_x`` -> ``test/x``, else
    ``train/x``."""
    out: dict[str, Any] = {}
    for key, value in logs.items():
        if key.startswith("eval_"):
            out["eval/" + key[5:]] = value
        elif key.startswith("test_"):
            out["test/" + key[5:]] = value
        else:
            out["train/" + key] = value
    return out


class CairnCallback(TrainerCallback):
    """Logs a ``transformers.Trainer``'s config and metrics to Cairn."""

    def __init__(
        self,
        run: Run | None = None,
        *,
        project: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        log_checkpoints: bool = False,
        **init_kwargs: Any,
    ):
        """``run``: log into this run. Otherwise the current Cairn run is used, or a new one
        is started with ``project``, ``name`` (``args.run_name`` by default), ``tags`` and
        ``init_kwargs`` (``url``, ``mode``, ``dir``…)."""
        self._given_run = run
        self._init_kwargs: dict[str, Any] = {"project": project, "name": name, "tags": tags, **init_kwargs}
        self._log_checkpoints = log_checkpoints
        self._run: Run | None = None
        self._owns_run = False
        self._warned = False

    @property
    def run(self) -> Run | None:
        """The run being logged into (None before training begins)."""
        return self._run

    def _setup(self, args: Any, model: Any) -> Run:
        kwargs = dict(self._init_kwargs)
        if kwargs.get("name") is None:
            run_name = getattr(args, "run_name", None)
            output_dir = getattr(args, "output_dir", None)
            # Older releases default run_name to output_dir: not a useful name.
            if run_name and run_name != output_dir:
                kwargs["name"] = run_name
        self._run, self._owns_run = start_run(self._given_run, kwargs)
        self._warned = False
        config: dict[str, Any] = {}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            try:
                config.update(model_config.to_dict())
            except Exception:  # noqa: BLE001 — a model config that cannot be read is not fatal
                log.debug("cairn: could not read the model config", exc_info=True)
        if hasattr(args, "to_sanitized_dict"):
            config.update(args.to_sanitized_dict())
        log_config(self._run, config)
        return self._run

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self._run is None or self._run._finished:
            self._setup(args, model)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        run = self._run
        if run is None:
            run = self._setup(args, kwargs.get("model"))
        elif run._finished:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cairn: training ended and the callback finished its run %s; later logs (evaluate() after "
                    "train()) are not recorded. Start a run with cairn.init() around both to keep them together.",
                    run.id,
                )
            return
        values = metric_values(rewrite_logs(logs))
        if values:
            run.log(values, step=int(state.global_step))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self._log_checkpoints or not state.is_world_process_zero or self._run is None:
            return
        folder = f"checkpoint-{state.global_step}"
        path = os.path.join(args.output_dir, folder)
        if os.path.isdir(path):
            self._run.log_artifact(path, f"checkpoints/{folder}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._run is None:
            return
        if self._owns_run and not self._run._finished:
            self._run.finish()
