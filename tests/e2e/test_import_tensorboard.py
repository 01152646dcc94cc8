"""`cairn import tensorboard`: event files written by TensorBoard's own writers (the
`tensorboard` package: `EventFileWriter` with `simple_value` scalars as PyTorch writes them, and
`tensorboard.summary.Writer`, whose scalars are TF2-style tensors) come back from the server
with every step, timestamp and value; images and histograms become artifacts; a file
cut off mid-record is imported up to its last whole record; a second import adds nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from e2e_util import cairn_bin, get, is_mlflow, post, unique_name

pytestmark = pytest.mark.skipif(is_mlflow(), reason="`cairn import` is Cairn's own command")

T0 = 1_780_000_000.0  # seconds, as TensorBoard stores wall times


def write_pytorch_style(logdir: Path, steps: int) -> dict[str, list]:
    """`simple_value` scalars through EventFileWriter (what torch's SummaryWriter does), plus an
    an image (PNG bytes) and a histogram every 100 steps, which become artifacts."""
    import io

    from PIL import Image
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    logdir.mkdir(parents=True)
    writer = EventFileWriter(str(logdir))
    logged: dict[str, list] = {"loss": [], "lr (sched)": []}
    for step in range(steps):
        wall = T0 + step * 0.5
        loss = float(np.float32(2.0 / (1 + step)))
        values = [Summary.Value(tag="loss", simple_value=loss)]
        logged["loss"].append((step, wall, loss))
        if step % 10 == 0:
            lr = float(np.float32(0.1 * 0.99**step))
            values.append(Summary.Value(tag="lr (sched)", simple_value=lr))
            logged["lr (sched)"].append((step, wall, lr))
        if step % 100 == 0:
            png = io.BytesIO()
            Image.new("RGB", (2, 2), (step % 256, 0, 0)).save(png, "PNG")
            image = Summary.Image(height=2, width=2, colorspace=3, encoded_image_string=png.getvalue())
            values.append(Summary.Value(tag="samples", image=image))
            histo = HistogramProto(min=0, max=1, num=3, sum=1.5, bucket_limit=[0.5, 1.0], bucket=[1.0, step])
            values.append(Summary.Value(tag="weights", histo=histo))
            logged.setdefault("png", []).append((step, wall, png.getvalue()))
        writer.add_event(Event(wall_time=wall, step=step, summary=Summary(value=values)))
    writer.close()
    return logged


def write_tf2_style(logdir: Path, steps: int) -> list[tuple[int, float, float]]:
    """Scalars through `tensorboard.summary.Writer` (tensors of the `scalars` plugin)."""
    import tensorboard.summary as tbs

    logdir.mkdir(parents=True)
    writer = tbs.Writer(str(logdir))
    logged = []
    for step in range(0, steps, 3):
        wall = T0 + 100 + step
        value = 0.5 + step / (steps * 4)
        writer.add_scalar("eval/acc", value, step=step, wall_time=wall)
        logged.append((step, wall, value))
    writer.close()
    return logged


def run_import(ctx, logdir: Path, experiment: str) -> str:
    proc = subprocess.run(
        [cairn_bin(), "import", "tensorboard", str(logdir), "--server", ctx.url, "--experiment", experiment],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def runs_by_name(ctx, experiment: str) -> dict[str, dict]:
    exp = get(f"{ctx.url}/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": experiment})
    assert exp.status_code == 200, exp.text
    exp_id = exp.json()["experiment"]["experiment_id"]
    found = post(f"{ctx.url}/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id], "max_results": 100})
    assert found.status_code == 200, found.text
    return {r["info"]["run_name"]: r for r in found.json().get("runs", [])}


def points(ctx, run_id: str, key: str) -> list[tuple[int, int, float]]:
    resp = get(f"{ctx.url}/api/v1/runs/{run_id}/metrics/{key.replace('/', '%2F')}/points")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return list(zip(body["steps"], body["timestamps"], body["values"], strict=True))


def as_points(logged: list[tuple[int, float, float]]) -> list[tuple[int, int, float]]:
    return [(step, round(wall * 1000), value) for step, wall, value in logged]


def test_import_brings_every_scalar_and_is_idempotent(ctx, tmp_path):
    logdir = tmp_path / "logs"
    train = write_pytorch_style(logdir / "train", steps=1200)
    evals = write_tf2_style(logdir / "eval", steps=300)
    experiment = unique_name("tb")

    out = run_import(ctx, logdir, experiment)
    total = sum(len(v) for k, v in train.items() if k != "png") + len(evals)
    assert f"imported {total} points of 3 keys into 2 runs (2 new, 0 already there)" in out, out
    assert "imported 12 images and 12 histograms as artifacts (13 files sent)" in out, out
    assert "renamed tag 'lr (sched)' to metric 'lr _sched_'" in out, out

    runs = runs_by_name(ctx, experiment)
    assert set(runs) == {"train", "eval"}
    train_run = runs["train"]
    assert train_run["info"]["status"] == "FINISHED"
    assert train_run["info"]["start_time"] == round(T0 * 1000)
    assert train_run["info"]["end_time"] == round((T0 + 1199 * 0.5) * 1000)
    tags = {t["key"]: t["value"] for t in train_run["data"]["tags"]}
    assert tags["cairn.import.source"] == "tensorboard"
    train_id = train_run["info"]["run_id"]
    assert points(ctx, train_id, "loss") == as_points(train["loss"])
    assert points(ctx, train_id, "lr _sched_") == as_points(train["lr (sched)"])
    eval_points = points(ctx, runs["eval"]["info"]["run_id"], "eval/acc")
    assert [(s, t) for s, t, _ in eval_points] == [(s, t) for s, t, _ in as_points(evals)]
    assert np.allclose([v for *_, v in eval_points], [v for *_, v in evals], rtol=1e-7)

    # The official client sees the same history.
    history = ctx.client.get_metric_history(train_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(s, v) for s, _, v in train["loss"]]

    # Images and histograms as artifacts.
    images = {f.path: f.file_size for f in ctx.client.list_artifacts(train_id, "tensorboard/images/samples")}
    assert sorted(images) == sorted(f"tensorboard/images/samples/step-{s}.png" for s in range(0, 1200, 100))
    pngs = train.pop("png")
    step, _, png = pngs[3]
    got = ctx.client.download_artifacts(train_id, f"tensorboard/images/samples/step-{step}.png", str(tmp_path))
    assert Path(got).read_bytes() == png
    jsonl = ctx.client.download_artifacts(train_id, "tensorboard/histograms/weights.jsonl", str(tmp_path))
    lines = [json.loads(line) for line in Path(jsonl).read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(0, 1200, 100))
    assert lines[2]["bucket_limits"] == [0.5, 1.0] and lines[2]["bucket_counts"] == [1.0, 200.0]
    assert (lines[2]["min"], lines[2]["max"], lines[2]["count"], lines[2]["sum"]) == (0.0, 1.0, 3.0, 1.5)

    # Again: nothing new.
    again = run_import(ctx, logdir, experiment)
    assert "into 2 runs (0 new, 2 already there)" in again, again
    assert "(0 files sent)" in again, again
    assert points(ctx, train_id, "loss") == as_points(train["loss"])


def test_a_file_cut_mid_record_is_imported_up_to_its_last_whole_record(ctx, tmp_path):
    logdir = tmp_path / "logs"
    logged = write_pytorch_style(logdir / "crashed", steps=500)
    (event_file,) = (logdir / "crashed").iterdir()
    data = event_file.read_bytes()
    event_file.write_bytes(data[: len(data) - 30])  # the writer died inside the last record
    experiment = unique_name("tb-cut")

    out = run_import(ctx, logdir, experiment)
    assert "cut off mid-record" in out, out
    run_id = runs_by_name(ctx, experiment)["crashed"]["info"]["run_id"]
    got = points(ctx, run_id, "loss")
    assert got == as_points(logged["loss"])[: len(got)]
    assert len(got) == 499  # only the last record (step 499) was cut


def test_bad_input_is_refused_with_a_clear_message(ctx, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, says in [
        ([str(tmp_path / "missing")], "no log dir"),
        ([str(empty)], "no TensorBoard event files"),
    ]:
        proc = subprocess.run(
            [cairn_bin(), "import", "tensorboard", *args, "--server", ctx.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0
        assert says in proc.stderr, proc.stderr
