"""Delivery of spool records to the server, shared by the live sender and ``cairn sync``.

Record kinds (the header's ``op``):

- ``run``: ``PUT /api/v1/runs/{run_id}`` creates the run under the SDK's own id (idempotent).
- ``metrics``: ``POST /api/v1/runs/{run_id}/metrics`` with an ``Idempotency-Key``.
- ``batch``: params and tags through MLflow's ``runs/log-batch`` (in slices of 100).
- ``update``: status and end time through MLflow's ``runs/update``.
- ``artifact``: a file copied into the run folder, uploaded through the artifact proxy in one
  ``PUT``, or, from :attr:`Settings.multipart_threshold` bytes on, through the server's
  resumable upload: ``POST /api/v1/runs/{run_id}/uploads`` (with the file's BLAKE3 digest when
  the ``blake3`` package is installed, so bytes the server already holds are not sent again),
  the parts from a few threads, then ``complete``. The upload's id is kept next to the copy
  (``<copy>.upload``) before any part is sent, so a retry after a crash or an outage asks the
  server which parts it has and sends only the others. With :attr:`Settings.direct_uploads` and
  a server whose artifacts are in object storage that signs URLs (S3), the parts go straight to
  storage at presigned URLs instead; the sidecar then also keeps each part's ``ETag`` (storage
  cannot be asked which parts it has), and ``complete`` reports them. A server that takes no
  direct uploads gets the parts itself.

A transient failure (no connection, 5xx, 429) raises :class:`Retry`; a rejection the same
request can never pass (4xx) raises :class:`Rejected`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from . import digest as digest_module
from .errors import ApiError, NotFoundError, ServerError, from_response
from .http import Body, Http, artifact_path, segment
from .settings import Settings
from .spool import Record

BATCH_LIMIT = 100
# The server's bounds on resumable uploads.
MIN_PART_SIZE = 5 << 20
MAX_PART_SIZE = 5 << 30
MAX_PARTS = 10_000
# Part size of direct uploads when none is set (what the server picks for uploads through it).
DEFAULT_PART_SIZE = 16 << 20
log = logging.getLogger("cairn")


class Retry(Exception):
    """Try again later."""

    def __init__(self, message: str, *, after: float | None = None):
        super().__init__(message)
        self.after = after


class Rejected(Exception):
    """The server refuses this record for good."""


class Deliverer:
    def __init__(self, http: Http, run_dir: Path, settings: Settings | None = None):
        self.http = http
        self.run_dir = run_dir
        self.settings = settings or Settings()
        self.artifact_uris: dict[str, str] = {}
        self.experiment_ids: dict[str, str] = {}

    def deliver(self, record: Record) -> None:
        header = record.header
        op = header.get("op")
        try:
            if op == "metrics":
                self._send(
                    "POST",
                    f"/api/v1/runs/{segment(header['run_id'])}/metrics",
                    record.body,
                    {
                        "Idempotency-Key": header["key"],
                        "Content-Type": header.get("type", "application/json"),
                    },
                )
            elif op == "run":
                answer = self._send(
                    "PUT",
                    f"/api/v1/runs/{segment(header['run_id'])}",
                    record.body,
                    {"Content-Type": "application/json"},
                )
                self._remember(answer.get("run", {}))
            elif op == "batch":
                self._batch(header["run_id"], json.loads(record.body))
            elif op == "update":
                payload = {"run_id": header["run_id"], "status": header["status"]}
                if header.get("end_time") is not None:
                    payload["end_time"] = header["end_time"]
                self._send_json("POST", "/api/2.0/mlflow/runs/update", payload)
            elif op == "artifact":
                self._artifact(header)
            elif op == "lineage":
                self._send(
                    "POST",
                    f"/api/v1/runs/{segment(header['run_id'])}/lineage",
                    record.body,
                    {"Content-Type": "application/json"},
                )
            elif op == "inputs":
                payload = json.loads(record.body)
                payload["run_id"] = header["run_id"]
                self._send_json("POST", "/api/2.0/mlflow/runs/log-inputs", payload)
            else:
                raise Rejected(f"unknown spool record kind {op!r}")
        except ServerError as e:
            raise Retry(str(e), after=getattr(e, "retry_after", None)) from e
        except ApiError as e:
            raise Rejected(str(e)) from e

    def _send(
        self,
        method: str,
        path: str,
        body: Body,
        headers: dict[str, str],
        length: int | None = None,
        http: Http | None = None,
    ) -> Any:
        client = http or self.http
        status, response_headers, data = client.request(method, path, body=body, headers=headers, length=length)
        _raise_for(status, response_headers, data)
        return json.loads(data) if data else {}

    def _send_json(self, method: str, path: str, payload: Any) -> Any:
        return self._send(method, path, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _remember(self, run: dict[str, Any]) -> None:
        info = run.get("info", {})
        run_id = info.get("run_id")
        if run_id:
            self.artifact_uris[run_id] = info.get("artifact_uri", "")
            self.experiment_ids[run_id] = info.get("experiment_id", "")

    def _batch(self, run_id: str, body: dict[str, Any]) -> None:
        params = body.get("params", [])
        tags = body.get("tags", [])
        while params or tags:
            chunk_params, params = params[:BATCH_LIMIT], params[BATCH_LIMIT:]
            chunk_tags, tags = tags[:BATCH_LIMIT], tags[BATCH_LIMIT:]
            self._send_json(
                "POST",
                "/api/2.0/mlflow/runs/log-batch",
                {"run_id": run_id, "params": chunk_params, "tags": chunk_tags},
            )

    def artifact_uri(self, run_id: str) -> str:
        uri = self.artifact_uris.get(run_id)
        if not uri:
            answer = self._send("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}", b"", {})
            self._remember(answer.get("run", {}))
            uri = self.artifact_uris.get(run_id, "")
        return uri

    def _artifact(self, header: dict[str, Any]) -> None:
        source = self.run_dir / header["file"]
        if not source.exists():
            # Already uploaded and cleaned up before the ack could be written.
            return
        uri = self.artifact_uri(header["run_id"])
        if not uri.startswith("mlflow-artifacts:"):
            raise Rejected(
                f"run {header['run_id']} stores artifacts at {uri!r}, which the SDK cannot upload to through the server"
            )
        size = source.stat().st_size
        if size >= self.settings.multipart_threshold:
            self._upload_in_parts(header, source, size)
            return
        with open(source, "rb") as f:
            self._send(
                "PUT",
                artifact_path(uri, header["path"]),
                f,
                {"Content-Type": "application/octet-stream"},
                length=size,
            )

    # ----- resumable uploads -----

    def _upload_in_parts(self, header: dict[str, Any], source: Path, size: int) -> None:
        """Sends ``source`` through the server's resumable upload, resuming the one its
        sidecar names. An upload the server no longer knows (404: collected, aborted, or
        completed by an attempt whose answer was lost) starts again once."""
        sidecar = upload_sidecar(source)
        for attempt in (0, 1):
            state, received, urls = self._resume(sidecar, size)
            if state is None:
                started = self._start_upload(header, source, size, sidecar)
                if started is None:
                    return  # the server already held these bytes
                state, urls = started
                received = set()
            upload_id = state["upload_id"]
            try:
                missing = [n for n in range(1, state["parts"] + 1) if n not in received]
                if state.get("direct"):
                    self._send_direct_parts(state, urls, source, size, missing, sidecar)
                    etags = sorted((int(n), etag) for n, etag in state["etags"].items())
                    body: dict[str, Any] = {"parts": [{"number": n, "etag": etag} for n, etag in etags]}
                else:
                    self._send_parts(upload_id, source, size, state["part_size"], missing)
                    body = {}
                self._send_json("POST", f"/api/v1/uploads/{segment(upload_id)}/complete", body)
            except (ServerError, Retry):
                raise  # transient: the next attempt resumes
            except NotFoundError:
                _remove(sidecar)
                if attempt == 0:
                    log.info("cairn: the server lost upload %s of %s; starting again", upload_id, header["path"])
                    continue
                raise Retry(f"upload {upload_id} of {header['path']} vanished twice") from None
            except ApiError:
                # Refused for good (the caller turns this into Rejected): free the server's parts.
                self._abort(upload_id)
                raise
            return

    def _resume(self, sidecar: Path, size: int) -> tuple[dict[str, Any] | None, set[int], dict[int, dict[str, Any]]]:
        """The upload a sidecar names, the parts the server (or, for a direct upload, the
        sidecar) says arrived, and a direct upload's fresh part URLs; (None, ∅, {}) when there
        is none to resume."""
        try:
            state = json.loads(sidecar.read_text())
            upload_id = str(state["upload_id"])
            if state["size"] != size or int(state["part_size"]) <= 0 or int(state["parts"]) <= 0:
                raise ValueError("another file")
        except (OSError, ValueError, KeyError, TypeError):
            _remove(sidecar)
            return None, set(), {}
        try:
            status = self._send("GET", f"/api/v1/uploads/{segment(upload_id)}", b"", {})
        except NotFoundError:
            _remove(sidecar)
            return None, set(), {}
        if status.get("size") != size or status.get("part_size") != state["part_size"]:
            _remove(sidecar)
            return None, set(), {}
        urls = _part_urls(status)
        if state.get("direct"):
            state.setdefault("etags", {})
            received = {int(n) for n in state["etags"]}
        else:
            received = {int(p["number"]) for p in status.get("received", [])}
        log.info("cairn: resuming upload %s (%d of %d parts already sent)", upload_id, len(received), state["parts"])
        return state, received, urls

    def _start_upload(
        self, header: dict[str, Any], source: Path, size: int, sidecar: Path
    ) -> tuple[dict[str, Any], dict[int, dict[str, Any]]] | None:
        """Creates an upload and writes its sidecar; None when the server already holds the
        bytes (the file is recorded, nothing to send). Also returns a direct upload's part URLs."""
        body: dict[str, Any] = {"path": header["path"], "size": size}
        # Hashing reads the whole file once more, which pays as soon as one copy is not sent.
        digest = digest_module.file_digest(source)
        if digest is not None:
            body["digest"] = digest
        part_size = self._part_size(size)
        if part_size is not None:
            body["part_size"] = part_size
        route = f"/api/v1/runs/{segment(header['run_id'])}/uploads"
        if self.settings.direct_uploads:
            direct = dict(body, direct=True, part_size=part_size or _default_part_size(size))
            try:
                answer = self._send_json("POST", route, direct)
            except ApiError as e:
                if e.status != 400:
                    raise
                # Storage that signs nothing (or a refusal either route gives): through the server.
                log.warning("cairn: %s goes through the server: %s", header["path"], e)
                answer = self._send_json("POST", route, body)
        else:
            answer = self._send_json("POST", route, body)
        if answer.get("stored"):
            log.debug("cairn: %s is already stored (%s); nothing sent", header["path"], digest)
            return None
        state = {
            "upload_id": answer["upload_id"],
            "size": size,
            "part_size": answer["part_size"],
            "parts": answer["parts"],
            "path": header["path"],
            "digest": digest,
        }
        if answer.get("direct"):
            state.update(direct=True, etags={})
        _write_sidecar(sidecar, state)
        return state, _part_urls(answer)

    def _part_size(self, size: int) -> int | None:
        """The part size to ask for: the setting within the server's bounds, raised so the
        file fits in its 10,000 parts; None leaves the choice to the server."""
        wanted = self.settings.multipart_part_size
        if not wanted or wanted <= 0:
            return None
        needed = -(-size // MAX_PARTS)
        part = max(wanted, needed, MIN_PART_SIZE)
        part = -(-part // 1024) * 1024
        return min(part, MAX_PART_SIZE)

    def _send_parts(self, upload_id: str, source: Path, size: int, part_size: int, numbers: list[int]) -> None:
        """Sends the parts ``numbers`` to the server from up to ``upload_workers`` threads, each
        with its own connection."""

        def send(number: int, connections: dict[str, Http]) -> None:
            if "" not in connections:
                connections[""] = self.http.fork()
            offset = (number - 1) * part_size
            self._send_part(connections[""], upload_id, source, number, offset, min(part_size, size - offset))

        self._in_threads(numbers, send)

    def _in_threads(self, numbers: list[int], send: Callable[[int, dict[str, Http]], None]) -> None:
        """Calls ``send(number, connections)`` for each of ``numbers`` from up to
        ``upload_workers`` threads; ``connections`` is the thread's own (closed when it ends).
        The first failure stops the parts not yet started and is raised once the running ones
        end (the parts that arrived count for the next attempt). The threads are daemons, not a
        ThreadPoolExecutor's, whose queued work the interpreter would finish at exit: a process
        that ends mid-upload leaves the rest to the next attempt."""
        if not numbers:
            return
        pending = iter(numbers)
        lock = threading.Lock()
        failed = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            connections: dict[str, Http] = {}
            try:
                while not failed.is_set():
                    with lock:
                        number = next(pending, None)
                    if number is None:
                        return
                    try:
                        send(number, connections)
                    except BaseException as e:  # noqa: BLE001 — raised below, on the delivering thread
                        with lock:
                            errors.append(e)
                        failed.set()
                        return
            finally:
                for connection in connections.values():
                    connection.close()

        workers = max(1, min(self.settings.upload_workers, len(numbers)))
        threads = [threading.Thread(target=work, name=f"cairn-upload-{i}", daemon=True) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _send_part(self, http: Http, upload_id: str, source: Path, number: int, offset: int, length: int) -> None:
        """``PUT /api/v1/uploads/{id}/parts/{n}``, streamed from the file: http.client reads the
        slice in :data:`~cairn.http.BLOCK_SIZE` pieces, so a part is never held in memory."""
        with open(source, "rb") as f:
            f.seek(offset)
            self._send(
                "PUT",
                f"/api/v1/uploads/{segment(upload_id)}/parts/{number}",
                _Slice(f, length),
                {"Content-Type": "application/octet-stream"},
                length=length,
                http=http,
            )

    def _send_direct_parts(
        self,
        state: dict[str, Any],
        urls: dict[int, dict[str, Any]],
        source: Path,
        size: int,
        numbers: list[int],
        sidecar: Path,
    ) -> None:
        """Sends the parts ``numbers`` of a direct upload to their presigned URLs from up to
        ``upload_workers`` threads, as :meth:`_send_parts` does, writing each part's ETag into
        the sidecar as it lands. A URL refused as forbidden (expired) is signed again once."""
        part_size = int(state["part_size"])
        lock = threading.Lock()

        def send(number: int, connections: dict[str, Http]) -> None:
            offset = (number - 1) * part_size
            length = min(part_size, size - offset)
            target = urls.get(number)
            for attempt in (0, 1):
                if target is None:
                    raise Retry(f"the server gave no URL for part {number} of upload {state['upload_id']}")
                try:
                    etag = self._send_direct_part(connections, target, source, offset, length)
                    break
                except ApiError as e:
                    if e.status != 403 or attempt == 1:
                        raise
                    status = self._send("GET", f"/api/v1/uploads/{segment(state['upload_id'])}", b"", {})
                    target = _part_urls(status).get(number)
            with lock:
                state["etags"][str(number)] = etag
                _write_sidecar(sidecar, state)

        self._in_threads(numbers, send)

    def _send_direct_part(
        self, connections: dict[str, Http], target: dict[str, Any], source: Path, offset: int, length: int
    ) -> str:
        """PUTs one part to its presigned storage URL (without the SDK's token), streamed from
        the file; returns the ETag storage answers."""
        parts = urlsplit(target["url"])
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in connections:
            connections[origin] = Http(origin, timeout=self.settings.request_timeout)
        headers = {"Content-Type": "application/octet-stream", **target.get("headers", {})}
        with open(source, "rb") as f:
            f.seek(offset)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            status, response_headers, data = connections[origin].request(
                "PUT", path, body=_Slice(f, length), headers=headers, length=length
            )
        _raise_for(status, response_headers, data)
        etag = response_headers.get("etag")
        if not etag:
            raise Retry(f"storage answered no ETag for a part of {source.name}")
        return etag

    def _abort(self, upload_id: str) -> None:
        try:
            self.http.request("DELETE", f"/api/v1/uploads/{segment(upload_id)}")
        except ServerError:
            pass  # the server's garbage collection clears abandoned uploads

    def cleanup(self, record: Record) -> None:
        """Drops what a delivered record no longer needs (an artifact's local copy and the
        note of its upload in parts)."""
        if record.header.get("op") == "artifact":
            copy = self.run_dir / record.header["file"]
            _remove(copy)
            _remove(upload_sidecar(copy))


def _raise_for(status: int, headers: dict[str, str], data: bytes) -> None:
    """Raises what an error answer means: :class:`Retry` for a transient one (429, 5xx; after
    its ``Retry-After``), else the matching :class:`ApiError`."""
    if status < 400:
        return
    error = from_response(status, data)
    if status == 429 or status >= 500:
        after = headers.get("retry-after")
        raise Retry(str(error), after=float(after) if after and after.isdigit() else None)
    raise error


def _default_part_size(size: int) -> int:
    """The part size of a direct upload when none is set: 16 MiB, more when 10,000 parts would
    not hold the file."""
    needed = -(-size // MAX_PARTS)
    return max(1, -(-needed // DEFAULT_PART_SIZE)) * DEFAULT_PART_SIZE


def _part_urls(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """A direct upload's part URLs by part number (empty for other uploads)."""
    return {int(p["number"]): p for p in answer.get("part_urls", [])}


def _write_sidecar(sidecar: Path, state: dict[str, Any]) -> None:
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, sidecar)


def upload_sidecar(copy: Path) -> Path:
    """Where the upload in parts of a spooled copy is remembered."""
    return copy.with_name(copy.name + ".upload")


def _remove(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class _Slice:
    """``length`` bytes of a file from its current position, as a readable body."""

    def __init__(self, f: IO[bytes], length: int):
        self._f = f
        self._left = length

    def read(self, size: int = -1, /) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if size < 0 else min(size, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data


def keep_rejected(run_dir: Path, record: Record, reason: str) -> None:
    """Logs a record the server refused and appends it to the run folder's ``rejected.log``
    (one JSON line: header, reason, and the body as text, or base64 when it is binary)."""
    path = run_dir / "rejected.log"
    log.error(
        "cairn: the server rejected a %s record of run %s: %s (kept in %s)",
        record.header.get("op"),
        record.header.get("run_id"),
        reason,
        path,
    )
    try:
        body = record.body.decode("utf-8")
    except UnicodeDecodeError:
        body = "base64:" + base64.b64encode(record.body).decode()
    with open(path, "a") as f:
        f.write(json.dumps({"header": record.header, "reason": reason, "body": body}) + "\n")
