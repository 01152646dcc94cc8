"""Delivery of spool records to the server, shared by the live sender and ``cairn sync``.

Record kinds (the header's ``op``):

- ``run``: ``PUT /api/v1/runs/{run_id}`` creates the run under the SDK's own id (idempotent).
- ``metrics``: ``POST /api/v1/runs/{run_id}/metrics`` with an ``Idempotency-Key``.
- ``batch``: params and tags through MLflow's ``runs/log-batch`` (in slices of 100).
- ``update``: status and end time through MLflow's ``runs/update``.
- ``artifact``: a file copied into the run folder, uploaded through the artifact proxy.

A transient failure (no connection, 5xx, 429) raises :class:`Retry`; a rejection the same
request can never pass (4xx) raises :class:`Rejected`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import IO, Any

from .errors import ApiError, ServerError, from_response
from .http import Http, artifact_path, segment
from .spool import Record

BATCH_LIMIT = 100
log = logging.getLogger("cairn")


class Retry(Exception):
    """Try again later."""

    def __init__(self, message: str, *, after: float | None = None):
        super().__init__(message)
        self.after = after


class Rejected(Exception):
    """The server refuses this record for good."""


class Deliverer:
    def __init__(self, http: Http, run_dir: Path):
        self.http = http
        self.run_dir = run_dir
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
        body: bytes | IO[bytes],
        headers: dict[str, str],
        length: int | None = None,
    ) -> Any:
        status, response_headers, data = self.http.request(method, path, body=body, headers=headers, length=length)
        if status >= 400:
            error = from_response(status, data)
            if status == 429 or status >= 500:
                after = response_headers.get("retry-after")
                raise Retry(str(error), after=float(after) if after and after.isdigit() else None)
            raise error
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
        with open(source, "rb") as f:
            self._send(
                "PUT",
                artifact_path(uri, header["path"]),
                f,
                {"Content-Type": "application/octet-stream"},
                length=size,
            )

    def cleanup(self, record: Record) -> None:
        """Drops what a delivered record no longer needs (an artifact's local copy)."""
        if record.header.get("op") == "artifact":
            try:
                os.remove(self.run_dir / record.header["file"])
            except FileNotFoundError:
                pass


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
