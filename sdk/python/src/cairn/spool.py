"""The durable local spool: an append-only log of what a run still has to send.

Every record the SDK sends goes through the spool first, so a crash, a killed server or a
finished process never loses what was logged; the next process or ``cairn sync`` sends the
rest. Layout of a spool directory::

    00000001.seg   segments: the 8 bytes ``CAIRNSP1``, then records
    00000002.seg
    ack            "<segment> <offset>": everything before this position was delivered

A record is a little-endian ``u32`` payload length, a ``u32`` CRC-32 of the payload, then the
payload: one line of JSON (the header: what to do) and the body bytes after the newline. A
record that was cut short by a crash (too few bytes, or a CRC that does not match at the end of
the last segment) is ignored and cut off before the next append. Segments are rotated at
:data:`SEGMENT_BYTES` and removed once delivered. Delivery is in order, and each record carries
what the server needs to apply it once (an idempotency key), so sending a record twice after a
crash between delivery and the ``ack`` update changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"CAIRNSP1"
SEGMENT_BYTES = 64 << 20
_HEAD = struct.Struct("<II")
log = logging.getLogger("cairn")


@dataclass
class Record:
    header: dict[str, Any]
    body: bytes
    segment: int
    end: int


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    payload = json.dumps(header, separators=(",", ":")).encode() + b"\n" + body
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _segment_name(number: int) -> str:
    return f"{number:08d}.seg"


def _valid_end(path: Path) -> int:
    """The offset just past the last whole record of a segment."""
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            return 0
        offset = len(MAGIC)
        while True:
            head = f.read(_HEAD.size)
            if len(head) < _HEAD.size:
                return offset
            length, crc = _HEAD.unpack(head)
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return offset
            offset += _HEAD.size + length


class Spool:
    """One run's spool directory. ``append`` is safe from several threads."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: Any = None
        self._segment = 0
        self._size = 0

    def segments(self) -> list[int]:
        out = []
        for entry in os.listdir(self.dir):
            if entry.endswith(".seg") and entry[:-4].isdigit():
                out.append(int(entry[:-4]))
        return sorted(out)

    def _open_for_append(self) -> None:
        existing = self.segments()
        if existing:
            number = existing[-1]
            path = self.dir / _segment_name(number)
            end = _valid_end(path)
            if end >= len(MAGIC):
                if end != path.stat().st_size:
                    log.warning("cairn: cutting a torn record off the end of %s", path)
                    with open(path, "r+b") as f:
                        f.truncate(end)
                self._file = open(path, "ab")
                self._segment, self._size = number, end
                return
            number += 1
        else:
            number = 1
        self._start_segment(number)

    def _start_segment(self, number: int) -> None:
        if self._file is not None:
            # No fsync here: it would stall whoever appends (a training thread spilling) for
            # as long as the disk takes; ``close`` makes everything durable at the end.
            self._file.flush()
            self._file.close()
        path = self.dir / _segment_name(number)
        self._file = open(path, "wb")
        self._file.write(MAGIC)
        self._file.flush()
        self._segment, self._size = number, len(MAGIC)

    def append(self, header: dict[str, Any], body: bytes = b"") -> None:
        data = encode(header, body)
        with self._lock:
            if self._file is None:
                self._open_for_append()
            elif self._size + len(data) > SEGMENT_BYTES and self._size > len(MAGIC):
                self._start_segment(self._segment + 1)
            self._file.write(data)
            self._file.flush()
            self._size += len(data)

    def sync(self) -> None:
        """Forces appended records to stable storage (on finish; a process crash alone never
        loses flushed records, only a machine crash can)."""
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None

    def read_ack(self) -> tuple[int, int]:
        try:
            text = (self.dir / "ack").read_text().split()
            return int(text[0]), int(text[1])
        except (OSError, ValueError, IndexError):
            return 0, 0

    def reader(self) -> SpoolReader:
        return SpoolReader(self)

    def pending(self) -> bool:
        """Whether any record is still undelivered."""
        reader = self.reader()
        try:
            return reader.next() is not None
        finally:
            reader.close()


class SpoolReader:
    """Reads undelivered records in order, from the ``ack`` position on."""

    def __init__(self, spool: Spool):
        self.spool = spool
        self.segment, self.offset = spool.read_ack()
        self._file: Any = None
        self._file_segment = -1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self, number: int) -> bool:
        self.close()
        try:
            self._file = open(self.spool.dir / _segment_name(number), "rb")
        except FileNotFoundError:
            return False
        self._file_segment = number
        return True

    def _read(self) -> Record | None:
        """The whole record at the offset of the open segment; None when there is none yet
        (or the segment ends torn); raises ValueError when its checksum fails."""
        self._file.seek(self.offset)
        head = self._file.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return None
        length, crc = _HEAD.unpack(head)
        payload = self._file.read(length)
        if len(payload) < length:
            return None
        if zlib.crc32(payload) != crc:
            raise ValueError("checksum")
        line, _, body = payload.partition(b"\n")
        end = self.offset + _HEAD.size + length
        self.offset = end
        return Record(json.loads(line), body, self.segment, end)

    def next(self) -> Record | None:
        """The next whole record, or None when there is none (yet)."""
        # The common case, a record right at the offset of the open segment, needs no listing.
        if self._file is not None and self._file_segment == self.segment and self.offset >= len(MAGIC):
            try:
                record = self._read()
            except ValueError:
                record = None
            if record is not None:
                return record
        while True:
            segments = self.spool.segments()
            later = [s for s in segments if s > self.segment]
            if self.segment not in segments:
                if not later:
                    return None
                self.segment, self.offset = later[0], len(MAGIC)
            if self._file_segment != self.segment and not self._open(self.segment):
                continue
            if self.offset < len(MAGIC):
                self.offset = len(MAGIC)
            try:
                record = self._read()
            except ValueError:
                log.error(
                    "cairn: spool record at %s:%d fails its checksum; skipping the rest of that segment",
                    _segment_name(self.segment),
                    self.offset,
                )
            else:
                if record is not None:
                    return record
                # Incomplete: still being written, or the torn tail of a finished segment.
            if not later:
                return None
            self.segment, self.offset = later[0], len(MAGIC)

    def ack(self, record: Record) -> None:
        """Marks everything up to and including ``record`` as delivered."""
        tmp = self.spool.dir / "ack.tmp"
        tmp.write_text(f"{record.segment} {record.end}\n")
        os.replace(tmp, self.spool.dir / "ack")
        for number in self.spool.segments():
            if number < record.segment:
                try:
                    os.remove(self.spool.dir / _segment_name(number))
                except FileNotFoundError:
                    pass


class RunLock:
    """An exclusive lock on a run folder, held while a process owns the run (so ``cairn sync``
    and recovery leave it alone)."""

    def __init__(self, path: Path):
        self.file = open(path, "a+")
        self.held = True
        try:
            import fcntl

            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no locking
            pass
        except OSError:
            self.file.close()
            self.held = False

    def release(self) -> None:
        if self.held:
            self.file.close()
            self.held = False
