"""A small HTTP/1.1 client over :mod:`http.client` with keep-alive.

One :class:`Http` per thread (connections are not shared). Errors come back as
:class:`~cairn.errors.ApiError` subclasses; a connection failure is a
:class:`~cairn.errors.ServerError` with ``status`` None.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
from collections.abc import Iterator
from typing import IO, Any, Protocol
from urllib.parse import quote, urlsplit

from .errors import ServerError, from_response

USER_AGENT = "cairn-python"
# Bytes read from a file body per send (http.client's default, 8 KiB, costs a system call
# per 8 KiB on large uploads).
BLOCK_SIZE = 256 << 10


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


# A request body: bytes, or something to read it from (sent in BLOCK_SIZE pieces).
Body = bytes | IO[bytes] | Readable


class Http:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0):
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"User-Agent": USER_AGENT}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout, blocksize=BLOCK_SIZE)
        return self._conn

    def fork(self) -> Http:
        """A client for the same server with a connection of its own (for another thread)."""
        other = copy.copy(self)
        other.headers = dict(self.headers)
        other._conn = None
        return other

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Body | None = None,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Sends one request; returns (status, headers, body). Raises ServerError when the
        server cannot be reached. A request on a stale keep-alive connection is retried once
        when it is safe (the body is bytes, so it can be sent again)."""
        all_headers = dict(self.headers)
        if headers:
            all_headers.update(headers)
        if length is not None:
            all_headers["Content-Length"] = str(length)
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, self.prefix + path, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                if attempt == 0 and (body is None or isinstance(body, bytes)):
                    continue
                raise ServerError(f"connection to {self.host}:{self.port} lost: {e}") from e
            except (TimeoutError, OSError, http.client.HTTPException) as e:
                self.close()
                raise ServerError(f"cannot reach {self.host}:{self.port}: {e}") from e
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, *, headers: dict[str, str] | None = None
    ) -> Iterator[http.client.HTTPResponse]:
        """Sends a request without a body and yields the response unread, for the caller to read
        in pieces. Raises ServerError when the server cannot be reached; errors while reading
        are the caller's (the connection is dropped unless the body was read to the end)."""
        all_headers = dict(self.headers)
        if headers:
            all_headers.update(headers)
        response = None
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, self.prefix + path, headers=all_headers)
                response = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                if attempt == 0:
                    continue
                raise ServerError(f"connection to {self.host}:{self.port} lost: {e}") from e
            except (TimeoutError, OSError, http.client.HTTPException) as e:
                self.close()
                raise ServerError(f"cannot reach {self.host}:{self.port}: {e}") from e
        assert response is not None
        try:
            yield response
        finally:
            # A body not read to its end leaves the connection unusable.
            if not response.isclosed() or response.length:
                self.close()

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A JSON request; returns the parsed JSON answer or raises the matching ApiError."""
        body = None
        all_headers = dict(headers or {})
        if payload is not None:
            body = json.dumps(payload).encode()
            all_headers["Content-Type"] = "application/json"
        status, _, data = self.request(method, path, body=body, headers=all_headers)
        if status >= 400:
            raise from_response(status, data)
        return json.loads(data) if data else {}

    def get_bytes(self, path: str) -> bytes:
        status, _, data = self.request("GET", path)
        if status >= 400:
            raise from_response(status, data)
        return data


def segment(text: str) -> str:
    """One path segment, percent-encoded (``train/loss`` → ``train%2Floss``)."""
    return quote(text, safe="")


def proxied_path(artifact_uri: str, path: str = "") -> str:
    """The path the artifact proxy serves for an ``mlflow-artifacts:`` URI plus a relative
    path (``mlflow-artifacts:/1/abc/artifacts`` + ``x.txt`` → ``1/abc/artifacts/x.txt``)."""
    rest = artifact_uri.split(":", 1)[1] if ":" in artifact_uri else artifact_uri
    rest = rest.lstrip("/")
    if artifact_uri.startswith("mlflow-artifacts://"):
        # mlflow-artifacts://host:port/path names the path after the authority.
        rest = rest.split("/", 1)[1] if "/" in rest else ""
    return "/".join(p for p in (rest.strip("/"), path.strip("/")) if p)


def artifact_path(artifact_uri: str, path: str = "") -> str:
    """The proxy route of an ``mlflow-artifacts:`` URI plus a relative path."""
    return "/api/2.0/mlflow-artifacts/artifacts/" + quote(proxied_path(artifact_uri, path), safe="/")
