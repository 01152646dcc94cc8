"""Settings: from arguments, then the environment, then defaults.

===========================  ==============================  ==========================
setting                      environment                     default
===========================  ==============================  ==========================
``url``                      ``CAIRN_URL``                   ``http://127.0.0.1:5000``
``project``                  ``CAIRN_PROJECT``               ``Default``
``mode``                     ``CAIRN_MODE``                  ``online`` (or ``offline``, ``disabled``)
``token``                    ``CAIRN_TOKEN``                 none
``dir``                      ``CAIRN_DIR``                   ``./.cairn``
``finish_timeout``           ``CAIRN_FINISH_TIMEOUT``        30 seconds
``system_metrics_interval``  ``CAIRN_SYSTEM_METRICS``        10 seconds (0 turns them off)
``capture_environment``      ``CAIRN_CAPTURE_ENV``           on (``0`` turns it off)
``multipart_threshold``      ``CAIRN_MULTIPART_THRESHOLD``   64 MiB (artifacts this large go in parts)
``multipart_part_size``      ``CAIRN_MULTIPART_PART_SIZE``   the server's choice (16 MiB multiples)
``upload_workers``           ``CAIRN_UPLOAD_WORKERS``        4 (parts sent at once)
``direct_uploads``           ``CAIRN_DIRECT_UPLOADS``        off (``1``: parts straight to S3)
===========================  ==============================  ==========================

Sizes are bytes, or a number with ``K``, ``M`` or ``G`` (powers of 1024: ``64M``, ``5MiB``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

DEFAULT_URL = "http://127.0.0.1:5000"
MODES = ("online", "offline", "disabled")
DEFAULT_MULTIPART_THRESHOLD = 64 << 20
DEFAULT_UPLOAD_WORKERS = 4
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class Settings:
    url: str = DEFAULT_URL
    project: str | None = None
    mode: str = "online"
    token: str | None = None
    dir: Path = Path(".cairn")
    finish_timeout: float = 30.0
    system_metrics_interval: float = 10.0
    capture_environment: bool = True
    # Points held in memory before the logging thread itself spills them to the spool.
    max_buffered_points: int = 250_000
    # A batch is cut when it holds this many points or is this old (seconds).
    batch_points: int = 20_000
    batch_interval: float = 0.05
    # Per request; a slow server makes batches wait in the spool, never the training loop.
    request_timeout: float = 30.0
    # Artifacts of at least this many bytes go through the server's resumable upload in
    # parts; smaller ones in one request through the MLflow artifact proxy.
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    # Bytes per part (None: the server chooses). Raised when needed to stay within the
    # server's 10,000 parts.
    multipart_part_size: int | None = None
    # Parts of one file sent at once.
    upload_workers: int = DEFAULT_UPLOAD_WORKERS
    # Large artifacts' parts go straight to the server's object storage (S3) at presigned URLs,
    # when it signs them, rather than through the server.
    direct_uploads: bool = False


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds; got {raw!r}") from None


def parse_size(text: str) -> int:
    """Bytes from ``"1048576"``, ``"64M"``, ``"64MiB"`` or ``"5 MB"`` (units are powers of 1024)."""
    raw = text.strip().upper().replace(" ", "")
    for suffix in ("IB", "B"):
        if raw.endswith(suffix) and raw[: -len(suffix)][-1:] in ("K", "M", "G", "T"):
            raw = raw[: -len(suffix)]
            break
    unit = raw[-1:] if raw[-1:] in _UNITS else ""
    number = raw[: -len(unit)] if unit else raw
    try:
        value = int(float(number) * _UNITS[unit]) if "." in number else int(number) * _UNITS[unit]
    except ValueError:
        raise UsageError(f"{text!r} is not a size (bytes, or a number with K, M or G)") from None
    if value < 0:
        raise UsageError(f"a size cannot be negative; got {text!r}")
    return value


def _size_env(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse_size(raw)
    except UsageError as e:
        raise UsageError(f"{name}: {e}") from None


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number; got {raw!r}") from None
    if value < 1:
        raise UsageError(f"{name} must be at least 1; got {raw!r}")
    return value


def resolve(
    *,
    url: str | None = None,
    project: str | None = None,
    mode: str | None = None,
    token: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    finish_timeout: float | None = None,
    system_metrics_interval: float | None = None,
    capture_environment: bool | None = None,
    multipart_threshold: int | None = None,
    multipart_part_size: int | None = None,
    upload_workers: int | None = None,
    direct_uploads: bool | None = None,
) -> Settings:
    """Settings from the arguments given, then the environment, then the defaults."""
    env = os.environ
    resolved_url = (url or env.get("CAIRN_URL") or DEFAULT_URL).rstrip("/")
    if not resolved_url.startswith(("http://", "https://")):
        raise UsageError(f"The Cairn URL must start with http:// or https://; got {resolved_url!r}")
    resolved_mode = (mode or env.get("CAIRN_MODE") or "online").lower()
    if resolved_mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}; got {resolved_mode!r}")
    capture = capture_environment
    if capture is None:
        capture = env.get("CAIRN_CAPTURE_ENV", "1").lower() not in ("0", "false", "no", "off")
    direct = direct_uploads
    if direct is None:
        direct = env.get("CAIRN_DIRECT_UPLOADS", "0").lower() in ("1", "true", "yes", "on")
    return Settings(
        url=resolved_url,
        project=project or env.get("CAIRN_PROJECT") or None,
        mode=resolved_mode,
        token=token or env.get("CAIRN_TOKEN") or None,
        dir=Path(dir or env.get("CAIRN_DIR") or ".cairn"),
        finish_timeout=(finish_timeout if finish_timeout is not None else _float_env("CAIRN_FINISH_TIMEOUT", 30.0)),
        system_metrics_interval=(
            system_metrics_interval if system_metrics_interval is not None else _float_env("CAIRN_SYSTEM_METRICS", 10.0)
        ),
        capture_environment=capture,
        multipart_threshold=(
            multipart_threshold
            if multipart_threshold is not None
            else _size_env("CAIRN_MULTIPART_THRESHOLD", DEFAULT_MULTIPART_THRESHOLD) or 0
        ),
        multipart_part_size=(
            multipart_part_size if multipart_part_size is not None else _size_env("CAIRN_MULTIPART_PART_SIZE", None)
        ),
        upload_workers=(
            upload_workers if upload_workers is not None else _int_env("CAIRN_UPLOAD_WORKERS", DEFAULT_UPLOAD_WORKERS)
        ),
        direct_uploads=direct,
    )
