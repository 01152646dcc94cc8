"""``cairn.wandb``, the wandb-compatible front end, against a real server: a script written for
wandb logs numbers, images and tables; the metrics, config and media read back."""

from __future__ import annotations

import argparse
import json
import logging
import os
import struct
import subprocess
import sys
import textwrap
import uuid
import zlib
from pathlib import Path

import pytest

import cairn
from cairn import Client, runs
from cairn import wandb as shim


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    """The SDK pointed at the shared server, with its own folder and project, and no system
    metrics or environment capture."""
    monkeypatch.setenv("CAIRN_URL", server.url)
    monkeypatch.setenv("CAIRN_DIR", str(tmp_path / "cairn"))
    monkeypatch.setenv("CAIRN_PROJECT", f"w-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("CAIRN_SYSTEM_METRICS", "0")
    monkeypatch.setenv("CAIRN_CAPTURE_ENV", "0")
    for name in ("CAIRN_MODE", "CAIRN_TOKEN", "WANDB_MODE", "WANDB_PROJECT", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    current = runs.current()
    if current is not None:
        current.finish(timeout=5)


def read_png(data: bytes) -> tuple[int, int, int, bytes]:
    """A tiny PNG reader for unfiltered 8-bit images (what the built-in encoder writes):
    width, height, channels, pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows = []
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        assert line[0] == 0, "only filter type 0"
        rows.append(line[1:])
    return width, height, channels, b"".join(rows)


# ----- the PNG encoder and image conversions (no server) -----


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_encoder_round_trips(channels):
    width, height = 7, 5
    pixels = bytes(
        (x * 37 + y * 11 + c * 5) % 256 for y in range(height) for x in range(width) for c in range(channels)
    )
    png = shim.encode_png(width, height, channels, pixels)
    assert read_png(png) == (width, height, channels, pixels)
    try:
        from PIL import Image as PILImage
    except ImportError:
        return
    import io

    with PILImage.open(io.BytesIO(png)) as decoded:
        assert decoded.size == (width, height)
        assert decoded.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
        assert decoded.tobytes() == pixels


def test_png_encoder_rejects_bad_sizes():
    with pytest.raises(cairn.UsageError):
        shim.encode_png(2, 2, 3, b"\x00" * 11)
    with pytest.raises(cairn.UsageError):
        shim.encode_png(2, 2, 5, b"\x00" * 20)


def test_image_without_pillow_uses_the_builtin_encoder(monkeypatch):
    np = pytest.importorskip("numpy")
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` now fails
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    image = shim.Image(gray, caption="g")
    assert (image.width, image.height, image._ext) == (4, 3, "png")
    assert read_png(image._data) == (4, 3, 1, gray.tobytes())

    floats = np.zeros((2, 2, 3), dtype=np.float32)
    floats[0, 0] = [1.0, 0.5, 0.0]
    _, _, channels, pixels = read_png(shim.Image(floats)._data)
    assert channels == 3 and pixels[:3] == bytes([255, 128, 0])

    chw = np.zeros((4, 2, 5), dtype=np.uint8)  # CxHxW (as torch has it): transposed to 2x5 RGBA
    chw[3] = 255
    width, height, channels, pixels = read_png(shim.Image(chw)._data)
    assert (width, height, channels) == (5, 2, 4) and pixels[3] == 255

    with pytest.raises(cairn.UsageError):
        shim.Image(np.zeros((2, 2, 7), dtype=np.uint8))


def test_image_from_pil_and_from_a_file(tmp_path):
    np = pytest.importorskip("numpy")
    PILImage = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    pil = PILImage.fromarray(rgb)
    import io

    with PILImage.open(io.BytesIO(shim.Image(pil)._data)) as decoded:
        assert np.array_equal(np.asarray(decoded), rgb)
    path = tmp_path / "x.jpg"
    pil.save(path)
    from_file = shim.Image(str(path))
    assert from_file._ext == "png" and (from_file.width, from_file.height) == (5, 6)
    png_path = tmp_path / "x.png"
    pil.save(png_path)
    assert shim.Image(png_path)._data == png_path.read_bytes()


def test_table_shapes():
    table = shim.Table(columns=["a", "b"], data=[[1, "x"]])
    table.add_data(2, "y")
    table.add_column("c", [0.5, 1.5])
    assert table.columns == ["a", "b", "c"] and table.data == [[1, "x", 0.5], [2, "y", 1.5]]
    assert table.get_column("b") == ["x", "y"]
    with pytest.raises(cairn.UsageError):
        table.add_data(1, 2)
    assert shim.Table(data=[[1, 2, 3]]).columns == ["Input", "Output", "Expected"]
    pd = pytest.importorskip("pandas")
    frame = shim.Table(dataframe=pd.DataFrame({"x": [1, 2], "y": ["p", "q"]}))
    assert frame.columns == ["x", "y"] and frame.data == [[1, "p"], [2, "q"]]


def test_histogram():
    hist = shim.Histogram([0, 1, 1, 2, 2, 2], num_bins=3)
    assert hist.histogram == [1.0, 2.0, 3.0] and len(hist.bins) == 4
    assert shim.Histogram(np_histogram=([1, 2], [0.0, 0.5, 1.0])).bins == [0.0, 0.5, 1.0]


# ----- a wandb script against the server -----

SCRIPT = """
import argparse

import numpy as np

import cairn.wandb as wandb

args = argparse.Namespace(lr=0.001, batch_size=32)
run = wandb.init(project=PROJECT, name="shim-script", config=args, tags=["wandb", "shim"],
                 notes="from a wandb script", group="g1", entity="team", job_type="train")
wandb.config.update({"epochs": 3})
wandb.config.dropout = 0.1
wandb.define_metric("val/acc", summary="max")
wandb.watch(None)
for step in range(5):
    wandb.log({"loss": 1.0 / (step + 1), "acc": np.float32(step / 10)})
image = np.zeros((8, 8, 3), dtype=np.uint8)
image[:, :4] = [255, 0, 0]
table = wandb.Table(columns=["id", "pred", "score"], data=[[0, "cat", 0.9], [1, "dog", np.float64(0.4)]])
wandb.log({"val/acc": 0.75, "samples": wandb.Image(image, caption="red left"), "preds": table})
wandb.log({"grid": [wandb.Image(image), wandb.Image(image.astype(np.float32) / 255.0)]}, step=9)
wandb.summary["best"] = 0.75
wandb.alert(title="done", text="training finished")
print("RUN_ID", run.id, wandb.run.name)
wandb.finish()
"""


def test_a_wandb_script_logs_metrics_config_and_media(env, server):
    pytest.importorskip("numpy")
    project = os.environ["CAIRN_PROJECT"]
    script = env / "train.py"
    script.write_text(f"PROJECT = {project!r}\n" + textwrap.dedent(SCRIPT))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=env)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RUN_ID"))
    run_id, name = line.split()[1:]
    assert name == "shim-script"

    client = Client(server.url)
    stored = client.get_run(run_id)
    assert stored.status == "FINISHED"
    assert stored.params == {"lr": "0.001", "batch_size": "32", "epochs": "3", "dropout": "0.1"}
    assert stored.tags["cairn.entity"] == "team" and stored.tags["cairn.job_type"] == "train"
    assert stored.tags["cairn.tags"] == "shim,wandb" and stored.tags["cairn.group"] == "g1"
    assert stored.tags["mlflow.note.content"] == "from a wandb script"
    assert json.loads(stored.tags["summary.best"]) == 0.75

    loss = client.get_metric_history(run_id, "loss")
    assert loss.steps == [0, 1, 2, 3, 4] and loss.values == [1.0 / (s + 1) for s in range(5)]
    assert client.get_metric_history(run_id, "acc").values == pytest.approx([s / 10 for s in range(5)])
    # The media were logged with the numbers of the same call: at step 5.
    val = client.get_metric_history(run_id, "val/acc")
    assert val.steps == [5] and val.values == [0.75]
    assert set(stored.metrics) == {"loss", "acc", "val/acc"}, "media are not metrics"

    def listing(path: str) -> set[str]:
        return {f["path"] for f in client.list_artifacts(run_id, path)}

    assert listing("media") == {"media/samples", "media/preds", "media/grid"}
    assert listing("media/samples") == {"media/samples/5.png", "media/samples/5.json"}
    assert listing("media/preds") == {"media/preds/5.table.json"}
    assert listing("media/grid") == {"media/grid/9_0.png", "media/grid/9_1.png"}

    local = client.download_artifacts(run_id, "media", env / "download")
    width, height, channels, pixels = _decode(local / "samples" / "5.png")
    assert (width, height, channels) == (8, 8, 3)
    assert pixels[:3] == bytes([255, 0, 0]) and pixels[3 * 7 : 3 * 8] == bytes([0, 0, 0])
    assert json.loads((local / "samples" / "5.json").read_text()) == {"caption": "red left"}
    assert json.loads((local / "preds" / "5.table.json").read_text()) == {
        "columns": ["id", "pred", "score"],
        "data": [[0, "cat", 0.9], [1, "dog", 0.4]],
    }
    assert _decode(local / "grid" / "9_1.png")[3] == _decode(local / "grid" / "9_0.png")[3]


def _decode(path: Path) -> tuple[int, int, int, bytes]:
    """Width, height, channels and pixels of a PNG written by Pillow or the built-in encoder."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        return read_png(path.read_bytes())
    with PILImage.open(path) as image:
        return image.width, image.height, len(image.getbands()), image.tobytes()


# ----- in-process behaviour -----


def test_run_object_and_module_attributes(env, server):
    assert shim.run is None
    with pytest.raises(cairn.UsageError):
        shim.log({"x": 1})
    run = shim.init(config={"a": 1}, entity="me", job_type="eval")
    assert isinstance(run, cairn.Run) and shim.run is run and cairn.run is run
    assert shim.config is run.config and shim.summary is run.summary
    assert run.config.a == 1 and run.entity == "me" and run.job_type == "eval"
    assert run.id and run.name and run.url.endswith(run.id)

    run.log({"m": 1.0})  # the run's own log() takes media too
    run.log({"m": 2.0, "pic": shim.Image(bytes_image())}, commit=False)
    run.log({"n": 3.0})
    shim.log({"only": shim.Table(columns=["x"], data=[[1]])})  # media only: still a step
    shim.log({"m": 5.0, "text": "skipped", "none": None})
    assert run.step == 4
    assert run.finish() is True, "everything, the media-only step included, was delivered"
    assert shim.run is None

    client = Client(server.url)
    assert client.get_metric_history(run.id, "m").steps == [0, 1, 3]
    assert client.get_metric_history(run.id, "n").steps == [1]
    assert {f["path"] for f in client.list_artifacts(run.id, "media/pic")} == {"media/pic/1.png"}
    assert {f["path"] for f in client.list_artifacts(run.id, "media/only")} == {"media/only/2.table.json"}
    assert "text" not in client.get_run(run.id).metrics


def bytes_image():
    np = pytest.importorskip("numpy")
    return np.full((2, 2), 7, dtype=np.uint8)


def test_config_extras_and_reinit(env, server):
    run = shim.init(config=argparse.Namespace(lr=0.1, _private=1), config_exclude_keys=["unused"])
    run.config.update({"lr": 0.2}, allow_val_change=True)  # params are immutable: kept, warned
    assert run.config["lr"] == 0.2
    with pytest.raises(cairn.ParamChangedError):
        run.config.update({"lr": 0.3})
    run.config.setdefaults({"lr": 9, "wd": 0.01})
    assert run.config["wd"] == 0.01
    assert shim.init(reinit=False) is run  # returns the active run
    second = shim.init(name="second")  # finishes the first (wandb's default in scripts)
    assert second is not run and run._finished
    second.finish()
    assert Client(server.url).get_run(run.id).params == {"lr": "0.1", "wd": "0.01"}


def test_save_and_artifacts(env, server):
    (env / "out").mkdir()
    (env / "out" / "model.txt").write_text("weights")
    (env / "out" / "sub").mkdir()
    (env / "out" / "sub" / "b.txt").write_text("b")
    run = shim.init()
    assert shim.save(str(env / "out" / "model.txt")) == ["model.txt"]
    assert sorted(shim.save(str(env / "out" / "**" / "*.txt"), base_path=str(env / "out"))) == [
        "model.txt",
        "sub/b.txt",
    ]
    assert shim.save(str(env / "missing.bin")) == []
    artifact = shim.Artifact("my-model", type="model", metadata={"acc": 0.9})
    artifact.add_file(env / "out" / "model.txt", name="weights.bin")
    artifact.add_dir(env / "out" / "sub", name="extra")
    run.log_artifact(artifact, aliases=["best"])
    run.finish()
    client = Client(server.url)
    paths = {f["path"] for f in client.list_artifacts(run.id)}
    assert {"model.txt", "sub", "my-model"} <= paths
    local = client.download_artifacts(run.id, "my-model", env / "dl")
    assert (local / "weights.bin").read_text() == "weights"
    assert (local / "extra" / "b.txt").read_text() == "b"
    info = json.loads((local / "artifact.json").read_text())
    assert info["type"] == "model" and info["metadata"] == {"acc": 0.9} and info["aliases"] == ["best"]


def test_no_ops_log_one_debug_line_each(env, caplog):
    shim.init(mode="disabled")
    with caplog.at_level(logging.DEBUG, logger="cairn.wandb"):
        assert shim.login(key="x") is True
        shim.define_metric("loss", step_metric="epoch")
        shim.watch(object(), log="all")
        shim.alert(title="t", text="x", level=shim.AlertLevel.WARN)
        shim.log({"m": 1, "pic": shim.Image(bytes_image())})  # disabled: media are dropped
    messages = [r.getMessage() for r in caplog.records if r.name == "cairn.wandb"]
    assert len(messages) == 4
    assert any("define_metric" in m for m in messages) and any("watch" in m for m in messages)
    shim.finish()


def test_modes_and_wandb_environment(env, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    monkeypatch.setenv("WANDB_PROJECT", "from-wandb-env")
    monkeypatch.delenv("CAIRN_PROJECT")
    run = shim.init(dir=str(env / "wb"))
    assert run.mode == "offline" and run.project == "from-wandb-env"
    assert run.dir is not None and Path(env / "wb" / ".cairn") in run.dir.parents
    shim.finish()
    with pytest.raises(cairn.UsageError):
        shim.init(mode="sideways")
    run = shim.init(settings=shim.Settings(mode="disabled"))
    assert run.mode == "disabled"
    shim.finish()
