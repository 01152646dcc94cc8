"""A wandb-compatible front end: ``import cairn.wandb as wandb`` and most training scripts
written for Weights & Biases log to Cairn unchanged.

Covered: ``init`` (``project``, ``name``, ``config``, ``tags``, ``notes``, ``group``, ``mode``,
``dir``, ``reinit``; ``entity`` and ``job_type`` become the run tags ``cairn.entity`` and
``cairn.job_type``), ``log`` (numbers plus :class:`Image`, :class:`Table` and
:class:`Histogram` values), ``finish``, ``config`` / ``summary`` / ``run`` (they follow the
current run), ``save`` and ``log_artifact`` (files become run artifacts, a minimal
:class:`Artifact` included), and ``login``, ``define_metric``, ``watch``, ``unwatch`` and
``alert`` as harmless no-ops.

Media are not metrics. In one ``log()`` call the numbers go to the run's metrics and each medium
is stored as an artifact at the step those numbers used:

* an image: ``media/<key>/<step>.png`` (a list of images: ``<step>_<i>.png``; captions go to
  ``media/<key>/<step>.json``),
* a table: ``media/<key>/<step>.table.json`` (``{"columns": [...], "data": [[...]]}``; image
  cells become files under ``media/<key>/<step>.table/``),
* a histogram: ``media/<key>/<step>.histogram.json`` (``{"bins": [...], "values": [...]}``).

Images are encoded as PNG with Pillow when it is installed, otherwise by a small built-in encoder
(8-bit gray, gray+alpha, RGB and RGBA arrays). Arrays need numpy.

Where a CAIRN_ variable is unset, ``WANDB_MODE``, ``WANDB_PROJECT`` and ``WANDB_DIR`` are read.
"""

from __future__ import annotations

import glob as _glob
import io
import json
import logging
import os
import struct
import sys
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import runs as _runs
from .errors import ParamChangedError, UsageError
from .runs import Config, Run
from .values import check_key, flatten, to_number

_logger = logging.getLogger("cairn.wandb")

__all__ = [
    "AlertLevel",
    "Artifact",
    "Histogram",
    "Image",
    "Settings",
    "Table",
    "alert",
    "define_metric",
    "finish",
    "init",
    "log",
    "log_artifact",
    "login",
    "save",
    "unwatch",
    "watch",
]

# wandb's run modes and Cairn's equivalents.
_MODES = {
    "online": "online",
    "run": "online",
    "shared": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
}
ENTITY_TAG = "cairn.entity"
JOB_TYPE_TAG = "cairn.job_type"
_warned: set[str] = set()


# ----- settings -----


class Settings:
    """``wandb.Settings``: keeps whatever it is given; ``init`` reads ``mode``, ``project`` and
    ``dir`` from it when the arguments leave them out."""

    def __init__(self, **kwargs: Any):
        self.__dict__.update(kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def __repr__(self) -> str:
        return f"Settings({self.__dict__!r})"


class AlertLevel:
    """``wandb.AlertLevel``."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


# ----- config and run -----


def _as_mapping(value: Any, what: str = "config") -> dict[str, Any]:
    """A dict from what wandb accepts as config: a mapping, an argparse Namespace (or any object
    with attributes), absl flags, or key/value pairs."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    flag_values = getattr(value, "flag_values_dict", None)
    if callable(flag_values):  # absl.flags.FLAGS
        return dict(flag_values())
    if isinstance(value, (str, bytes)):
        raise UsageError(f"{what}: a file name is not supported; pass a dict")
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    try:
        return dict(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a dict or a Namespace; got {type(value).__name__}") from None


class WandbConfig(Config):
    """The run's config with wandb's extras: ``update(..., allow_val_change=True)``, Namespaces,
    ``setdefaults``. Cairn stores config as immutable params: with ``allow_val_change`` a changed
    value is kept here (reads return it) but the stored param keeps its first value."""

    def update(self, other: Any = None, /, allow_val_change: bool | None = None, **kwargs: Any) -> None:
        values = {**_as_mapping(other), **kwargs}
        if not values:
            return
        if not allow_val_change:
            Config.update(self, values)
            return
        try:
            Config.update(self, values)
        except ParamChangedError:
            for key, value in values.items():
                try:
                    Config.update(self, {key: value})
                except ParamChangedError as e:
                    _logger.warning("cairn.wandb: %s; the run keeps the first value", e)
                    self._data[key] = value

    def setdefaults(self, defaults: Mapping[str, Any]) -> None:
        self.update({k: v for k, v in _as_mapping(defaults).items() if k not in self})

    def persist(self) -> None:
        """Nothing to do: config is sent as it is set."""


class WandbRun(Run):
    """A :class:`cairn.Run` with wandb's run methods. :func:`init` returns one; it is the same
    object that ``cairn.run`` and the MLflow-shaped functions see."""

    config_class = WandbConfig

    entity: str | None = None
    job_type: str | None = None
    tags: tuple[str, ...] = ()
    notes: str | None = None
    group: str | None = None

    def log(
        self,
        data: Mapping[str, Any],
        step: int | None = None,
        commit: bool | None = None,
        sync: bool | None = None,
    ) -> None:
        _log(self, data, step, commit)

    def finish(
        self,
        exit_code: int | None = None,
        quiet: bool | None = None,
        *,
        status: str | None = None,
        timeout: float | None = None,
    ) -> bool:
        return Run.finish(self, exit_code, status=status, timeout=timeout)

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        """Uploads an :class:`Artifact`'s files under its name, or a file or folder (into the
        folder ``name``, as :meth:`cairn.Run.log_artifact` does)."""
        if isinstance(artifact_or_path, Artifact):
            artifact_or_path._upload(self, aliases)
        else:
            Run.log_artifact(self, artifact_or_path, name)

    def save(
        self, glob_str: str | os.PathLike[str] | None = None, base_path: str | None = None, policy: str = "live"
    ) -> list[str]:
        return _save(self, glob_str, base_path)

    def define_metric(self, name: str, *args: Any, **kwargs: Any) -> None:
        _logger.debug("cairn.wandb: define_metric(%r) is accepted and ignored", name)

    def watch(self, models: Any = None, *args: Any, **kwargs: Any) -> None:
        _logger.debug("cairn.wandb: watch() is accepted and ignored (no gradient or parameter histograms)")

    def unwatch(self, models: Any = None) -> None:
        _logger.debug("cairn.wandb: unwatch() is accepted and ignored")

    def alert(self, title: str, text: str, level: str | None = None, wait_duration: Any = None) -> None:
        _logger.debug("cairn.wandb: alert(%r, %r) is not sent anywhere", title, text)

    def log_code(self, *args: Any, **kwargs: Any) -> None:
        _logger.debug("cairn.wandb: log_code() is accepted and ignored (Cairn records the git state itself)")

    def mark_preempting(self) -> None:
        _logger.debug("cairn.wandb: mark_preempting() is accepted and ignored")

    def get_url(self) -> str:
        return self.url

    @property
    def path(self) -> str:
        return "/".join(p for p in (self.entity, self.project, self.id) if p)


def _upgrade(run: Run, **attributes: Any) -> Run:
    """Gives a plain Run wandb's methods (the same object: fluent calls and ``cairn.run`` keep
    seeing it). Runs of other subclasses are left alone."""
    if type(run) is Run:
        run.__class__ = WandbRun
        for key in ("entity", "job_type", "notes", "group"):
            run.__dict__.setdefault(key, None)
        run.__dict__.setdefault("tags", ())
    if type(run.config) is Config:
        run.config.__class__ = WandbConfig
    for key, value in attributes.items():
        if value is not None and isinstance(run, WandbRun):
            setattr(run, key, value)
    return run


def init(
    project: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    mode: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    reinit: bool | str | None = None,
    entity: str | None = None,
    job_type: str | None = None,
    id: str | None = None,
    resume: bool | str | None = None,
    settings: Settings | Mapping[str, Any] | None = None,
    config_exclude_keys: Iterable[str] | None = None,
    config_include_keys: Iterable[str] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **ignored: Any,
) -> Run:
    """Starts a run, as ``wandb.init`` does, and returns it.

    ``reinit``: ``True``, ``None``, ``"default"``, ``"finish_previous"`` or ``"create_new"``
    finish an active run first (Cairn has one current run at a time); ``False`` and
    ``"return_previous"`` return the active run. ``id``/``resume`` are not supported: a new run
    is started. ``url``/``token`` are Cairn's (``CAIRN_URL``/``CAIRN_TOKEN`` otherwise); other
    wandb arguments are accepted and ignored.
    """
    import cairn

    if ignored:
        _logger.debug("cairn.wandb: init() ignores %s", ", ".join(sorted(ignored)))
    if id is not None or resume:
        _logger.debug("cairn.wandb: init(id=, resume=) is not supported; starting a new run")
    if isinstance(settings, Mapping):
        settings = Settings(**settings)
    if settings is not None:
        mode = mode or settings.mode
        project = project or settings.project
        dir = dir or settings.dir or settings.root_dir

    active = _runs.current()
    if active is not None and reinit in (False, "return_previous"):
        _logger.debug("cairn.wandb: init() returns the active run %s (reinit=%r)", active.id, reinit)
        return _upgrade(active)

    env = os.environ
    if mode is None and not env.get("CAIRN_MODE"):
        mode = env.get("WANDB_MODE") or None
    if mode is not None:
        if mode.lower() not in _MODES:
            raise UsageError(f"mode must be one of {', '.join(_MODES)}; got {mode!r}")
        mode = _MODES[mode.lower()]
    if project is None and not env.get("CAIRN_PROJECT"):
        project = env.get("WANDB_PROJECT") or None
    if dir is None and not env.get("CAIRN_DIR") and env.get("WANDB_DIR"):
        dir = env["WANDB_DIR"]
    cairn_dir = str(Path(dir) / ".cairn") if dir is not None else None

    values = _as_mapping(config)
    if config_include_keys is not None:
        keep = set(config_include_keys)
        values = {k: v for k, v in values.items() if k in keep}
    if config_exclude_keys is not None:
        drop = set(config_exclude_keys)
        values = {k: v for k, v in values.items() if k not in drop}

    run_tags = {}
    if entity:
        run_tags[ENTITY_TAG] = entity
    if job_type:
        run_tags[JOB_TYPE_TAG] = job_type
    run = cairn.init(
        project=project,
        name=name,
        config=values or None,
        tags=list(tags) if tags else None,
        notes=notes,
        group=group,
        mode=mode,
        url=url,
        token=token,
        dir=cairn_dir,
        mlflow_tags=run_tags or None,
        reinit=True,
        _run_class=WandbRun,
    )
    return _upgrade(
        run,
        entity=entity,
        job_type=job_type,
        tags=tuple(tags) if tags else None,
        notes=notes,
        group=group,
    )


def _current(what: str) -> Run:
    run = _runs.current()
    if run is None:
        raise UsageError(f"You must call wandb.init() before wandb.{what}()")
    return run


def log(
    data: Mapping[str, Any],
    step: int | None = None,
    commit: bool | None = None,
    sync: bool | None = None,
) -> None:
    """Logs to the current run: numbers as metrics, media as artifacts at the same step."""
    _log(_current("log"), data, step, commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finishes the current run (FAILED for a non-zero ``exit_code``); nothing when there is none."""
    run = _runs.current()
    if run is not None:
        Run.finish(run, exit_code)


def login(*args: Any, **kwargs: Any) -> bool:
    """Nothing to log in to: Cairn uses ``CAIRN_URL`` and ``CAIRN_TOKEN``."""
    _logger.debug("cairn.wandb: login() is accepted and ignored (Cairn reads CAIRN_URL / CAIRN_TOKEN)")
    return True


def define_metric(name: str, *args: Any, **kwargs: Any) -> None:
    _logger.debug("cairn.wandb: define_metric(%r) is accepted and ignored", name)


def watch(models: Any = None, *args: Any, **kwargs: Any) -> None:
    _logger.debug("cairn.wandb: watch() is accepted and ignored (no gradient or parameter histograms)")


def unwatch(models: Any = None) -> None:
    _logger.debug("cairn.wandb: unwatch() is accepted and ignored")


def alert(title: str, text: str, level: str | None = None, wait_duration: Any = None) -> None:
    _logger.debug("cairn.wandb: alert(%r, %r) is not sent anywhere", title, text)


def save(
    glob_str: str | os.PathLike[str] | None = None,
    base_path: str | os.PathLike[str] | None = None,
    policy: str = "live",
) -> list[str]:
    """Uploads the files matching ``glob_str`` now (wandb's ``policy`` is ignored) as artifacts
    (relative to ``base_path`` when given, else by file name). Returns their artifact paths."""
    return _save(_current("save"), glob_str, base_path)


def _save(run: Run, glob_str: str | os.PathLike[str] | None, base_path: str | os.PathLike[str] | None) -> list[str]:
    if glob_str is None:
        _logger.debug("cairn.wandb: save() without a file name does nothing")
        return []
    pattern = os.fspath(glob_str)
    files = [f for f in sorted(_glob.glob(pattern, recursive=True)) if os.path.isfile(f)]
    if not files:
        _logger.debug("cairn.wandb: save(%r) matched no file", pattern)
        return []
    saved = []
    for file in files:
        if base_path is not None:
            rel = Path(os.path.relpath(file, base_path)).as_posix()
            if rel.startswith("../"):
                rel = Path(file).name
        else:
            rel = Path(file).name
        folder = rel.rsplit("/", 1)[0] if "/" in rel else None
        Run.log_artifact(run, file, folder)
        saved.append(rel)
    _logger.debug("cairn.wandb: save(%r) uploaded %s", pattern, ", ".join(saved))
    return saved


def log_artifact(
    artifact_or_path: Artifact | str | os.PathLike[str],
    name: str | None = None,
    type: str | None = None,
    aliases: Sequence[str] | None = None,
) -> None:
    run = _current("log_artifact")
    if isinstance(artifact_or_path, Artifact):
        artifact_or_path._upload(run, aliases)
    else:
        Run.log_artifact(run, artifact_or_path, name)


def __getattr__(name: str) -> Any:
    # wandb.run / wandb.config / wandb.summary follow the current run.
    if name == "run":
        run = _runs.current()
        return None if run is None else _upgrade(run)
    if name in ("config", "summary"):
        run = _runs.current()
        if run is None:
            raise UsageError(f"You must call wandb.init() before wandb.{name}")
        return getattr(_upgrade(run), name)
    raise AttributeError(f"module 'cairn.wandb' has no attribute {name!r}")


# ----- logging with media -----


def _is_media(value: Any) -> bool:
    if isinstance(value, (Image, Table, Histogram)):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Image) for v in value)


def _log(run: Run, data: Mapping[str, Any], step: int | None, commit: bool | None) -> None:
    """Splits ``data``: numbers to ``Run.log`` (one call, ``step``/``commit`` as given), media to
    artifacts at the step that call used."""
    if not isinstance(data, Mapping):
        raise UsageError(f"log() takes a dict of names to values; got {type(data).__name__}")
    for value in data.values():
        kind = type(value)
        if kind is not float and kind is not int:
            break
    else:  # plain numbers: the common case, straight through
        Run.log(run, data, step=step, commit=commit)
        return
    numbers: dict[str, Any] = {}
    media: dict[str, Any] = {}
    for key, value in flatten(data, "/").items():
        if _is_media(value):
            media[check_key(key, "media")] = value
            continue
        try:
            numbers[key] = to_number(key, value)
        except UsageError:
            if key not in _warned:
                _warned.add(key)
                _logger.warning(
                    "cairn.wandb: %r is a %s: only numbers, wandb.Image, wandb.Table and wandb.Histogram are logged; "
                    "skipping it",
                    key,
                    type(value).__name__,
                )
    at = run.step
    Run.log(run, numbers, step=step, commit=commit)
    if step is not None:
        at = int(step)
    if media and run.mode != "disabled":
        for key, value in media.items():
            _store_media(run, key, at, value)


def _store_media(run: Run, key: str, step: int, value: Any) -> None:
    base = f"media/{key}/{step}"
    if isinstance(value, Image):
        run.log_bytes(value._data, f"{base}.{value._ext}")
        if value.caption is not None:
            run.log_bytes(json.dumps({"caption": value.caption}).encode(), f"{base}.json")
    elif isinstance(value, (list, tuple)):
        captions = []
        for i, image in enumerate(value):
            run.log_bytes(image._data, f"{base}_{i}.{image._ext}")
            captions.append(image.caption)
        if any(c is not None for c in captions):
            run.log_bytes(json.dumps({"captions": captions}).encode(), f"{base}.json")
    elif isinstance(value, Table):
        run.log_bytes(value._json(run, f"{base}.table"), f"{base}.table.json")
    elif isinstance(value, Histogram):
        body = {"bins": value.bins, "values": value.histogram}
        run.log_bytes(json.dumps(body).encode(), f"{base}.histogram.json")


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


# ----- media types -----


class Image:
    """``wandb.Image``: a numpy array (HxW or HxWxC, uint8 or float in 0..1; CxHxW tensors are
    transposed), a PIL image, or a file path. Encoded to PNG when it is made, as wandb does."""

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        grouping: int | None = None,
        classes: Any = None,
        boxes: Any = None,
        masks: Any = None,
        file_type: str | None = None,
        normalize: bool = True,
    ):
        self.caption = caption
        self._data, self._ext, self.width, self.height = _image_bytes(data_or_path, mode, normalize)
        if boxes is not None or masks is not None:
            _logger.debug("cairn.wandb: Image boxes/masks are not stored")

    def __repr__(self) -> str:
        return f"<wandb.Image {self.width}x{self.height} {self._ext}>"


def _image_bytes(data: Any, mode: str | None, normalize: bool) -> tuple[bytes, str, int | None, int | None]:
    if isinstance(data, Image):
        return data._data, data._ext, data.width, data.height
    if isinstance(data, (str, os.PathLike)):
        return _image_file(Path(data), mode)
    if _is_pil(data):
        if mode is not None:
            data = data.convert(mode)
        buffer = io.BytesIO()
        data.save(buffer, format="PNG")
        return buffer.getvalue(), "png", data.width, data.height
    array = _uint8_image(data, normalize)
    height, width = array.shape[:2]
    pil = _pil()
    if pil is not None:
        image = pil.fromarray(array)
        if mode is not None:
            image = image.convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue(), "png", width, height
    if mode is not None:
        _logger.debug("cairn.wandb: Image(mode=%r) needs Pillow; stored as given", mode)
    channels = 1 if array.ndim == 2 else array.shape[2]
    return encode_png(width, height, channels, array.tobytes()), "png", width, height


def _image_file(path: Path, mode: str | None) -> tuple[bytes, str, int | None, int | None]:
    if not path.is_file():
        raise UsageError(f"wandb.Image: {path} is not a file")
    raw = path.read_bytes()
    if raw[:8] == _PNG_SIGNATURE and mode is None:
        width, height = struct.unpack(">II", raw[16:24])
        return raw, "png", width, height
    pil = _pil()
    if pil is not None:
        with pil.open(path) as image:
            if mode is not None:
                image = image.convert(mode)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return buffer.getvalue(), "png", image.width, image.height
    ext = path.suffix.lstrip(".").lower() or "bin"
    return raw, ext, None, None


def _pil() -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError:
        return None
    return PILImage


def _is_pil(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("PIL.") and hasattr(value, "save")


def _uint8_image(data: Any, normalize: bool) -> Any:
    """An HxW or HxWxC (C in 1..4) uint8 numpy array from an array-like image."""
    try:
        import numpy as np
    except ImportError:
        raise UsageError("wandb.Image from an array needs numpy installed") from None
    if hasattr(data, "detach"):  # a torch tensor
        data = data.detach().cpu().numpy()
    array = np.asarray(data)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 2, 3, 4):
        array = array.transpose(1, 2, 0)  # CHW -> HWC
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (2, 3, 4)) or array.size == 0:
        raise UsageError(f"wandb.Image: an image array is HxW or HxWxC with C 1 to 4; got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype.kind == "f":
        array = np.nan_to_num(array.astype(np.float64))
        if normalize:
            low, high = float(array.min()), float(array.max())
            if low < 0:
                array = (array - low) / ((high - low) or 1.0)
                high = float(array.max())
            if high <= 1.0:
                array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA


def encode_png(width: int, height: int, channels: int, pixels: bytes) -> bytes:
    """A PNG of 8-bit pixels, row by row (``channels``: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    No filtering, zlib level 6: small code, used when Pillow is not installed."""
    if channels not in _PNG_COLOR_TYPES:
        raise UsageError(f"PNG images have 1 to 4 channels; got {channels}")
    stride = width * channels
    if width <= 0 or height <= 0 or len(pixels) != stride * height:
        raise UsageError(f"{len(pixels)} bytes are not a {width}x{height}x{channels} image")
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOR_TYPES[channels], 0, 0, 0)
    return _PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


class Table:
    """``wandb.Table``: ``columns`` and ``data`` (rows), or a pandas ``dataframe``. Cells are
    stored as JSON (numpy values as numbers, images as files next to the table)."""

    DEFAULT_COLUMNS = ("Input", "Output", "Expected")

    def __init__(
        self,
        columns: Sequence[Any] | None = None,
        data: Any = None,
        rows: Any = None,
        dataframe: Any = None,
        dtype: Any = None,
        optional: Any = True,
        allow_mixed_types: bool = False,
        log_mode: str | None = None,
    ):
        if dataframe is not None:
            columns = [str(c) for c in dataframe.columns]
            data = [list(row) for row in dataframe.itertuples(index=False, name=None)]
        if data is None:
            data = rows
        if data is not None and hasattr(data, "tolist") and not isinstance(data, (list, tuple)):
            data = data.tolist()
        self.data: list[list[Any]] = [list(row) for row in (data or [])]
        if columns is None:
            width = len(self.data[0]) if self.data else len(self.DEFAULT_COLUMNS)
            columns = list(self.DEFAULT_COLUMNS[:width]) if width <= 3 else [f"c{i}" for i in range(width)]
        self.columns: list[str] = [str(c) for c in columns]
        for row in self.data:
            self._check(row)

    def _check(self, row: Sequence[Any]) -> None:
        if len(row) != len(self.columns):
            raise UsageError(f"wandb.Table: a row has {len(row)} values for {len(self.columns)} columns")

    def add_data(self, *row: Any) -> None:
        self._check(row)
        self.data.append(list(row))

    def add_column(self, name: str, data: Sequence[Any], optional: bool = False) -> None:
        values = list(data)
        if self.data and len(values) != len(self.data):
            raise UsageError(f"wandb.Table: column {name!r} has {len(values)} values for {len(self.data)} rows")
        if not self.data:
            self.data = [[] for _ in values]
        self.columns.append(str(name))
        for row, value in zip(self.data, values, strict=True):
            row.append(value)

    def get_column(self, name: str, convert_to: str | None = None) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.data]

    def _json(self, run: Run, files: str) -> bytes:
        """The table as JSON; image cells are stored under ``files`` and referenced."""
        rows = []
        for r, row in enumerate(self.data):
            out = []
            for c, cell in enumerate(row):
                if isinstance(cell, Image):
                    path = f"{files}/r{r}_c{c}.{cell._ext}"
                    run.log_bytes(cell._data, path)
                    out.append({"_type": "image-file", "path": path, "caption": cell.caption})
                else:
                    out.append(cell)
            rows.append(out)
        return json.dumps({"columns": self.columns, "data": rows}, default=_json_default).encode()

    def __repr__(self) -> str:
        return f"<wandb.Table {len(self.data)} rows x {len(self.columns)} columns>"


class Histogram:
    """``wandb.Histogram``: from a sequence of numbers (``num_bins`` equal bins) or a numpy
    ``(values, bin_edges)`` pair."""

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64):
        if np_histogram is not None:
            values, edges = np_histogram
            self.histogram = [float(v) for v in values]
            self.bins = [float(e) for e in edges]
        elif sequence is not None:
            self.histogram, self.bins = _histogram(sequence, num_bins)
        else:
            raise UsageError("wandb.Histogram needs a sequence or np_histogram")
        if len(self.bins) != len(self.histogram) + 1:
            raise UsageError("wandb.Histogram: bin edges must be one more than the values")


def _histogram(sequence: Any, num_bins: int) -> tuple[list[float], list[float]]:
    if "numpy" in sys.modules or hasattr(sequence, "__array__"):
        import numpy as np

        values, edges = np.histogram(np.asarray(sequence, dtype=np.float64).ravel(), bins=num_bins)
        return [float(v) for v in values], [float(e) for e in edges]
    numbers = [float(v) for v in sequence]
    if not numbers:
        raise UsageError("wandb.Histogram of an empty sequence")
    low, high = min(numbers), max(numbers)
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / num_bins
    counts = [0.0] * num_bins
    for v in numbers:
        counts[min(int((v - low) / width), num_bins - 1)] += 1
    return counts, [low + i * width for i in range(num_bins)] + [high]


class Artifact:
    """``wandb.Artifact``, minimal: files added with ``add_file``/``add_dir`` are uploaded by
    ``log_artifact`` into the run's artifact folder ``<name>/`` (plus ``<name>/artifact.json``
    with the type, description, metadata and aliases)."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **ignored: Any,
    ):
        self.name = check_key(name.replace(":", "-"), "artifact name")
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})
        self._files: list[tuple[Path, str]] = []

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None, **ignored: Any) -> None:
        path = Path(local_path)
        if not path.is_file():
            raise UsageError(f"Artifact.add_file: {path} is not a file")
        self._files.append((path, name or path.name))

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None, **ignored: Any) -> None:
        root = Path(local_path)
        if not root.is_dir():
            raise UsageError(f"Artifact.add_dir: {root} is not a folder")
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = file.relative_to(root).as_posix()
            self._files.append((file, f"{name.strip('/')}/{rel}" if name else rel))

    def _upload(self, run: Run, aliases: Sequence[str] | None) -> None:
        if run.mode == "disabled":
            return
        for path, rel in self._files:
            target = f"{self.name}/{rel}"
            folder, _, file_name = target.rpartition("/")
            if file_name == path.name:
                Run.log_artifact(run, path, folder)
            else:
                run.log_bytes(path.read_bytes(), target)
        info = {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "metadata": self.metadata,
            "aliases": list(aliases or []),
            "files": [rel for _, rel in self._files],
        }
        run.log_bytes(json.dumps(info, default=_json_default).encode(), f"{self.name}/artifact.json")
