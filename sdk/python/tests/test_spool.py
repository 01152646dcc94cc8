"""The spool's on-disk format: order, acks, torn tails, corruption, rotation; and the
columnar encoder."""

from __future__ import annotations

import math
import struct

from cairn import spool as spool_module
from cairn.spool import MAGIC, Spool
from cairn.writer import encode_metrics


def read_all(s: Spool) -> list[dict]:
    reader = s.reader()
    out = []
    while (record := reader.next()) is not None:
        out.append(record.header)
    reader.close()
    return out


def test_records_come_back_in_order_and_acks_resume(tmp_path):
    s = Spool(tmp_path / "s")
    for i in range(5):
        s.append({"n": i}, b"body-%d" % i)
    reader = s.reader()
    first = reader.next()
    assert first is not None and first.header == {"n": 0} and first.body == b"body-0"
    second = reader.next()
    reader.ack(second)
    reader.close()
    assert [h["n"] for h in read_all(s)] == [2, 3, 4]
    s.close()
    # A new process appends after what is there.
    again = Spool(tmp_path / "s")
    again.append({"n": 5})
    assert [h["n"] for h in read_all(again)] == [2, 3, 4, 5]


def test_a_torn_tail_is_ignored_and_cut_before_the_next_append(tmp_path):
    s = Spool(tmp_path / "s")
    s.append({"n": 0})
    s.append({"n": 1}, b"x" * 100)
    s.close()
    segment = tmp_path / "s" / "00000001.seg"
    data = segment.read_bytes()
    segment.write_bytes(data[:-30])  # a crash in the middle of the last write
    assert [h["n"] for h in read_all(Spool(tmp_path / "s"))] == [0]
    again = Spool(tmp_path / "s")
    again.append({"n": 2})
    again.close()
    assert [h["n"] for h in read_all(Spool(tmp_path / "s"))] == [0, 2]


def test_a_corrupt_record_is_skipped_with_the_rest_of_its_segment(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 200)
    s = Spool(tmp_path / "s")
    for i in range(6):
        s.append({"n": i}, b"y" * 60)
    s.close()
    segments = sorted((tmp_path / "s").glob("*.seg"))
    assert len(segments) >= 3, "rotation at SEGMENT_BYTES"
    first = bytearray(segments[0].read_bytes())
    first[len(MAGIC) + 12] ^= 0xFF  # flip a payload byte of the first record
    segments[0].write_bytes(bytes(first))
    got = [h["n"] for h in read_all(Spool(tmp_path / "s"))]
    assert got and got[0] > 0 and got == sorted(got)


def test_acked_segments_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 200)
    s = Spool(tmp_path / "s")
    for i in range(6):
        s.append({"n": i}, b"z" * 60)
    reader = s.reader()
    last = None
    while (record := reader.next()) is not None:
        last = record
    assert last is not None
    reader.ack(last)
    reader.close()
    assert len(list((tmp_path / "s").glob("*.seg"))) == 1
    assert not s.pending()


def decode_binary(body: bytes) -> dict[str, tuple[list[int], list[int], list[float]]]:
    """A reader of the binary ingest layout, written from its description."""
    assert body[:8] == b"CAIRNIN1"
    (count,) = struct.unpack_from("<I", body, 8)
    at = 12
    out = {}
    for _ in range(count):
        (length,) = struct.unpack_from("<H", body, at)
        key = body[at + 2 : at + 2 + length].decode()
        at += 2 + length
        n, flags = struct.unpack_from("<IB", body, at)
        at += 5
        shared = None
        if flags & 1:
            (shared,) = struct.unpack_from("<q", body, at)
            at += 8
        steps = list(struct.unpack_from(f"<{n}q", body, at))
        at += 8 * n
        if shared is None:
            stamps = list(struct.unpack_from(f"<{n}q", body, at))
            at += 8 * n
        else:
            stamps = [shared] * n
        values = list(struct.unpack_from(f"<{n}d", body, at))
        at += 8 * n
        out[key] = (steps, stamps, values)
    assert at == len(body)
    return out


def test_encoder_columns_shared_timestamps_and_special_values():
    body, count = encode_metrics(
        [
            (0, 1000, {"loss": 0.5, "acc": 1}),
            (1, 1000, {"loss": float("nan")}),
            (2, 1001, {"loss": float("inf"), "big": 10**400}),
        ]
    )
    assert count == 5
    columns = decode_binary(body)
    steps, stamps, values = columns["loss"]
    assert steps == [0, 1, 2] and stamps == [1000, 1000, 1001]
    assert values[0] == 0.5 and math.isnan(values[1]) and values[2] == math.inf
    assert columns["acc"] == ([0], [1000], [1.0])
    assert columns["big"] == ([2], [1001], [math.inf])
    assert len(body) < 200


def test_uniform_and_mixed_batches_encode_the_same_points():
    uniform = [(s, 1000 + s // 3, {"a": s * 0.5, "b": -s}) for s in range(10)]
    mixed = uniform + [(10, 2000, {"c": 1.0})]
    for items in (uniform, mixed, uniform[:1], [(0, 5, {"only": 10**400})]):
        body, count = encode_metrics(items)
        assert count == sum(len(d) for _, _, d in items)
        columns = decode_binary(body)
        for key in {k for _, _, d in items for k in d}:
            rows = [(s, t, float(d[key]) if d[key] < 10**300 else math.inf) for s, t, d in items if key in d]
            assert list(zip(*columns[key], strict=True)) == rows
