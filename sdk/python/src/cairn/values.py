"""Turning what users pass to ``log()`` and ``config`` into metric points and params."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from .errors import UsageError

# MLflow's rule for metric, param and tag keys.
_KEY = re.compile(r"^[\w\-./ :]+$")
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000


def check_key(key: object, what: str = "metric") -> str:
    if not isinstance(key, str) or not key:
        raise UsageError(f"A {what} key must be a non-empty string; got {key!r}")
    normalized = posixpath.normpath(key)
    if len(key) > MAX_KEY or not _KEY.match(key) or normalized != key or key == "." or key.startswith(("/", "..")):
        raise UsageError(
            f"Invalid {what} key {key!r}: keys have at most {MAX_KEY} characters: letters, "
            "digits, '_', '-', '.', ' ', ':' and '/', and read as a plain relative path (no "
            "leading or doubled '/', no '.' or '..' segments)"
        )
    return key


def to_number(key: str, value: object) -> float | int:
    """A metric value as a Python number: ints, floats, bools, numpy scalars, 0-d arrays and
    one-element tensors (``.item()``)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()
        except (ValueError, RuntimeError) as e:
            raise UsageError(
                f"Metric {key!r}: only single numbers can be logged; got {type(value).__name__} "
                f"with more than one element"
            ) from e
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, (int, float)):
            return value
    if hasattr(value, "__float__") and not isinstance(value, (str, bytes)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise UsageError(f"Metric {key!r}: values must be numbers; got {type(value).__name__} {value!r:.80}")


def flatten(data: Mapping[str, Any], sep: str, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise UsageError(f"Keys must be strings; got {key!r}")
        name = f"{prefix}{sep}{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(flatten(value, sep, name))
        else:
            out[name] = value
    return out


def metric_values(data: Mapping[str, Any], known: set[str]) -> dict[str, float | int]:
    """Checked metric values of one ``log()`` call; ``known`` caches keys already checked."""
    values: dict[str, float | int] = {}
    for key, value in flatten(data, "/").items():
        if key not in known:
            check_key(key)
            known.add(key)
        values[key] = to_number(key, value)
    return values


def param_value(key: str, value: object) -> str:
    """A config value as MLflow stores params: strings as they are, everything else as JSON
    where possible (so ``[1, 2]`` and ``True`` read back unambiguously)."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, int, float, list, tuple)):
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = str(value)
    else:
        text = str(value)
    if len(text) > MAX_PARAM_VALUE:
        raise UsageError(f"Param {key!r}: values have at most {MAX_PARAM_VALUE} characters; got {len(text)}")
    return text


def tag_value(key: str, value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE:
        raise UsageError(f"Tag {key!r}: values have at most {MAX_TAG_VALUE} characters; got {len(text)}")
    return text
