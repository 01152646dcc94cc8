"""Framework integrations: each module imports its framework, this package imports none.

* :mod:`cairn.integrations.lightning`: ``CairnLogger``, a Lightning logger (``lightning`` or
  ``pytorch_lightning``).
* :mod:`cairn.integrations.transformers`: ``CairnCallback``, a Hugging Face ``TrainerCallback``.
* :mod:`cairn.integrations.keras`: ``CairnKerasCallback``, a Keras callback.

``cairn.autolog()`` adds them to every Trainer / ``fit`` call. Each one logs into the current
Cairn run when there is one (and leaves it open), else starts a run of its own (and finishes
it when training ends). The names below load their module on first use, so
``from cairn.integrations import CairnCallback`` works too.

The helpers here turn framework values into what Cairn stores: config keys and values that are
always accepted (keys outside MLflow's character set are rewritten, long values cut), numbers
only for metrics, and config updates that never stop training over a changed value.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import struct
from collections.abc import Mapping
from typing import Any

from ..errors import ParamChangedError, UsageError
from ..runs import Run
from ..values import MAX_KEY, MAX_PARAM_VALUE, to_number

log = logging.getLogger("cairn.integrations")

_LAZY = {
    "CairnLogger": "lightning",
    "CairnCallback": "transformers",
    "CairnKerasCallback": "keras",
}

__all__ = ["CairnCallback", "CairnKerasCallback", "CairnLogger"]

_BAD_KEY_CHARS = re.compile(r"[^\w\-./ :]")


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cairn.integrations' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def safe_key(key: Any) -> str:
    """``key`` as a valid metric/param key: other characters become ``_``, empty, ``.`` and
    ``..`` segments are dropped, and it is cut to the maximum length."""
    text = _BAD_KEY_CHARS.sub("_", str(key))
    parts = [p for p in text.split("/") if p not in ("", ".", "..")]
    text = "/".join(parts) or "_"
    return text[:MAX_KEY].rstrip("/") or "_"


def _param(value: Any) -> Any:
    out: Any
    if isinstance(value, float):
        out = _shortest(value, "f")
    elif value is None or isinstance(value, (bool, int, str)):
        out = value
    elif isinstance(value, (list, tuple)):
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = str(value)
        out = value if len(text) <= MAX_PARAM_VALUE else text
    else:
        item = getattr(value, "item", None)
        out = None
        if callable(item):  # numpy scalars, one-element arrays and tensors
            try:
                out = item()
            except (TypeError, ValueError, RuntimeError):
                out = None
            size = getattr(getattr(value, "dtype", None), "itemsize", 8)
            if isinstance(out, float) and size in _FLOAT_FORMATS:
                out = _shortest(out, _FLOAT_FORMATS[size])
        if out is None:
            out = getattr(value, "__name__", None) if callable(value) else None
        if out is None:
            out = str(value)
    if isinstance(out, str) and len(out) > MAX_PARAM_VALUE:
        out = out[: MAX_PARAM_VALUE - 3] + "..."
    return out


_FLOAT_FORMATS = {2: "e", 4: "f"}  # struct formats of half and single precision


def _shortest(value: float, fmt: str) -> float:
    """The shortest decimal that reads back as the same half/single precision ``value``
    (``0.01`` rather than ``0.009999999776482582`` for a float32 learning rate), for a value
    that is exactly such a number; other values as they are."""
    try:
        packed = struct.pack(fmt, value)
    except (OverflowError, struct.error):
        return value
    if struct.unpack(fmt, packed)[0] != value:
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack(fmt, candidate) == packed:
            return candidate
    return value


def config_values(params: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """A flat dict (nested keys joined with ``.``) of keys and values that Cairn accepts."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(config_values(value, name))
        else:
            out[safe_key(name)] = _param(value)
    return out


def log_config(run: Run, params: Mapping[Any, Any], prefix: str = "") -> None:
    """Adds ``params`` to the run's config. A key already logged with another value keeps its
    first value (params are immutable) with a warning, rather than stopping training."""
    values = config_values(params, prefix)
    if not values:
        return
    try:
        run.config.update(values)
        return
    except (ParamChangedError, UsageError):
        pass
    for key, value in values.items():
        try:
            run.config.update({key: value})
        except (ParamChangedError, UsageError) as e:
            log.warning("cairn: config %r not logged: %s", key, e)


def metric_values(logs: Mapping[Any, Any], prefix: str = "") -> dict[str, float | int]:
    """The numeric entries of ``logs`` (tensors and numpy scalars included) under valid keys;
    strings, ``None`` and arrays are left out."""
    out: dict[str, float | int] = {}
    for key, value in logs.items():
        if value is None or isinstance(value, (str, bytes)):
            continue
        name = safe_key(f"{prefix}{key}")
        try:
            out[name] = to_number(name, value)
        except UsageError:
            log.debug("cairn: %r is not a number; not logged", key)
    return out


def start_run(run: Run | None, init_kwargs: Mapping[str, Any]) -> tuple[Run, bool]:
    """The run to log into and whether the caller started it: ``run`` when given, else the
    current Cairn run, else a new one from ``init_kwargs``."""
    import cairn

    from .. import runs

    if run is not None:
        return run, False
    current = runs.current()
    if current is not None:
        return current, False
    return cairn.init(**{k: v for k, v in init_kwargs.items() if v is not None}), True
