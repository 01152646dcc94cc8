"""Artifacts through the server's artifact proxy (mlflow-artifacts:/ URIs)."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import requests  # noqa: E402

from e2e_util import get  # noqa: E402


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"hello\n",
        "sub/b.json": b'{"x": 1}',
        "sub/deeper/c.bin": bytes(range(256)) * 40,
        "sub/empty.txt": b"",
        "z with space.txt": "unicod\u00e9 \u2713".encode(),
    }
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    return files


def test_artifact_uri_shape(ctx):
    with mlflow.start_run() as run:
        uri = mlflow.get_artifact_uri()
    assert uri.startswith("mlflow-artifacts:/")
    assert uri.endswith(f"/{run.info.run_id}/artifacts")
    assert ctx.experiment_id in uri


def test_log_and_download_single_file(ctx, tmp_path):
    src = tmp_path / "model.txt"
    src.write_bytes(b"weights\x00\x01\x02" * 1000)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src))
        mlflow.log_artifact(str(src), artifact_path="nested/dir")
    run_id = run.info.run_id
    root = ctx.client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in root] == [("model.txt", False), ("nested", True)]
    assert root[0].file_size == src.stat().st_size
    assert root[1].file_size is None
    nested = ctx.client.list_artifacts(run_id, "nested")
    assert [(f.path, f.is_dir) for f in nested] == [("nested/dir", True)]
    leaf = ctx.client.list_artifacts(run_id, "nested/dir")
    assert [(f.path, f.is_dir, f.file_size) for f in leaf] == [("nested/dir/model.txt", False, src.stat().st_size)]

    dst = tmp_path / "dl"
    dst.mkdir()
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model.txt", dst_path=str(dst))
    assert Path(local).read_bytes() == src.read_bytes()
    local2 = ctx.client.download_artifacts(run_id, "nested/dir/model.txt", str(dst))
    assert Path(local2).read_bytes() == src.read_bytes()


def test_log_artifacts_directory_tree_and_download(ctx, tmp_path):
    src = tmp_path / "src"
    files = _make_tree(src)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(src))
        mlflow.log_artifacts(str(src), artifact_path="copy")
    run_id = run.info.run_id

    root = ctx.client.list_artifacts(run_id)
    assert [f.path for f in root] == ["a.txt", "copy", "sub", "z with space.txt"]
    assert {f.path: f.is_dir for f in root} == {"a.txt": False, "copy": True, "sub": True, "z with space.txt": False}
    sub = ctx.client.list_artifacts(run_id, "sub")
    assert [(f.path, f.is_dir) for f in sub] == [
        ("sub/b.json", False),
        ("sub/deeper", True),
        ("sub/empty.txt", False),
    ]
    sizes = {f.path: f.file_size for f in sub}
    assert sizes["sub/b.json"] == len(files["sub/b.json"])
    # MLflow's server omits file_size for a 0-byte file (proto default), so accept both.
    assert sizes["sub/empty.txt"] in (0, None)

    # Whole-run download equals what was uploaded (twice).
    dst = tmp_path / "all"
    dst.mkdir()
    local = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(dst))
    got = _tree(Path(local))
    expected = dict(files)
    expected.update({f"copy/{k}": v for k, v in files.items()})
    assert got == expected

    # Subdirectory download.
    dst2 = tmp_path / "sub"
    dst2.mkdir()
    local_sub = ctx.client.download_artifacts(run_id, "copy/sub", str(dst2))
    assert _tree(Path(local_sub)) == {k[len("sub/") :]: v for k, v in files.items() if k.startswith("sub/")}
    dcmp = filecmp.dircmp(local_sub, src / "sub")
    assert not dcmp.diff_files and not dcmp.left_only and not dcmp.right_only


def test_log_dict_text_and_load(ctx):
    payload = {"a": 1, "b": [1, 2, 3], "c": {"d": "e"}}
    with mlflow.start_run() as run:
        mlflow.log_dict(payload, "cfg/config.json")
        mlflow.log_dict(payload, "cfg/config.yaml")
        mlflow.log_text("line1\nline2 \u00e9\n", "notes/readme.txt")
    base = run.info.artifact_uri
    assert mlflow.artifacts.load_dict(f"{base}/cfg/config.json") == payload
    assert "a: 1" in mlflow.artifacts.load_text(f"{base}/cfg/config.yaml")
    assert mlflow.artifacts.load_text(f"{base}/notes/readme.txt") == "line1\nline2 \u00e9\n"
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/readme.txt") == "line1\nline2 \u00e9\n"
    listing = ctx.client.list_artifacts(run.info.run_id, "cfg")
    assert [f.path for f in listing] == ["cfg/config.json", "cfg/config.yaml"]
    assert json.loads(mlflow.artifacts.load_text(f"{base}/cfg/config.json")) == payload


def test_log_figure(ctx, tmp_path):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [2, 1, 3])
    with mlflow.start_run() as run:
        mlflow.log_figure(fig, "plots/line.png")
    plt.close(fig)
    (entry,) = ctx.client.list_artifacts(run.info.run_id, "plots")
    assert entry.path == "plots/line.png"
    assert entry.file_size > 100
    local = ctx.client.download_artifacts(run.info.run_id, "plots/line.png", str(tmp_path))
    data = Path(local).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) == entry.file_size


def test_list_missing_path_is_empty(ctx):
    with mlflow.start_run() as run:
        mlflow.log_text("x", "x.txt")
    assert ctx.client.list_artifacts(run.info.run_id, "does/not/exist") == []
    empty_run = ctx.client.create_run(ctx.experiment_id).info.run_id
    assert ctx.client.list_artifacts(empty_run) == []


def test_raw_artifact_proxy(ctx):
    """PUT/GET/list/DELETE on /api/2.0/mlflow-artifacts/artifacts/<path>."""
    base = f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts"
    prefix = f"{ctx.experiment_id}/raw-{os.getpid()}"
    body = b"a,b\n1,2\n"
    r = requests.put(f"{base}/{prefix}/dir/data.csv", data=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.text in ("", "{}")  # MLflow 3.17.2 answers an empty 200 body; COMPAT allows {}
    r = requests.get(f"{base}/{prefix}/dir/data.csv", timeout=30)
    assert r.status_code == 200
    assert r.content == body
    assert "data.csv" in r.headers.get("Content-Disposition", "")
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    listing = get(f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts", {"path": prefix}).json()
    assert listing == {"files": [{"path": "dir", "is_dir": True}]}
    listing = get(f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts", {"path": f"{prefix}/dir"}).json()
    assert listing == {"files": [{"path": "data.csv", "is_dir": False, "file_size": len(body)}]}
    # A directory is not downloadable.
    r = requests.get(f"{base}/{prefix}/dir", timeout=30)
    assert r.status_code == 400
    missing = get(f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts", {"path": f"{prefix}/nope"})
    assert missing.status_code == 200
    assert missing.json() == {}
    r = requests.delete(f"{base}/{prefix}/dir/data.csv", timeout=30)
    assert r.status_code == 200
    listing = get(f"{ctx.url}/api/2.0/mlflow-artifacts/artifacts", {"path": f"{prefix}/dir"}).json()
    assert listing.get("files", []) == []


def test_list_artifacts_rpc_route(ctx):
    """GET /api/2.0/mlflow/artifacts/list?run_id&path (used by the UI and older clients)."""
    with mlflow.start_run() as run:
        mlflow.log_text("abc", "d/e.txt")
    body = get(f"{ctx.api}/artifacts/list", {"run_id": run.info.run_id}).json()
    assert body["root_uri"] == run.info.artifact_uri
    assert body["files"] == [{"path": "d", "is_dir": True}]
    body = get(f"{ctx.api}/artifacts/list", {"run_id": run.info.run_id, "path": "d"}).json()
    assert body["files"] == [{"path": "d/e.txt", "is_dir": False, "file_size": 3}]
