"""`cairn import wandb`: runs written by the `wandb` package in offline mode come back from
Cairn through the official mlflow client: their W&B ids, names, projects as experiments, config
as params, every history point with its step and time, system stats, summary values set by
hand, tags, notes, group, exit status and run files. A file cut off mid-write imports up to its
last whole record and the rest arrives when the whole file is imported; a second import of
unchanged runs writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from e2e_util import cairn_bin, is_mlflow, unique_name

pytestmark = pytest.mark.skipif(is_mlflow(), reason="`cairn import` is Cairn's own command")

# Writes offline runs with the wandb package. argv: project, steps, exit code of the second run.
# Prints what it logged as JSON.
WRITER = r"""
import json, sys
import numpy as np, wandb

project, steps, code = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = {"runs": {}}
run = wandb.init(project=project, mode="offline", name="baseline", tags=["resnet", "ablation"],
                 notes="first *try*", group="sweep-1", job_type="train",
                 config={"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "epochs": 3})
loss = []
for step in range(steps):
    value = 1.0 / (step + 1)
    row = {"train/loss": value, "acc": step / steps, "deep": {"x": step * 2}, "ok": step % 2 == 0}
    if step == 5:
        row["sample"] = wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8))
    run.log(row)
    loss.append(value)
run.log({"train/loss": float("nan")})
run.summary["best_acc"] = 0.97
run.config.update({"late_key": "yes"})
run.finish()
out["runs"]["baseline"] = {"id": run.id, "dir": run.dir, "loss": loss}

run = wandb.init(project=project, mode="offline", name="crashing", config={"lr": 0.1})
run.log({"train/loss": 5.0})
run.finish(exit_code=code)
out["runs"]["crashing"] = {"id": run.id, "dir": run.dir}
print(json.dumps(out))
"""


def write_runs(root: Path, project: str, steps: int, code: int = 1) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(root),
        "WANDB_DISABLE_GIT": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run(
        [sys.executable, "-c", WRITER, project, str(steps), str(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_import(server_url: str, path: Path, *extra: str) -> str:
    result = subprocess.run(
        [cairn_bin(), "import", "wandb", str(path), "--server", server_url, *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def wandb_file(run_dir: str) -> Path:
    folder = Path(run_dir).parent
    (found,) = folder.glob("run-*.wandb")
    return found


def test_offline_runs_round_trip(server_url, tmp_path):
    project = unique_name("wb")
    made = write_runs(tmp_path, project, steps=400)
    cairn = MlflowClient(server_url)

    out = run_import(server_url, tmp_path / "wandb")
    assert "imported 2 runs (2 new" in out, out
    assert "not imported: 1 image-file values" in out, out

    experiment = cairn.get_experiment_by_name(project)
    assert experiment is not None
    base = made["runs"]["baseline"]
    run = cairn.get_run(base["id"])
    assert run.info.experiment_id == experiment.experiment_id
    assert run.info.run_name == "baseline"
    assert run.info.status == "FINISHED"
    assert run.info.end_time >= run.info.start_time > 0
    assert run.data.params == {
        "lr": "0.01",
        "optimizer.name": "adam",
        "optimizer.betas": "[0.9,0.999]",
        "epochs": "3",
        "late_key": "yes",
    }
    tags = run.data.tags
    assert tags["cairn.tags"] == "ablation,resnet"
    assert tags["mlflow.note.content"] == "first *try*"
    assert tags["cairn.group"] == "sweep-1"
    assert tags["cairn.job_type"] == "train"
    assert tags["cairn.import.source"] == "wandb"
    assert json.loads(tags["summary.best_acc"]) == 0.97
    assert "summary.acc" not in tags  # the summary's last value is the history's

    history = sorted(cairn.get_metric_history(base["id"], "train/loss"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(401))
    assert [m.value for m in history[:-1]] == base["loss"]
    assert history[-1].value != history[-1].value  # NaN
    assert all(m.timestamp > 1_700_000_000_000 for m in history)
    assert all(history[i].timestamp <= history[i + 1].timestamp for i in range(400))
    deep = cairn.get_metric_history(base["id"], "deep/x")
    assert sorted((m.step, m.value) for m in deep) == [(s, 2.0 * s) for s in range(400)]
    ok = cairn.get_metric_history(base["id"], "ok")
    assert {m.value for m in ok} == {0.0, 1.0}
    assert any(key.startswith("system/") for key in run.data.metrics), run.data.metrics

    files_dir = Path(base["dir"])
    expected = {p.relative_to(files_dir).as_posix(): p.stat().st_size for p in files_dir.rglob("*") if p.is_file()}
    assert expected, "wandb wrote no run files"
    listed: dict[str, int] = {}

    def walk(path: str | None = None) -> None:
        for info in cairn.list_artifacts(base["id"], path):
            if info.is_dir:
                walk(info.path)
            else:
                listed[info.path] = info.file_size

    walk()
    assert listed == expected

    crashing = cairn.get_run(made["runs"]["crashing"]["id"])
    assert crashing.info.status == "FAILED"
    assert crashing.data.params == {"lr": "0.1"}

    again = run_import(server_url, tmp_path / "wandb")
    assert "imported 2 runs (0 new, 0 already there, 2 unchanged and skipped)" in again, again
    assert "0 metric points" in again
    assert len(cairn.get_metric_history(base["id"], "train/loss")) == 401


def _mid_record_cut(data: bytes, share: float) -> int:
    """A byte offset about `share` into a W&B run file that falls inside a record's payload,
    so that the cut file always ends mid-record (a fixed share of the length can land on a record
    boundary or in a block's zero padding, where the file simply looks shorter). The framing is
    LevelDB's log: 32 KiB blocks, 7-byte record headers (checksum, length, type), block tails
    shorter than a header padded; the file's own 7-byte header opens the first block."""
    block, header = 32 * 1024, 7
    target = int(len(data) * share)
    pos = header
    while pos + header <= len(data):
        left = block - pos % block
        if left < header:
            pos += left
            continue
        length = int.from_bytes(data[pos + 4 : pos + 6], "little")
        start = pos + header
        if start + length > target and length > 1:
            return start + length // 2
        pos = start + length
    raise AssertionError("the file has no record past the cut point")


def test_a_file_cut_off_mid_write_then_finished(server_url, tmp_path):
    project = unique_name("wb-cut")
    made = write_runs(tmp_path / "src", project, steps=3000, code=0)
    base = made["runs"]["baseline"]
    full = wandb_file(base["dir"])
    data = full.read_bytes()
    cut_dir = tmp_path / "cut" / full.parent.name
    cut_dir.mkdir(parents=True)
    (cut_dir / full.name).write_bytes(data[: _mid_record_cut(data, 0.6)])
    cairn = MlflowClient(server_url)

    out = run_import(server_url, cut_dir / full.name, "--no-files")
    assert "cut off mid-record" in out, out
    partial = sorted(cairn.get_metric_history(base["id"], "train/loss"), key=lambda m: m.step)
    assert 0 < len(partial) < 3000
    assert [m.value for m in partial] == base["loss"][: len(partial)]
    assert [m.step for m in partial] == list(range(len(partial)))
    assert cairn.get_run(base["id"]).info.status == "FAILED"  # no exit record yet

    out = run_import(server_url, full, "--no-files")
    assert "imported 1 runs (0 new, 1 already there" in out, out
    history = sorted(cairn.get_metric_history(base["id"], "train/loss"), key=lambda m: m.step)
    assert len(history) == 3001
    assert [m.value for m in history[:-1]] == base["loss"]
    assert cairn.get_run(base["id"]).info.status == "FINISHED"


def test_bad_paths_are_refused_clearly(server_url, tmp_path):
    def refused(path: Path) -> str:
        result = subprocess.run(
            [cairn_bin(), "import", "wandb", str(path), "--server", server_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        return result.stderr

    assert "no W&B folder or run file" in refused(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "no W&B run files" in refused(tmp_path / "empty")
    fake = tmp_path / "run-abc123.wandb"
    fake.write_bytes(b"this is not a wandb file at all")
    assert "not a W&B run file" in refused(fake)
