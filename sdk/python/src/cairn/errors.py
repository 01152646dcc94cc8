"""The exceptions the SDK raises.

Only user mistakes and explicit client calls raise. Problems in the background (the server is
away, a batch was rejected) are logged on the ``cairn`` logger and never raised into the
training loop.

::

    CairnError
    ├── UsageError          wrong arguments, wrong state (ValueError too)
    │   └── ParamChangedError   a param logged again with another value
    └── ApiError            the server answered a client call with an error
        ├── NotFoundError       404
        ├── InvalidRequestError 400 / 409 / 413
        └── ServerError         5xx, 429, or the server could not be reached
"""

from __future__ import annotations


class CairnError(Exception):
    """Base class of every exception the SDK raises."""


class UsageError(CairnError, ValueError):
    """The SDK was called wrongly: a bad argument, a non-numeric metric, a finished run."""


class ParamChangedError(UsageError):
    """A param (config value) was logged again with a different value."""


class ApiError(CairnError):
    """The server answered with an error (or could not be reached)."""

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code

    def __str__(self) -> str:
        head = " ".join(p for p in (str(self.status or ""), self.error_code or "") if p)
        text = super().__str__()
        return f"{head}: {text}" if head else text


class NotFoundError(ApiError):
    """The experiment, run or artifact does not exist."""


class InvalidRequestError(ApiError):
    """The server rejected the request as invalid."""


class ServerError(ApiError):
    """The server failed, asked to slow down, or could not be reached."""


def from_response(status: int, body: bytes) -> ApiError:
    """The exception for an error response with MLflow's ``{"error_code", "message"}`` body."""
    import json

    code: str | None = None
    message = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            code = parsed.get("error_code")
            message = parsed.get("message", message)
    except ValueError:
        pass
    cls: type[ApiError]
    if status == 404:
        cls = NotFoundError
    elif status >= 500 or status == 429:
        cls = ServerError
    else:
        cls = InvalidRequestError
    return cls(message or f"HTTP {status}", status=status, error_code=code)
