"""Lineage from the SDK: files and datasets a run used or produced, forks, resumed runs, and
``cairn reproduce`` rebuilding and re-running a run from its recorded environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import cairn
from cairn import Client
from cairn.errors import ApiError

REPO = Path(__file__).resolve().parents[3]


def _get(url: str, path: str, **params: str) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=30) as response:
        return json.loads(response.read())


def _graph(url: str, node: str, direction: str = "both", depth: int = 3) -> tuple[set[str], set[tuple[str, str, str]]]:
    answer = _get(url, "/api/v1/lineage", node=node, direction=direction, depth=str(depth))
    nodes = {n["id"] for n in answer["nodes"]}
    edges = {(e["from"], e["relation"], e["to"]) for e in answer["edges"]}
    return nodes, edges


def test_used_files_and_datasets_link_runs(sdk_env, server):
    with cairn.init(name="prepare") as prepare:
        prepare.log_bytes(b"rows\n1\n2\n", "data/clean.csv")
        prepare.log_dataset("clean", "d0c1")
    with cairn.init(name="train") as train:
        train.use_artifact(prepare.id, "data/clean.csv")
        train.use_dataset("clean", "d0c1", source="s3://bucket/clean", context="training")
        train.log_bytes(b"weights", "model.bin")
    with cairn.init(name="evaluate") as evaluate:
        evaluate.use_artifact(train.id, "model.bin")

    nodes, edges = _graph(server.url, f"run:{evaluate.id}", "upstream", depth=4)
    files = {n for n in nodes if n.startswith("artifact:")}
    assert len(files) == 2, nodes
    # evaluate ← model.bin ← train ← clean.csv ← prepare, and train ← dataset ← prepare.
    assert f"run:{train.id}" in nodes and f"run:{prepare.id}" in nodes
    assert (f"run:{prepare.id}", "output", "dataset:clean@d0c1") in edges
    assert ("dataset:clean@d0c1", "input", f"run:{train.id}") in edges
    # The dataset also shows among the run's MLflow inputs.
    run = _get(server.url, f"/api/v1/runs/{train.id}")["run"]
    inputs = run["inputs"]["dataset_inputs"]
    assert [i["dataset"]["name"] for i in inputs] == ["clean"]
    assert inputs[0]["tags"] == [{"key": "mlflow.data.context", "value": "training"}]

    downstream, _ = _graph(server.url, f"run:{prepare.id}", "downstream", depth=4)
    assert {f"run:{train.id}", f"run:{evaluate.id}"} <= downstream

    diff = _get(server.url, "/api/v1/lineage/diff", a=train.id, b=evaluate.id)
    assert {n["label"] for n in diff["only_a"]} == {"data/clean.csv", "clean"}
    assert {n["label"] for n in diff["only_b"]} == {"model.bin"}


def test_using_a_missing_file_is_refused(sdk_env, server):
    with cairn.init(name="consumer") as run:
        run.use_artifact("0" * 32, "nothing.bin")
    # The server refused the record; the rest of the run arrived.
    rejected = Path(sdk_env) / "runs" / run.id / "rejected.log"
    assert rejected.exists() and "0000" in rejected.read_text()


def test_fork_continues_from_a_step(sdk_env, server):
    with cairn.init(name="base", config={"lr": 0.1}) as base:
        for step in range(10):
            base.log({"loss": 1.0 / (step + 1)}, step=step)
    with cairn.init(fork_from=base.id, fork_step=4) as fork:
        assert fork.step == 5
        for step in range(5, 8):
            fork.log({"loss": 0.01 * step}, step=step)
    client = Client()
    history = client.get_metric_history(fork.id, "loss")
    assert list(history.steps) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert history.values[:5] == [1.0 / (s + 1) for s in range(5)]
    run = _get(server.url, f"/api/v1/runs/{fork.id}")["run"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert params == {"lr": "0.1"}
    assert (tags["cairn.fork.from"], tags["cairn.fork.step"]) == (base.id, "4")
    assert run["info"]["run_name"] == "base-fork-4"
    _, edges = _graph(server.url, f"run:{base.id}", "downstream", depth=1)
    assert (f"run:{base.id}", "forked_into", f"run:{fork.id}") in edges


def test_fork_needs_a_step_and_a_known_run(sdk_env):
    with pytest.raises(cairn.UsageError):
        cairn.init(fork_from="abc")
    with pytest.raises(ApiError):
        cairn.init(fork_from="f" * 32, fork_step=3)
    assert cairn.active_run() is None


def test_resume_keeps_the_run_and_continues_its_steps(sdk_env, server):
    first = cairn.init(name="long job")
    for step in range(3):
        first.log({"loss": float(step)})
    first.finish(status="KILLED")  # the job was preempted
    resumed = cairn.init(resume=first.id)
    assert resumed.id == first.id and resumed.step == 3
    resumed.log({"loss": 3.0})
    resumed.finish()
    history = Client().get_metric_history(first.id, "loss")
    assert list(history.steps) == [0, 1, 2, 3]
    info = _get(server.url, f"/api/v1/runs/{first.id}")["run"]["info"]
    assert (info["status"], info["run_name"]) == ("FINISHED", "long job")
    with pytest.raises(ApiError):
        cairn.init(resume="e" * 32)


TRAIN = """\
import os, sys
import cairn

lr = float(sys.argv[sys.argv.index("--lr") + 1])
with cairn.init(project=os.environ["PROJECT"], name="train") as run:
    run.config["lr"] = lr
    from helper import scale
    for step in range(3):
        run.log({"loss": scale(lr) * (3 - step), "seed": float(os.environ["SEED"])}, step=step)
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _reproduce(server_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "debug" / "cairn"))
    return subprocess.run(
        [binary, "reproduce", *args, "--server", server_url],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_reproduce_rebuilds_and_reruns_a_run(sdk_env, server, tmp_path):
    repo = tmp_path / "project"
    (repo / "src").mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.invalid")
    _git(repo, "config", "user.name", "t")
    (repo / "src" / "train.py").write_text(TRAIN)
    (repo / "src" / "helper.py").write_text("def scale(lr):\n    return lr\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    commit = _git(repo, "rev-parse", "HEAD")
    # An uncommitted change the run depends on: the diff must be applied to reproduce it.
    (repo / "src" / "helper.py").write_text("def scale(lr):\n    return lr * 10\n")

    env = dict(os.environ, CAIRN_CAPTURE_ENV="1", SEED="7", PROJECT=os.environ["CAIRN_PROJECT"], API_TOKEN="hunter2")
    subprocess.run([sys.executable, "train.py", "--lr", "0.5"], cwd=repo / "src", env=env, check=True, timeout=120)
    client = Client()
    experiment = client.get_experiment_by_name(os.environ["CAIRN_PROJECT"])
    assert experiment is not None
    (original,) = client.search_runs(experiment.experiment_id)
    original_id = original.run_id
    assert client.get_metric_history(original_id, "loss").values == [15.0, 10.0, 5.0]

    # The recorded commit, diff and command rebuild the same code; the new run is linked.
    out = tmp_path / "again"
    result = _reproduce(server.url, original_id, "--dir", str(out), "--python", sys.executable, "--run")
    assert result.returncode == 0, result.stderr
    script = (out / "reproduce.sh").read_text()
    assert "export SEED='7'" in script and "hunter2" not in script and "API_TOKEN" not in script
    assert _git(out / "code", "rev-parse", "HEAD") == commit
    assert "lr * 10" in (out / "code" / "src" / "helper.py").read_text()
    (again,) = [r for r in client.search_runs(experiment.experiment_id) if r.run_id != original_id]
    assert again.tags["cairn.reproduces"] == original_id
    assert client.get_metric_history(again.run_id, "loss").values == [15.0, 10.0, 5.0]
    _, edges = _graph(server.url, f"run:{original_id}", "downstream", depth=1)
    assert (f"run:{original_id}", "reproduced_as", f"run:{again.run_id}") in edges

    # An existing folder, an unreachable commit, a package no index has: clear errors.
    result = _reproduce(server.url, original_id, "--dir", str(out), "--python", sys.executable)
    assert result.returncode != 0 and "exists already" in result.stderr
    other = tmp_path / "other-repo"
    other.mkdir()
    _git(other, "init", "-q")
    result = _reproduce(
        server.url, original_id, "--dir", str(tmp_path / "x"), "--repo", str(other), "--python", sys.executable
    )
    assert result.returncode != 0 and f"commit {commit} is not in the repository" in result.stderr
    result = _reproduce(
        server.url, original_id, "--dir", str(tmp_path / "venv-try"), "--pip-arg=--no-index", "--pip-arg=--quiet"
    )
    assert result.returncode != 0 and "could not install the recorded packages" in result.stderr, result.stderr
    result = _reproduce(server.url, "d" * 32, "--dir", str(tmp_path / "y"))
    assert result.returncode != 0 and "no run" in result.stderr


def test_reproduce_needs_a_recorded_environment(sdk_env, server, tmp_path):
    with cairn.init(name="bare") as run:
        run.log({"x": 1.0})
    result = _reproduce(server.url, run.id, "--dir", str(tmp_path / "r"))
    assert result.returncode != 0 and "has no recorded environment" in result.stderr
    assert not (tmp_path / "r").exists()


def test_lineage_api_rejects_bad_input(sdk_env, server):
    for params in ({"node": "bogus"}, {"node": "run:x", "depth": "0"}, {"node": "run:x", "direction": "sideways"}):
        with pytest.raises(urllib.error.HTTPError) as error:
            _get(server.url, "/api/v1/lineage", **params)
        assert error.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as error:
        _get(server.url, "/api/v1/lineage", node="run:" + "a" * 32)
    assert error.value.code == 404
