"""Cairn's Python SDK.

wandb-shaped::

    import cairn
    run = cairn.init(project="mnist", config={"lr": 0.01})
    for step in range(1000):
        run.log({"loss": loss, "acc": acc})        # never waits on the network
    run.finish()

mlflow-shaped: ``cairn.start_run``, ``log_param(s)``, ``log_metric(s)``, ``set_tag(s)``,
``log_artifact(s)``, ``log_dict``, ``log_text``, ``log_figure``. Reads: ``cairn.Client``.
Settings come from arguments, then ``CAIRN_URL``, ``CAIRN_PROJECT``, ``CAIRN_MODE``,
``CAIRN_TOKEN``, ``CAIRN_DIR`` (see :mod:`cairn.settings`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from . import runs as _run_module
from .autologging import autolog
from .client import Client, Experiment, MetricHistory, RunRecord
from .errors import (
    ApiError,
    CairnError,
    InvalidRequestError,
    NotFoundError,
    ParamChangedError,
    ServerError,
    UsageError,
)
from .fluent import (
    active_run,
    end_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    set_tag,
    set_tags,
    start_run,
)
from .runs import Config, Run, Summary
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "CairnError",
    "Client",
    "Config",
    "Experiment",
    "InvalidRequestError",
    "MetricHistory",
    "NotFoundError",
    "ParamChangedError",
    "Run",
    "RunRecord",
    "ServerError",
    "Settings",
    "Summary",
    "UsageError",
    "active_run",
    "autolog",
    "end_run",
    "finish",
    "init",
    "log",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "set_tag",
    "set_tags",
    "start_run",
]

logging.getLogger("cairn").addHandler(logging.NullHandler())


def init(
    project: str | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: list[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    mode: str | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    dir: str | None = None,
    finish_timeout: float | None = None,
    system_metrics_interval: float | None = None,
    capture_environment: bool | None = None,
    mlflow_tags: Mapping[str, Any] | None = None,
    reinit: bool = False,
    resume: str | None = None,
    fork_from: str | None = None,
    fork_step: int | None = None,
    team: str | None = None,
    visibility: str | None = None,
    _run_class: type[Run] = Run,
) -> Run:
    """Starts a run and makes it the current one (``cairn.log`` / ``cairn.finish``).

    ``mode``: ``online`` (default) sends in the background; ``offline`` keeps the run in a
    local folder for ``cairn sync``; ``disabled`` checks calls and stores nothing. A current
    run is finished first when ``reinit`` is true; otherwise starting a second one while the
    first is active is an error.

    ``resume="<run id>"`` continues a run that stopped (a crash, a preempted job): same run id,
    back to RUNNING, steps continue after the last one logged. ``fork_from="<run id>"`` with
    ``fork_step=N`` starts a new run that continues that run from step ``N``: it gets its params,
    tags and every point up to ``N`` (the server copies them) and a link to it in lineage. Both
    need ``mode="online"``.

    ``team`` and ``visibility`` (``private``, ``team`` or ``public``) apply when this run
    creates its project on a server with authentication on: the new experiment belongs to that
    team (the caller must be at least a member; default: their personal team) with that
    visibility (default ``team``). An existing project keeps its own.
    """
    from . import settings as settings_module

    active = _run_module.current()
    if active is not None:
        if not reinit:
            raise UsageError(f"Run {active.id} is still active; call finish() first or pass reinit=True")
        active.finish()
    settings = settings_module.resolve(
        url=url,
        project=project,
        mode=mode,
        token=token,
        dir=dir,
        finish_timeout=finish_timeout,
        system_metrics_interval=system_metrics_interval,
        capture_environment=capture_environment,
    )
    run = _run_class(
        settings,
        name=name,
        config=config,
        tags=tags,
        notes=notes,
        group=group,
        mlflow_tags=mlflow_tags,
        resume=resume,
        fork_from=fork_from,
        fork_step=fork_step,
        team=team,
        visibility=visibility,
    )
    _run_module.set_current(run)
    if settings.mode == "online":
        from .sync import recover_in_background

        recover_in_background(settings, run.id)
    return run


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """``run.log`` on the current run."""
    run = _run_module.current()
    if run is None:
        raise UsageError("No active run: call cairn.init() first")
    run.log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, *, timeout: float | None = None) -> None:
    """``run.finish`` on the current run (nothing when there is none)."""
    run = _run_module.current()
    if run is not None:
        run.finish(exit_code, timeout=timeout)


def __getattr__(name: str) -> Any:
    # cairn.run / cairn.config / cairn.summary follow the current run, as in wandb.
    if name == "run":
        return _run_module.current()
    if name in ("config", "summary"):
        run = _run_module.current()
        if run is None:
            raise UsageError(f"No active run: cairn.{name} needs cairn.init() first")
        return getattr(run, name)
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")
