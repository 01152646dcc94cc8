"""Artifacts at scale: multipart uploads and ranged downloads through the official client,
content addressing (one blob per distinct content), HTTP ranges, the native resumable upload,
bad input, and garbage collection.

Tests of MLflow wire behaviour run against MLflow's own server too; tests of Cairn's own
features (native routes, dedup, gc) are skipped there.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

from e2e_util import assert_error, get, is_mlflow, new_run, post

cairn_only = pytest.mark.skipif(is_mlflow(), reason="a Cairn feature")
MIB = 1 << 20


def _payload(size: int, seed: int) -> bytes:
    block = bytes((i * 31 + seed) % 251 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


def _files(ctx, run_id: str) -> dict[str, dict]:
    body = get(f"{ctx.url}/api/v1/runs/{run_id}/artifacts", {"recursive": "true"}).json()
    return {f["path"]: f for f in body["files"]}


@cairn_only
def test_client_multipart_upload_and_ranged_download(ctx, tmp_path, monkeypatch):
    """server-info announces multipart uploads: the client uploads in parallel parts through
    mpu/create. Ranged downloads are opt-in on the client; presigned/ serves them."""
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(MIB))
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(MIB))
    calls = {"upload": 0, "download": 0}
    upload, download = HttpArtifactRepository._try_multipart_upload, HttpArtifactRepository._multipart_download

    def counting_upload(self, *args, **kwargs):
        calls["upload"] += 1
        return upload(self, *args, **kwargs)

    def counting_download(self, *args, **kwargs):
        calls["download"] += 1
        return download(self, *args, **kwargs)

    monkeypatch.setattr(HttpArtifactRepository, "_try_multipart_upload", counting_upload)
    monkeypatch.setattr(HttpArtifactRepository, "_multipart_download", counting_download)
    src = tmp_path / "weights.bin"
    data = _payload(5 * MIB + 12345, 3)
    src.write_bytes(data)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src), artifact_path="ckpt")
    assert calls["upload"] == 1
    listed = ctx.client.list_artifacts(run.info.run_id, "ckpt")
    assert [(f.path, f.file_size) for f in listed] == [("ckpt/weights.bin", len(data))]
    out = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="ckpt/weights.bin", dst_path=str(tmp_path / "out")
    )
    assert calls["download"] == 1
    assert Path(out).read_bytes() == data


@cairn_only
def test_identical_files_are_stored_once(ctx, tmp_path):
    src = tmp_path / "data.bin"
    src.write_bytes(_payload(300_000, 9))
    runs = []
    for name in ("a.bin", "b/c.bin"):
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(src), artifact_path=os.path.dirname(name) or None)
        runs.append(run.info.run_id)
    digests = {_files(ctx, r)[p]["digest"] for r, p in zip(runs, ["data.bin", "b/data.bin"], strict=True)}
    assert len(digests) == 1
    digest = digests.pop()
    assert digest.startswith("blake3:") and len(digest) == 7 + 64
    blob = get(f"{ctx.url}/api/v1/blobs/{digest}").json()
    assert blob["size"] == 300_000
    assert blob["references"] == 2
    assert sorted(u["run_id"] for u in blob["used_by"]) == sorted(runs)


def test_range_requests(ctx):
    base = f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts/{ctx.experiment_id}/ranges/f.bin"
    data = _payload(10_000, 1)
    assert requests.put(base, data=data, timeout=30).status_code == 200
    r = requests.get(base, headers={"Range": "bytes=100-199"}, timeout=30)
    assert r.status_code == 206
    assert r.content == data[100:200]
    assert r.headers["Content-Range"] == "bytes 100-199/10000"
    r = requests.get(base, headers={"Range": "bytes=-10"}, timeout=30)
    assert (r.status_code, r.content) == (206, data[-10:])
    r = requests.get(base, headers={"Range": "bytes=9990-"}, timeout=30)
    assert (r.status_code, r.content) == (206, data[9990:])
    r = requests.get(base, headers={"Range": "bytes=20000-"}, timeout=30)
    assert r.status_code == 416


def test_large_file_reads_back_whole_and_in_ranges(ctx):
    """A file large enough that Cairn reads it from the disk with O_DIRECT (64 MiB and more):
    whole, from an unaligned offset to the end, and in ranges across its buffer boundaries."""
    base = f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts/{ctx.experiment_id}/large/f.bin"
    size = 70 * MIB + 4099
    data = random.Random(11).randbytes(size)
    assert requests.put(base, data=data, timeout=120).status_code == 200
    r = requests.get(base, timeout=120)
    assert r.status_code == 200
    assert len(r.content) == size and r.content == data
    for first, last in ((1000, size - 1), (4095, 2 * MIB + 4), (2 * MIB - 1, 2 * MIB), (size - 5000, size - 1)):
        r = requests.get(base, headers={"Range": f"bytes={first}-{last}"}, timeout=120)
        assert r.status_code == 206
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert r.content == data[first : last + 1], (first, last)


@cairn_only
def test_etag_revalidation(ctx):
    base = f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts/{ctx.experiment_id}/etag/f.txt"
    assert requests.put(base, data=b"hello", timeout=30).status_code == 200
    r = requests.get(base, timeout=30)
    assert r.headers["Accept-Ranges"] == "bytes"
    tag = r.headers["ETag"]
    assert tag.startswith('"blake3:')
    assert requests.get(base, headers={"If-None-Match": tag}, timeout=30).status_code == 304


def test_path_escapes_are_refused(ctx):
    base = f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts"
    for bad in [f"{ctx.experiment_id}/%2E%2E/x", f"{ctx.experiment_id}/a/%2e%2e/%2e%2e/x"]:
        r = requests.put(f"{base}/{bad}", data=b"x", timeout=30)
        assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Invalid path")


@cairn_only
def test_multipart_bad_input(ctx):
    art = f"{ctx.url}/api/2.0/mlflow-artifacts"
    # The URL names the directory, the body's `path` the client's local file (its base name is used).
    folder = f"{ctx.experiment_id}/mpu"
    local = "/home/me/big.bin"
    path = f"{folder}/big.bin"
    assert_error(post(f"{art}/mpu/create/{folder}", {"path": local, "num_parts": 0}), 400, "INVALID_PARAMETER_VALUE")
    created = post(f"{art}/mpu/create/{folder}", {"path": local, "num_parts": 3}).json()
    upload_id = created["upload_id"]
    urls = {c["part_number"]: c["url"] for c in created["credentials"]}
    assert sorted(urls) == [1, 2, 3]
    parts = [_payload(MIB, 1), _payload(MIB, 2), _payload(1000, 3)]
    # The last part waits until a part tells its size; parts arrive out of order.
    assert requests.put(urls[2], data=parts[1], timeout=30).status_code == 200
    assert requests.put(urls[3], data=parts[2], timeout=30).status_code == 200
    done = {"path": local, "upload_id": upload_id, "parts": []}
    # A missing part: completion is refused and the upload stays usable.
    assert_error(post(f"{art}/mpu/complete/{folder}", done), 400, "INVALID_PARAMETER_VALUE", "missing parts 1")
    # A part of the wrong size leaves a gap: completion is refused until it is sent again.
    assert requests.put(urls[1], data=parts[0][:-1], timeout=30).status_code == 200
    assert_error(post(f"{art}/mpu/complete/{folder}", done), 400, "INVALID_PARAMETER_VALUE", "never uploaded")
    assert requests.put(urls[1], data=parts[0], timeout=30).status_code == 200
    # The wrong destination for this upload.
    assert_error(post(f"{art}/mpu/complete/{folder}/other", done), 400, "INVALID_PARAMETER_VALUE")
    r = post(f"{art}/mpu/complete/{folder}", done)
    assert r.status_code == 200, r.text
    assert requests.get(f"{art}/artifacts/{path}", timeout=30).content == b"".join(parts)
    # The upload is gone once completed.
    assert_error(requests.put(urls[1], data=parts[0], timeout=30), 404, "RESOURCE_DOES_NOT_EXIST")
    # Abort drops an upload.
    other = post(f"{art}/mpu/create/{folder}", {"path": "other.bin", "num_parts": 1}).json()
    aborted = post(f"{art}/mpu/abort/{folder}", {"path": "other.bin", "upload_id": other["upload_id"]})
    assert aborted.status_code == 200
    r = requests.put(other["credentials"][0]["url"], data=b"x", timeout=30)
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert requests.get(f"{art}/artifacts/{folder}/other.bin", timeout=30).status_code == 404
    r = requests.put(f"{art}/mpu/parts/{upload_id}/x", data=b"x", timeout=30)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    bad_name = post(f"{art}/mpu/create/{folder}", {"path": "/tmp/..", "num_parts": 1})
    assert_error(bad_name, 400, "INVALID_PARAMETER_VALUE")


@cairn_only
def test_native_resumable_upload(ctx):
    run_id = new_run(ctx)
    size = 12 * MIB + 7
    data = _payload(size, 5)
    part_size = 5 * MIB
    r = post(f"{ctx.url}/api/v1/runs/{run_id}/uploads", {"path": "model/w.bin", "size": size, "part_size": part_size})
    assert r.status_code == 201, r.text
    upload = r.json()
    assert (upload["parts"], upload["part_size"], upload["stored"]) == (3, part_size, False)
    uid = upload["upload_id"]

    def send(n: int) -> requests.Response:
        chunk = data[(n - 1) * part_size : n * part_size]
        return requests.put(f"{ctx.url}/api/v1/uploads/{uid}/parts/{n}", data=chunk, timeout=60)

    assert send(3).status_code == 200
    assert send(1).status_code == 200
    status = get(f"{ctx.url}/api/v1/uploads/{uid}").json()
    assert [p["number"] for p in status["received"]] == [1, 3]
    assert_error(
        post(f"{ctx.url}/api/v1/uploads/{uid}/complete", {}), 400, "INVALID_PARAMETER_VALUE", "missing parts 2"
    )
    assert send(2).status_code == 200
    wrong = "blake3:" + "0" * 64
    r = post(f"{ctx.url}/api/v1/uploads/{uid}/complete", {"digest": wrong})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "hash to")
    r = post(f"{ctx.url}/api/v1/uploads/{uid}/complete", {})
    assert r.status_code == 200, r.text
    file = r.json()["file"]
    assert (file["path"], file["size"]) == ("model/w.bin", size)
    got = requests.get(f"{ctx.url}/api/v1/runs/{run_id}/files/model/w.bin", timeout=60)
    assert got.content == data
    # Known bytes: the second upload of the same content sends nothing.
    other = new_run(ctx)
    r = post(f"{ctx.url}/api/v1/runs/{other}/uploads", {"path": "copy.bin", "size": size, "digest": file["digest"]})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] is True
    assert requests.get(f"{ctx.url}/api/v1/runs/{other}/files/copy.bin", timeout=60).content == data
    # Bad requests.
    assert_error(
        post(f"{ctx.url}/api/v1/runs/{run_id}/uploads", {"path": "../x", "size": 1}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert_error(
        post(f"{ctx.url}/api/v1/runs/{run_id}/uploads", {"path": "x", "size": 1, "part_size": 1000}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert_error(get(f"{ctx.url}/api/v1/uploads/nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(get(f"{ctx.url}/api/v1/blobs/blake3:zz"), 400, "INVALID_PARAMETER_VALUE")


@cairn_only
def test_single_request_upload_checks_digest(ctx):
    run_id = new_run(ctx)
    url = f"{ctx.url}/api/v1/runs/{run_id}/files/notes.txt"
    r = requests.put(url, data=b"abc", headers={"X-Cairn-Digest": "blake3:" + "1" * 64}, timeout=30)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "hash to")
    assert requests.get(url, timeout=30).status_code == 404
    r = requests.put(url, data=b"abc", timeout=30)
    assert r.status_code == 201
    listing = get(f"{ctx.url}/api/v1/runs/{run_id}/artifacts").json()
    assert [f["path"] for f in listing["files"]] == ["notes.txt"]
    assert listing["files"][0]["content_type"].startswith("text/plain")
    # A file cannot replace a directory, nor sit below a file.
    assert requests.put(f"{ctx.url}/api/v1/runs/{run_id}/files/d/x", data=b"1", timeout=30).status_code == 201
    assert_error(
        requests.put(f"{ctx.url}/api/v1/runs/{run_id}/files/d", data=b"1", timeout=30), 400, "INVALID_PARAMETER_VALUE"
    )
    assert_error(
        requests.put(f"{ctx.url}/api/v1/runs/{run_id}/files/notes.txt/y", data=b"1", timeout=30),
        400,
        "INVALID_PARAMETER_VALUE",
    )


@cairn_only
def test_gc_reclaims_what_deleted_runs_alone_used(ctx, tmp_path):
    unique = tmp_path / "unique.bin"
    unique.write_bytes(_payload(200_000, 77) + os.urandom(16))
    shared = tmp_path / "shared.bin"
    shared.write_bytes(_payload(100_000, 78) + os.urandom(16))
    with mlflow.start_run() as doomed:
        mlflow.log_artifact(str(unique))
        mlflow.log_artifact(str(shared))
    with mlflow.start_run() as kept:
        mlflow.log_artifact(str(shared))
    files = _files(ctx, doomed.info.run_id)
    unique_digest, shared_digest = files["unique.bin"]["digest"], files["shared.bin"]["digest"]
    ctx.client.delete_run(doomed.info.run_id)
    gc = f"{ctx.url}/api/v1/admin/gc"
    dry = post(gc, {"dry_run": True, "retention_seconds": 0, "grace_seconds": 0}).json()
    assert dry["dry_run"] is True
    assert dry["purged_entries"] >= 2
    assert dry["bytes_reclaimed"] >= unique.stat().st_size
    assert get(f"{ctx.url}/api/v1/blobs/{unique_digest}").status_code == 200
    report = post(gc, {"retention_seconds": 0, "grace_seconds": 0}).json()
    assert report["blobs_deleted"] >= 1
    assert report["bytes_reclaimed"] >= unique.stat().st_size
    assert_error(get(f"{ctx.url}/api/v1/blobs/{unique_digest}"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert get(f"{ctx.url}/api/v1/blobs/{shared_digest}").json()["references"] == 1
    out = mlflow.artifacts.download_artifacts(
        run_id=kept.info.run_id, artifact_path="shared.bin", dst_path=str(tmp_path / "o")
    )
    assert Path(out).read_bytes() == shared.read_bytes()
    # A default retention window keeps recently deleted runs' files.
    with mlflow.start_run() as recent:
        mlflow.log_text("still here", "r.txt")
    ctx.client.delete_run(recent.info.run_id)
    post(gc, {"grace_seconds": 0})
    ctx.client.restore_run(recent.info.run_id)
    assert mlflow.artifacts.load_text(f"runs:/{recent.info.run_id}/r.txt") == "still here"
