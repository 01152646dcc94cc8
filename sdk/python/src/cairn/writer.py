"""The write path: ``log()`` appends to memory; threads spool and send.

::

    training thread ── add() ──► deque (bounded) ──► spooler thread ──► Spool (disk) ──► sender ──► server
                                      └── full: the training thread spools itself (disk, never network)

- :meth:`Writer.add` is the hot path: one ``deque.append`` and a counter. It never waits on the
  network and never takes a lock.
- The spooler cuts batches every :attr:`Settings.batch_interval` seconds (or sooner when
  :attr:`Settings.batch_points` are waiting), encodes them in the server's binary ingest layout
  and appends them to the spool with a fresh idempotency key.
- The sender delivers spool records in order, retrying transient failures with backoff (the
  server may be away for as long as it likes: records wait on disk, memory stays bounded).
- :meth:`Writer.close` flushes and waits a bounded time for delivery; anything undelivered
  stays in the spool for the next process or ``cairn sync``.
"""

from __future__ import annotations

import logging
import random
import struct
import threading
import time
import uuid
from array import array
from collections import deque
from operator import itemgetter
from pathlib import Path
from typing import Any

from .deliver import Deliverer, Rejected, Retry, keep_rejected
from .http import Http
from .settings import Settings
from .spool import Record, Spool

log = logging.getLogger("cairn")

# Seconds between ack-file updates while records flow (delivery is idempotent, so a crash
# before the next update only sends the last few records again).
ACK_INTERVAL = 0.5

BINARY_TYPE = "application/vnd.cairn.metrics"
_MAGIC = b"CAIRNIN1"
_SERIES_HEAD = struct.Struct("<H")
_COUNT_FLAGS = struct.Struct("<IB")
_TIMESTAMP = struct.Struct("<q")


def encode_metrics(items: list[tuple[int, int, dict[str, float]]]) -> tuple[bytes, int]:
    """The binary ingest body (``application/vnd.cairn.metrics``, layout in the server's
    ``v1/ingest.rs``) of ``(step, timestamp_ms, {key: value})`` items; returns the body and its
    point count. Columns become machine arrays in one C call each, which costs a quarter of
    what ``json.dumps`` of the same columns does."""
    if items:
        # The usual batch, every item with the same keys, is transposed by C loops.
        dicts = list(map(_third, items))
        keys = dicts[0].keys()
        if keys and all(map(keys.__eq__, map(dict.keys, dicts))):
            return _encode_uniform(items, dicts, list(keys))
    columns: dict[str, tuple[list[int], list[int], list[float]]] = {}
    count = 0
    for step, ts, data in items:
        for key, value in data.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [], [])
            column[0].append(step)
            column[1].append(ts)
            column[2].append(value)
        count += len(data)
    parts = [_MAGIC, struct.pack("<I", len(columns))]
    for key, (steps, stamps, values) in columns.items():
        _append_series(parts, key, len(steps), array("q", steps).tobytes(), _timestamps(stamps), values)
    return b"".join(parts), count


_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)


def _encode_uniform(
    items: list[tuple[int, int, dict[str, float]]], dicts: list[dict[str, float]], names: list[str]
) -> tuple[bytes, int]:
    """``encode_metrics`` of items that all have the keys ``names``: the same body, built
    with C loops (itemgetter rows, zip transposition, one steps array for every key)."""
    n = len(items)
    steps = array("q", map(_first, items)).tobytes()
    stamps = _timestamps(list(map(_second, items)))
    get = itemgetter(*names)
    rows = map(get, dicts) if len(names) > 1 else ((v,) for v in map(get, dicts))
    parts = [_MAGIC, struct.pack("<I", len(names))]
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        _append_series(parts, name, n, steps, stamps, values)
    return b"".join(parts), n * len(names)


def _timestamps(stamps: list[int]) -> tuple[int | None, bytes]:
    """One shared timestamp, or the packed column when they differ."""
    first = stamps[0]
    if stamps.count(first) == len(stamps):
        return first, b""
    return None, array("q", stamps).tobytes()


def _append_series(
    parts: list[bytes],
    name: str,
    count: int,
    steps: bytes,
    stamps: tuple[int | None, bytes],
    values: Any,
) -> None:
    raw = name.encode()
    shared, column = stamps
    parts.append(_SERIES_HEAD.pack(len(raw)))
    parts.append(raw)
    parts.append(_COUNT_FLAGS.pack(count, 0 if shared is None else 1))
    if shared is not None:
        parts.append(_TIMESTAMP.pack(shared))
    parts.append(steps)
    if shared is None:
        parts.append(column)
    try:
        parts.append(array("d", values).tobytes())
    except OverflowError:  # an int too large for a double
        parts.append(array("d", [_double(v) for v in values]).tobytes())


def _double(value: float) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


class Writer:
    """Owns one run's spool and, online, the threads that deliver it."""

    def __init__(self, run_id: str, run_dir: Path, settings: Settings, *, online: bool):
        self.run_id = run_id
        self.run_dir = run_dir
        self.settings = settings
        self.online = online
        self.spool = Spool(run_dir / "spool")
        self._items: deque[tuple[int, int, dict[str, float]]] = deque()
        self._added = 0  # points added (written by the training thread only)
        self._taken = 0  # points spooled (written under _drain_lock only)
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._spooled = threading.Condition()
        self._closing = threading.Event()
        self._spooler_done = threading.Event()
        self._deadline: float | None = None
        self._deadline_set = threading.Event()
        self.delivered_records = 0
        self.rejected_records = 0
        self.last_error: str | None = None
        self._spooler = threading.Thread(target=self._spool_loop, name="cairn-spooler", daemon=True)
        self._spooler.start()
        self._sender: threading.Thread | None = None
        if online:
            self._sender = threading.Thread(target=self._send_loop, name="cairn-sender", daemon=True)
            self._sender.start()

    # ----- the training thread -----

    def add(self, step: int, timestamp: int, data: dict[str, float]) -> None:
        self._items.append((step, timestamp, data))
        self._added += len(data)
        if self._added - self._taken >= self.settings.max_buffered_points:
            # The spooler is falling behind: spool one batch here, on disk, rather than grow
            # without bound (one batch keeps this call's cost to a few milliseconds).
            self._drain(max_batches=1)

    def op(self, header: dict[str, Any], body: bytes = b"") -> None:
        """Appends a non-metric record, after every point added before it."""
        with self._drain_lock:
            self._drain_locked()
            self.spool.append(header, body)
        self._notify()

    # ----- spooling -----

    def _drain(self, max_batches: int | None = None) -> None:
        """Spools waiting points, taking the lock per batch so that a training thread that
        must spool itself waits for at most one batch."""
        batches = 0
        while self._items and (max_batches is None or batches < max_batches):
            with self._drain_lock:
                if not self._spool_batch():
                    break
            batches += 1
        if batches:
            self._notify()

    def _drain_locked(self) -> None:
        while self._spool_batch():
            pass

    def _spool_batch(self) -> bool:
        """Encodes and spools up to one batch of waiting points; False when none waited."""
        items = self._items
        if not items:
            return False
        batch = []
        points = 0
        limit = self.settings.batch_points
        while items and points < limit:
            item = items.popleft()
            batch.append(item)
            points += len(item[2])
        body, count = encode_metrics(batch)
        header = {"op": "metrics", "run_id": self.run_id, "key": uuid.uuid4().hex, "type": BINARY_TYPE}
        self.spool.append(header, body)
        self._taken += count
        return True

    def _notify(self) -> None:
        with self._spooled:
            self._spooled.notify_all()

    def _spool_loop(self) -> None:
        interval = self.settings.batch_interval
        try:
            while not self._closing.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                if self._items:
                    try:
                        self._drain()
                    except Exception:  # noqa: BLE001 — never raise into the process
                        log.exception("cairn: spooling failed; points stay in memory, retrying")
                        self._closing.wait(1.0)
        finally:
            self._spooler_done.set()

    # ----- sending -----

    def _send_loop(self) -> None:
        http = Http(
            self.settings.url,
            token=self.settings.token,
            timeout=self.settings.request_timeout,
        )
        deliverer = Deliverer(http, self.run_dir, self.settings)
        reader = self.spool.reader()
        backoff = 0.05
        unacked = None  # the last delivered record not yet in the ack file
        last_ack = time.monotonic()
        try:
            while True:
                record = reader.next()
                if record is None:
                    if unacked is not None:
                        reader.ack(unacked)
                        unacked = None
                    if self._spooler_done.is_set() and not self._items:
                        # Records appended between the read above and the spooler stopping
                        # are on disk by now: only an empty read after it means done.
                        record = reader.next()
                        if record is None:
                            return
                if record is None:
                    with self._spooled:
                        self._spooled.wait(0.2)
                    continue
                while True:
                    if self._past_deadline():
                        if unacked is not None:
                            reader.ack(unacked)
                        return
                    try:
                        deliverer.deliver(record)
                        self.delivered_records += 1
                        backoff = 0.05
                        break
                    except Retry as e:
                        if self.last_error != str(e):
                            log.warning("cairn: server unavailable (%s); spooling and retrying", e)
                        self.last_error = str(e)
                        wait = e.after if e.after is not None else backoff
                        backoff = min(backoff * 2, 5.0)
                        self._sleep(wait * (0.75 + random.random() / 2))
                    except Rejected as e:
                        self._reject(record, str(e))
                        break
                # Delivery is idempotent, so a crash before the next ack only sends a few
                # records again; artifacts are acked at once (their local copy goes next).
                if record.header.get("op") == "artifact" or time.monotonic() - last_ack >= ACK_INTERVAL:
                    reader.ack(record)
                    unacked = None
                    last_ack = time.monotonic()
                else:
                    unacked = record
                deliverer.cleanup(record)
                if self.last_error is not None:
                    log.warning("cairn: server reachable again; delivering the spool")
                    self.last_error = None
        except Exception:  # noqa: BLE001
            log.exception("cairn: the sender stopped; undelivered records stay in the spool")
        finally:
            reader.close()
            http.close()

    def _reject(self, record: Record, reason: str) -> None:
        self.rejected_records += 1
        keep_rejected(self.run_dir, record, reason)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _sleep(self, seconds: float) -> None:
        if self._deadline is not None:
            time.sleep(min(seconds, max(0.0, self._deadline - time.monotonic())))
        else:
            self._deadline_set.wait(seconds)

    # ----- closing -----

    def flush(self) -> None:
        """Spools everything added so far (disk; the sender picks it up)."""
        self._drain()

    def close(self, timeout: float) -> bool:
        """Stops spooling and waits up to ``timeout`` seconds for delivery. Returns whether
        every record was delivered (offline: whether the spool was written)."""
        self._drain()
        self._closing.set()
        self._wake.set()
        self._spooler.join()
        self._drain()
        self.spool.sync()
        delivered = True
        if self._sender is not None:
            self._deadline = time.monotonic() + max(0.0, timeout)
            self._deadline_set.set()
            self._notify()
            self._sender.join(max(0.0, timeout) + 1.0)
            delivered = not self._sender.is_alive() and not self.spool.pending()
        self.spool.close()
        return delivered

    @property
    def buffered_points(self) -> int:
        return self._added - self._taken
