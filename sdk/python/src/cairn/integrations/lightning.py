"""A Lightning logger that writes to Cairn.

::

    from cairn.integrations.lightning import CairnLogger

    trainer = Trainer(logger=CairnLogger(project="mnist", log_model=True))

Works with the ``lightning`` package (``lightning.pytorch``) and with ``pytorch_lightning``:
``CairnLogger`` subclasses the Logger of whichever is installed (``lightning`` first);
:func:`logger_class` gives the class for the other one when both are installed.

Hyperparameters (dict, argparse Namespace, OmegaConf config; nested keys joined with ``.``)
become the run's config, metrics are logged at Lightning's step, and ``finalize`` finishes a run
the logger started (FAILED when training failed). ``log_model=True`` uploads the best and last
checkpoints when training ends, ``"all"`` every checkpoint when it is saved (under
``checkpoints/``).
"""

from __future__ import annotations

import importlib
import logging
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from ..runs import Run
from . import log_config, metric_values, start_run

log = logging.getLogger("cairn.integrations")

CHECKPOINT_FOLDER = "checkpoints"
_classes: dict[str, type] = {}


def _hparams_dict(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if isinstance(params, Namespace):
        return vars(params)
    if type(params).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(params, resolve=True)
    if isinstance(params, Mapping):
        return {k: _hparams_value(v) for k, v in params.items()}
    if hasattr(params, "__dict__"):
        return {k: v for k, v in vars(params).items() if not k.startswith("_")}
    raise TypeError(f"log_hyperparams takes a dict or a Namespace; got {type(params).__name__}")


def _hparams_value(value: Any) -> Any:
    if isinstance(value, Namespace) or type(value).__module__.startswith("omegaconf"):
        return _hparams_dict(value)
    return value


class _CairnLoggerMixin:
    """The logger's behaviour; :func:`logger_class` mixes it into a framework's Logger."""

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        run: Run | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        group: str | None = None,
        prefix: str = "",
        log_model: bool | str = False,
        save_dir: str | None = None,
        finish_on_finalize: bool = True,
        **init_kwargs: Any,
    ):
        """``project``/``name`` and ``init_kwargs`` (``url``, ``mode``, ``dir``…) are for the
        run this logger starts when there is no current Cairn run and ``run`` is not given.
        ``prefix`` is put before every metric key. ``finish_on_finalize=False`` keeps a run the
        logger started open across ``fit``/``test`` calls (it then ends with the process or
        ``logger.experiment.finish()``)."""
        super().__init__()
        if log_model not in (False, True, "all"):
            raise ValueError(f"log_model must be False, True or 'all'; got {log_model!r}")
        self._init_kwargs = {"project": project, "name": name, "tags": tags, "notes": notes, "group": group}
        self._init_kwargs.update(init_kwargs)
        self._project = project
        self._given_run = run
        self._run: Run | None = None
        self._owns_run = False
        self._prefix = prefix
        self._log_model = log_model
        self._save_dir = save_dir
        self._finish_on_finalize = finish_on_finalize
        self._checkpoint_callback: Any = None
        self._logged_checkpoints: dict[str, float] = {}

    # ----- the run -----

    def _ensure_run(self) -> Run:
        if self._run is None:
            self._run, self._owns_run = start_run(self._given_run, self._init_kwargs)
        return self._run

    def _open_run(self) -> Run:
        """The run to log into. Once a run has finished (``finalize`` after ``fit``), later
        logs (``trainer.test()``…) go to a new run that names the first one in its
        ``cairn.continues`` tag."""
        run = self._ensure_run()
        if not run._finished:
            return run
        log.warning(
            "cairn: the Lightning run %s has finished; logging continues in a new run (pass "
            "finish_on_finalize=False, or start a run with cairn.init() around fit and test, to keep one run)",
            run.id,
        )
        self._given_run = None
        kwargs: dict[str, Any] = dict(self._init_kwargs)
        kwargs["mlflow_tags"] = {**(kwargs.get("mlflow_tags") or {}), "cairn.continues": run.id}
        self._run, self._owns_run = start_run(None, kwargs)
        return self._run

    @property
    def experiment(self) -> Run:
        """The Cairn run (started on first use)."""
        return self._ensure_run()

    @property
    def name(self) -> str:
        if self._run is not None and self._run.project:
            return self._run.project
        return self._project or os.environ.get("CAIRN_PROJECT") or "cairn"

    @property
    def version(self) -> str | None:
        run = self._run if self._run is not None else self.experiment
        run_id = getattr(run, "id", None)
        return run_id if isinstance(run_id, str) else None

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    # ----- logging -----

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        log_config(self._open_run(), _hparams_dict(params))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        prefix = f"{self._prefix}{getattr(self, 'group_separator', '/')}" if self._prefix else ""
        values = metric_values(metrics, prefix)
        if values:
            self._open_run().log(values, step=step)

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        pass

    def save(self) -> None:
        """Nothing to flush: points are sent in the background."""

    # ----- checkpoints -----

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self._checkpoint_callback = checkpoint_callback
        if self._log_model == "all":
            self._upload_checkpoints(checkpoint_callback)

    def _upload_checkpoints(self, callback: Any) -> None:
        paths = [getattr(callback, "best_model_path", ""), getattr(callback, "last_model_path", "")]
        if self._log_model == "all":
            paths += list(getattr(callback, "best_k_models", {}) or {})
        run = self.experiment
        for path in dict.fromkeys(p for p in paths if p):
            path = os.fspath(path)
            if not os.path.isfile(path):
                continue
            stamp = os.path.getmtime(path)
            if self._logged_checkpoints.get(path) == stamp:
                continue
            run.log_artifact(path, CHECKPOINT_FOLDER)
            self._logged_checkpoints[path] = stamp
        best = getattr(callback, "best_model_path", "")
        if best:
            run.set_tag("cairn.best_checkpoint", f"{CHECKPOINT_FOLDER}/{os.path.basename(best)}")
            score = getattr(callback, "best_model_score", None)
            if score is not None:
                try:
                    run.set_tag("cairn.best_checkpoint_score", str(float(score)))
                except (TypeError, ValueError):
                    pass

    # ----- the end -----

    def finalize(self, status: str) -> None:
        run = self._run
        if run is None or run._finished:
            return
        if self._log_model and self._checkpoint_callback is not None and status != "failed":
            try:
                self._upload_checkpoints(self._checkpoint_callback)
            except Exception:  # noqa: BLE001 — never turn a finished fit into a failure
                log.exception("cairn: could not upload the checkpoints")
        if not self._owns_run:
            return
        if status == "failed":
            run.finish(status="FAILED")
        elif self._finish_on_finalize:
            run.finish()


def logger_class(package: str | None = None) -> type:
    """``CairnLogger`` for ``package`` (``"lightning"`` or ``"pytorch_lightning"``; the
    installed one, ``lightning`` first, by default)."""
    if package is None:
        for candidate in ("lightning", "pytorch_lightning"):
            try:
                return logger_class(candidate)
            except ImportError:
                continue
        raise ImportError("CairnLogger needs the lightning or pytorch_lightning package")
    cached = _classes.get(package)
    if cached is not None:
        return cached
    root = "lightning.pytorch" if package == "lightning" else package
    loggers = importlib.import_module(f"{root}.loggers")
    logger_module = importlib.import_module(f"{root}.loggers.logger")
    utilities = importlib.import_module(f"{root}.utilities")
    rank_zero_only = utilities.rank_zero_only
    rank_zero_experiment = logger_module.rank_zero_experiment

    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": "A Lightning logger that writes to Cairn (see :mod:`cairn.integrations.lightning`).",
        "experiment": property(rank_zero_experiment(_CairnLoggerMixin.experiment.fget)),  # type: ignore[attr-defined]
        "__qualname__": "CairnLogger",
    }
    for method in ("log_hyperparams", "log_metrics", "log_graph", "save", "finalize", "after_save_checkpoint"):
        namespace[method] = rank_zero_only(getattr(_CairnLoggerMixin, method))
    cls = type("CairnLogger", (_CairnLoggerMixin, loggers.Logger), namespace)
    _classes[package] = cls
    return cls


CairnLogger: Any = logger_class()
