"""MLflow-shaped functions on the current run (started on first use, as MLflow does)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from . import runs as run_module
from .errors import UsageError
from .runs import Run


def start_run(
    run_name: str | None = None,
    *,
    experiment_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    **settings: Any,
) -> Run:
    """Starts a run (``with cairn.start_run(): ...`` ends it). ``experiment_name`` is the
    project; ``tags`` are key/value run tags; ``description`` becomes the run's note."""
    from . import init

    if run_module.current() is not None:
        raise UsageError("A run is already active; end it with cairn.end_run() first")
    return init(project=experiment_name, name=run_name, notes=description, mlflow_tags=tags, **settings)


def active_run() -> Run | None:
    return run_module.current()


def end_run(status: str = "FINISHED") -> None:
    run = run_module.current()
    if run is not None:
        run.finish(status=status)


def _run() -> Run:
    run = run_module.current()
    if run is None:
        run = start_run()
    return run


def log_param(key: str, value: Any) -> None:
    _run().config.update({key: value})


def log_params(params: Mapping[str, Any]) -> None:
    _run().config.update(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    _run().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _run().log(metrics, step=0 if step is None else step, commit=False)


def set_tag(key: str, value: Any) -> None:
    _run().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _run().set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    _run().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    if not os.path.isdir(local_dir):
        raise UsageError(f"log_artifacts: {local_dir} is not a folder")
    _run().log_artifact(local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    _run().log_bytes(text.encode("utf-8"), artifact_file)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> None:
    """Stores a dict as JSON (or YAML for ``.yaml``/``.yml`` files when PyYAML is present)."""
    if artifact_file.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError as e:
            raise UsageError("log_dict to a .yaml file needs PyYAML installed") from e
        text = yaml.safe_dump(dict(dictionary), sort_keys=False)
    else:
        text = json.dumps(dictionary, indent=2)
    log_text(text, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Stores a matplotlib figure (any format matplotlib writes) or a plotly figure (``.html``)."""
    import io

    buffer = io.BytesIO()
    if hasattr(figure, "savefig"):
        figure.savefig(buffer, format=artifact_file.rsplit(".", 1)[-1])
    elif hasattr(figure, "write_html") and artifact_file.endswith(".html"):
        text = io.StringIO()
        figure.write_html(text)
        buffer.write(text.getvalue().encode())
    else:
        raise UsageError(f"log_figure: cannot save a {type(figure).__name__} as {artifact_file}")
    _run().log_bytes(buffer.getvalue(), artifact_file)
