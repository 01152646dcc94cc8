"""BLAKE3 digests of files (``blake3:<64 hex>``, the server's content addresses), when the
optional ``blake3`` package is installed: :mod:`hashlib` has no BLAKE3, and the SDK has no
required dependencies, so without it nothing is hashed on this side (the server still checks
what it receives against the digest it computes)."""

from __future__ import annotations

import os
from typing import Any

CHUNK = 1 << 20


def _hasher() -> Any | None:
    try:
        import blake3
    except ImportError:
        return None
    cls = blake3.blake3
    auto = getattr(cls, "AUTO", None)
    return cls(max_threads=auto) if auto is not None else cls()


def available() -> bool:
    """Whether files can be hashed here."""
    try:
        import blake3  # noqa: F401
    except ImportError:
        return False
    return True


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """The digest of a file, read in 1 MiB pieces; None without the ``blake3`` package."""
    hasher = _hasher()
    if hasher is None:
        return None
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(view)
            if not n:
                break
            hasher.update(view[:n])
    return "blake3:" + hasher.hexdigest()
