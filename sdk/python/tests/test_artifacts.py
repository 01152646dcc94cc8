"""Large artifacts: the resumable upload in parts (and its resumption after a failure), parts
sent straight to S3 storage, dedup by digest, refusals, and downloads that continue a partial
file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cairn
from cairn import Client
from cairn import client as client_module
from cairn import digest as digest_module
from cairn.deliver import Deliverer, Retry
from cairn.http import Http
from cairn.settings import parse_size, resolve
from cairn.sync import sync_run

MiB = 1 << 20
PART = 5 * MiB


class Recorder:
    """Part numbers sent (``calls``), with a fault injected once where ``fail_at`` says."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.fail_at: int | None = None

    def wrap(self, send, number_of):
        """``send`` (a ``Deliverer`` method), recording the part number ``number_of`` finds in
        its arguments."""

        def recording(*args):
            number = number_of(*args)
            if self.fail_at == number:
                self.fail_at = None
                raise Retry("injected: the network went away")
            answer = send(*args)
            self.calls.append(number)
            return answer

        return recording


@pytest.fixture
def parts_sent(monkeypatch):
    """Parts sent to the server."""
    recorder = Recorder()

    def number_of(self, http, upload_id, source, number, offset, length):
        return number

    monkeypatch.setattr(Deliverer, "_send_part", recorder.wrap(Deliverer._send_part, number_of))
    return recorder


def small_parts(monkeypatch, workers: int = 4) -> None:
    monkeypatch.setenv("CAIRN_MULTIPART_THRESHOLD", "1M")
    monkeypatch.setenv("CAIRN_MULTIPART_PART_SIZE", "5MiB")
    monkeypatch.setenv("CAIRN_UPLOAD_WORKERS", str(workers))


def leftovers(run_dir: Path) -> list[str]:
    files = run_dir / "files"
    return sorted(p.name for p in files.iterdir()) if files.exists() else []


def test_sizes_parse():
    assert parse_size("1048576") == MiB
    assert parse_size("64M") == parse_size("64MiB") == parse_size("64 MB") == 64 * MiB
    assert parse_size("1.5k") == 1536
    with pytest.raises(cairn.UsageError):
        parse_size("lots")


def test_upload_settings_from_the_environment(monkeypatch):
    for name in ("CAIRN_MULTIPART_THRESHOLD", "CAIRN_MULTIPART_PART_SIZE", "CAIRN_UPLOAD_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    default = resolve()
    assert (default.multipart_threshold, default.multipart_part_size, default.upload_workers) == (64 * MiB, None, 4)
    small_parts(monkeypatch, workers=2)
    assert (resolve().multipart_threshold, resolve().multipart_part_size, resolve().upload_workers) == (MiB, PART, 2)
    assert resolve(upload_workers=8).upload_workers == 8
    monkeypatch.setenv("CAIRN_UPLOAD_WORKERS", "0")
    with pytest.raises(cairn.UsageError, match="CAIRN_UPLOAD_WORKERS"):
        resolve()


def test_a_large_file_goes_in_parts_and_reads_back_identical(sdk_env, server, tmp_path, monkeypatch, parts_sent):
    small_parts(monkeypatch)
    data = os.urandom(20_000_000)  # four parts of 5 MiB, the last one shorter
    (tmp_path / "weights.bin").write_bytes(data)
    (tmp_path / "small.txt").write_bytes(b"below the threshold")
    run = cairn.init()
    run.log_artifact(tmp_path / "weights.bin", "model")
    run.log_artifact(tmp_path / "small.txt")
    run.finish()
    assert sorted(parts_sent.calls) == [1, 2, 3, 4]
    client = Client(server.url)
    listing = {f["path"]: f for f in client.list_artifacts(run.id, recursive=True)}
    assert set(listing) == {"model/weights.bin", "small.txt"}
    weights = listing["model/weights.bin"]
    assert weights["size"] == weights["file_size"] == len(data)
    assert weights["digest"].startswith("blake3:") and not weights["is_dir"]
    assert {f["path"]: f["is_dir"] for f in client.list_artifacts(run.id)} == {"model": True, "small.txt": False}
    assert client.download_artifact(run.id, "model/weights.bin", tmp_path / "down.bin").read_bytes() == data
    assert client.download_artifacts(run.id, dst=tmp_path / "all") == tmp_path / "all"
    assert (tmp_path / "all" / "model" / "weights.bin").read_bytes() == data
    assert (tmp_path / "all" / "small.txt").read_bytes() == b"below the threshold"
    assert leftovers(sdk_env / "runs" / run.id) == []


@pytest.mark.parametrize("workers", [1, 4])
def test_an_interrupted_upload_resumes_with_the_missing_parts(sdk_env, server, tmp_path, parts_sent, workers):
    data = os.urandom(3 * PART + 12345)
    (tmp_path / "ckpt.pt").write_bytes(data)
    run = cairn.init(mode="offline")
    run.log_artifact(tmp_path / "ckpt.pt", "checkpoints")
    run.finish()
    folder = sdk_env / "runs" / run.id
    settings = resolve(url=server.url, multipart_threshold=MiB, multipart_part_size=PART, upload_workers=workers)

    parts_sent.fail_at = 2
    first = sync_run(folder, settings)
    assert not first.complete and "injected" in (first.error or "")
    sidecar = next((folder / "files").glob("*.upload"))
    state = json.loads(sidecar.read_text())
    assert (state["size"], state["part_size"], state["parts"]) == (len(data), PART, 4)
    upload = Http(server.url).call("GET", f"/api/v1/uploads/{state['upload_id']}")
    received = sorted(p["number"] for p in upload["received"])
    assert received == sorted(parts_sent.calls) and 2 not in received
    if workers == 1:
        assert received == [1], "in order, stopped at the failure"

    parts_sent.calls.clear()
    second = sync_run(folder, settings)
    assert second.complete and second.error is None
    assert sorted(parts_sent.calls) == [n for n in (1, 2, 3, 4) if n not in received], "only the missing parts"
    assert leftovers(folder) == [], "the copy and its sidecar are gone"
    client = Client(server.url)
    assert client.download_artifact(run.id, "checkpoints/ckpt.pt", tmp_path / "down").read_bytes() == data


def test_an_upload_the_server_forgot_starts_again(sdk_env, server, tmp_path, parts_sent):
    data = os.urandom(PART + 1000)
    (tmp_path / "a.bin").write_bytes(data)
    run = cairn.init(mode="offline")
    run.log_artifact(tmp_path / "a.bin")
    run.finish()
    folder = sdk_env / "runs" / run.id
    settings = resolve(url=server.url, multipart_threshold=MiB, multipart_part_size=PART, upload_workers=1)
    parts_sent.fail_at = 2
    assert not sync_run(folder, settings).complete
    state = json.loads(next((folder / "files").glob("*.upload")).read_text())
    Http(server.url).call("DELETE", f"/api/v1/uploads/{state['upload_id']}")

    parts_sent.calls.clear()
    assert sync_run(folder, settings).complete
    assert parts_sent.calls == [1, 2], "a new upload, sent whole"
    assert leftovers(folder) == []
    assert Client(server.url).download_artifact(run.id, "a.bin", tmp_path / "down").read_bytes() == data


def test_bytes_the_server_holds_are_not_sent_again(sdk_env, server, tmp_path, monkeypatch, parts_sent):
    small_parts(monkeypatch)
    data = os.urandom(PART + 1)
    (tmp_path / "w.bin").write_bytes(data)
    run = cairn.init()
    run.log_artifact(tmp_path / "w.bin", "first")
    run.finish()
    assert sorted(parts_sent.calls) == [1, 2]
    client = Client(server.url)
    stored = client.list_artifacts(run.id, "first")[0]["digest"]
    if not digest_module.available():
        # Without the blake3 package the SDK sends no digest; stand in for it.
        monkeypatch.setattr(digest_module, "file_digest", lambda path: stored)
    else:
        assert digest_module.file_digest(tmp_path / "w.bin") == stored

    parts_sent.calls.clear()
    again = cairn.init()
    again.log_artifact(tmp_path / "w.bin", "second")
    again.finish()
    assert parts_sent.calls == []
    assert client.list_artifacts(again.id, "second")[0]["digest"] == stored
    assert client.download_artifact(again.id, "second/w.bin", tmp_path / "down").read_bytes() == data
    assert leftovers(sdk_env / "runs" / again.id) == []


@pytest.mark.parametrize("size", [100, PART + 1], ids=["one-request", "in-parts"])
def test_a_refused_artifact_is_kept_in_rejected_log_either_way(sdk_env, tmp_path, monkeypatch, size):
    small_parts(monkeypatch)
    (tmp_path / "taken").write_bytes(b"x" * size)
    run = cairn.init()
    run.log_bytes(b"a file below the folder", "taken/inside.txt")
    # A file at a folder's path is refused (400) by both routes.
    run.log_artifact(tmp_path / "taken")
    run.finish()
    folder = sdk_env / "runs" / run.id
    lines = [json.loads(line) for line in (folder / "rejected.log").read_text().splitlines()]
    assert [(entry["header"]["op"], entry["header"]["path"]) for entry in lines] == [("artifact", "taken")]
    assert "is a directory" in lines[0]["reason"]
    assert leftovers(folder) == []


def test_a_download_continues_a_partial_file(server, sdk_env, tmp_path, monkeypatch):
    data = os.urandom(3 * MiB + 7)
    run = cairn.init()
    run.log_bytes(data, "blob.bin")
    run.log_bytes(b"", "empty.txt")
    run.finish()
    client = Client(server.url)
    assert client.download_artifact(run.id, "empty.txt", tmp_path / "empty.txt").read_bytes() == b""
    ranges: list[str | None] = []
    real_stream = Http.stream

    class Dropping:
        """A response whose connection drops after the first piece."""

        def __init__(self, response):
            self._response, self._reads = response, 0

        def __getattr__(self, name):
            return getattr(self._response, name)

        def read(self, amt=None):
            self._reads += 1
            if self._reads > 1 and amt is not None:
                raise ConnectionResetError("injected")
            return self._response.read(amt)

    drop = {"left": 1}

    def stream(self, method, path, *, headers=None):
        ranges.append((headers or {}).get("Range"))
        cm = real_stream(self, method, path, headers=headers)
        if not drop["left"]:
            return cm
        drop["left"] -= 1

        class Wrapped:
            def __enter__(self):
                return Dropping(cm.__enter__())

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Wrapped()

    monkeypatch.setattr(Http, "stream", stream)
    monkeypatch.setattr(client_module, "DOWNLOAD_CHUNK", 64 << 10)
    monkeypatch.setattr(client_module, "DOWNLOAD_ATTEMPTS", 1)
    target = tmp_path / "out.bin"
    partial = tmp_path / "out.bin.part"
    with pytest.raises(cairn.ApiError, match="interrupted"):
        client.download_artifact(run.id, "blob.bin", target)
    assert partial.read_bytes() == data[: 64 << 10] and not target.exists()

    # The next call asks for the rest only.
    assert client.download_artifact(run.id, "blob.bin", target).read_bytes() == data
    assert ranges == [None, f"bytes={64 << 10}-"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == ["out.bin"]

    # Within one call, a dropped connection is picked up where it stopped.
    ranges.clear()
    drop["left"] = 1
    monkeypatch.setattr(client_module, "DOWNLOAD_ATTEMPTS", 3)
    assert client.download_artifact(run.id, "blob.bin", tmp_path / "again.bin").read_bytes() == data
    assert ranges == [None, f"bytes={64 << 10}-"]

    # A partial file of other bytes (another digest noted) is not continued.
    ranges.clear()
    (tmp_path / "other.bin.part").write_bytes(b"stale")
    (tmp_path / "other.bin.part.etag").write_text("blake3:" + "0" * 64)
    assert client.download_artifact(run.id, "blob.bin", tmp_path / "other.bin").read_bytes() == data
    assert ranges == ["bytes=5-", None]
    # Into a folder: the file's name.
    assert client.download_artifact(run.id, "blob.bin", tmp_path).read_bytes() == data


@pytest.fixture
def direct_parts_sent(monkeypatch):
    """Parts sent straight to storage, each to a presigned URL."""
    recorder = Recorder()

    def number_of(self, connections, target, source, offset, length):
        assert "X-Amz-Signature=" in target["url"], "a presigned storage URL"
        return int(target["number"])

    monkeypatch.setattr(Deliverer, "_send_direct_part", recorder.wrap(Deliverer._send_direct_part, number_of))
    return recorder


def stored_in_bucket(s3) -> list[Path]:
    root = s3.data / s3.BUCKET / "sdk" / "blake3"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_direct_uploads_send_parts_straight_to_s3(
    sdk_env, s3_server, tmp_path, monkeypatch, parts_sent, direct_parts_sent
):
    server, s3 = s3_server
    small_parts(monkeypatch)
    monkeypatch.setenv("CAIRN_URL", server.url)
    monkeypatch.setenv("CAIRN_DIRECT_UPLOADS", "1")
    data = os.urandom(3 * PART + 4321)
    (tmp_path / "model.pt").write_bytes(data)
    run = cairn.init()
    run.log_artifact(tmp_path / "model.pt", "ckpt")
    run.finish()
    assert sorted(direct_parts_sent.calls) == [1, 2, 3, 4]
    assert parts_sent.calls == [], "no part went through the server"
    client = Client(server.url)
    listing = client.list_artifacts(run.id, "ckpt")
    assert listing[0]["size"] == len(data)
    assert client.download_artifact(run.id, "ckpt/model.pt", tmp_path / "down").read_bytes() == data
    blobs = stored_in_bucket(s3)
    assert len(blobs) == 1 and blobs[0].read_bytes() == data
    assert leftovers(sdk_env / "runs" / run.id) == []


def test_an_interrupted_direct_upload_resumes_from_the_etags_it_kept(sdk_env, s3_server, tmp_path, direct_parts_sent):
    server, _ = s3_server
    data = os.urandom(3 * PART + 99)
    (tmp_path / "ckpt.pt").write_bytes(data)
    run = cairn.init(mode="offline")
    run.log_artifact(tmp_path / "ckpt.pt")
    run.finish()
    folder = sdk_env / "runs" / run.id
    settings = resolve(
        url=server.url, multipart_threshold=MiB, multipart_part_size=PART, upload_workers=1, direct_uploads=True
    )
    direct_parts_sent.fail_at = 3
    first = sync_run(folder, settings)
    assert not first.complete and "injected" in (first.error or "")
    state = json.loads(next((folder / "files").glob("*.upload")).read_text())
    assert state["direct"] is True and sorted(state["etags"]) == ["1", "2"]

    direct_parts_sent.calls.clear()
    assert sync_run(folder, settings).complete
    assert direct_parts_sent.calls == [3, 4], "only the parts without an ETag"
    assert leftovers(folder) == []
    assert Client(server.url).download_artifact(run.id, "ckpt.pt", tmp_path / "down").read_bytes() == data


def test_direct_uploads_to_a_server_that_signs_nothing_go_through_it(
    sdk_env, server, tmp_path, monkeypatch, parts_sent, direct_parts_sent, caplog
):
    small_parts(monkeypatch)
    monkeypatch.setenv("CAIRN_DIRECT_UPLOADS", "1")
    data = os.urandom(PART + 5)
    (tmp_path / "w.bin").write_bytes(data)
    run = cairn.init()
    run.log_artifact(tmp_path / "w.bin")
    run.finish()
    assert direct_parts_sent.calls == []
    assert sorted(parts_sent.calls) == [1, 2]
    assert "goes through the server" in caplog.text
    assert Client(server.url).download_artifact(run.id, "w.bin", tmp_path / "down").read_bytes() == data
