"""Settings: from arguments, then the environment, then defaults.

==========================  =======================  ==========================
setting                     environment              default
==========================  =======================  ==========================
``url``                     ``CAIRN_URL``            ``http://127.0.0.1:5000``
``project``                 ``CAIRN_PROJECT``        ``Default``
``mode``                    ``CAIRN_MODE``           ``online`` (or ``offline``, ``disabled``)
``token``                   ``CAIRN_TOKEN``          none
``dir``                     ``CAIRN_DIR``            ``./.cairn``
``finish_timeout``          ``CAIRN_FINISH_TIMEOUT`` 30 seconds
``system_metrics_interval`` ``CAIRN_SYSTEM_METRICS`` 10 seconds (0 turns them off)
``capture_environment``     ``CAIRN_CAPTURE_ENV``    on (``0`` turns it off)
==========================  =======================  ==========================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

DEFAULT_URL = "http://127.0.0.1:5000"
MODES = ("online", "offline", "disabled")


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


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds; got {raw!r}") from None


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
    )
