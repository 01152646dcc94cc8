"""Round trips of the SDK's API against a real server."""

from __future__ import annotations

import json
import math
import os

import pytest

import cairn
from cairn import Client


def test_init_log_finish_round_trip(sdk_env, server):
    run = cairn.init(
        name="first",
        config={"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam", "beta": 0.9}},
        tags=["baseline", "cpu"],
        notes="a *note*",
        group="sweep-1",
    )
    for i in range(100):
        run.log({"train/loss": 1.0 / (i + 1), "acc": i / 100})
    run.log({"val/loss": float("nan")}, step=5)
    run.summary["best_acc"] = 0.99
    assert run.finish() is True
    assert not sdk_env.joinpath("runs", run.id).exists(), "a delivered run leaves no folder"

    stored = Client().get_run(run.id)
    assert stored.name == "first"
    assert stored.status == "FINISHED" and stored.end_time
    assert stored.params == {
        "lr": "0.01",
        "layers": "[64, 32]",
        "opt.name": "adam",
        "opt.beta": "0.9",
    }
    assert stored.tags["mlflow.note.content"] == "a *note*"
    assert stored.tags["cairn.group"] == "sweep-1"
    assert stored.tags["cairn.tags"] == "baseline,cpu"
    assert json.loads(stored.tags["summary.best_acc"]) == 0.99
    assert stored.metrics["train/loss"] == pytest.approx(0.01)

    history = Client().get_metric_history(run.id, "train/loss")
    assert history.steps == list(range(100))
    assert history.values == [1.0 / (i + 1) for i in range(100)]
    nan = Client().get_metric_history(run.id, "val/loss")
    assert nan.steps == [5] and math.isnan(nan.values[0])
    # The project is the experiment.
    experiment = Client().get_experiment_by_name(os.environ["CAIRN_PROJECT"])
    assert experiment is not None and stored.experiment_id == experiment.experiment_id


def test_steps_commit_and_any_order(sdk_env):
    run = cairn.init()
    run.log({"a": 1})  # step 0
    run.log({"b": 2}, commit=False)  # step 1, not committed
    run.log({"c": 3})  # still step 1, then commit
    run.log({"a": 4}, step=10)
    run.log({"a": 5})  # 11
    run.log({"a": 6}, step=3)  # out of order is fine
    run.log({"a": 7})  # 12: out-of-order steps do not rewind
    assert run.step == 13
    run.finish()
    c = Client()
    assert c.get_metric_history(run.id, "a").steps == [0, 3, 10, 11, 12]
    assert c.get_metric_history(run.id, "b").steps == [1]
    assert c.get_metric_history(run.id, "c").steps == [1]


def test_values_of_many_types(sdk_env):
    np = pytest.importorskip("numpy")
    run = cairn.init()
    run.log({"int": 3, "bool": True, "np64": np.float64(0.5), "np32": np.float32(0.25)})
    run.log({"arr": np.array(1.5), "nested": {"x": 1, "y": {"z": 2}}})
    run.finish()
    metrics = Client().get_run(run.id).metrics
    assert metrics == {
        "int": 3.0,
        "bool": 1.0,
        "np64": 0.5,
        "np32": 0.25,
        "arr": 1.5,
        "nested/x": 1.0,
        "nested/y/z": 2.0,
    }


def test_user_mistakes_raise_at_the_call(sdk_env):
    run = cairn.init(config={"lr": 0.1})
    with pytest.raises(cairn.UsageError, match="numbers"):
        run.log({"loss": "high"})
    with pytest.raises(cairn.UsageError, match="Invalid metric key"):
        run.log({"../escape": 1.0})
    with pytest.raises(cairn.UsageError, match="mapping"):
        run.log([1, 2])  # type: ignore[arg-type]
    with pytest.raises(cairn.UsageError, match="step"):
        run.log({"x": 1}, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(cairn.ParamChangedError):
        run.config["lr"] = 0.2
    run.config["lr"] = 0.1  # the same value again is fine
    with pytest.raises(cairn.UsageError, match="Artifact path"):
        run.log_bytes(b"x", "../x.txt")
    with pytest.raises(cairn.UsageError, match="still active"):
        cairn.init()
    run.log({"ok": 1})
    run.finish()
    with pytest.raises(cairn.UsageError, match="finished"):
        run.log({"late": 1})
    # A rejected call changed nothing: only the good metric arrived.
    assert set(Client().get_run(run.id).metrics) == {"ok"}


def test_server_rejection_at_init_raises(sdk_env, server):
    c = Client()
    name = "deleted-" + os.environ["CAIRN_PROJECT"]
    c.delete_experiment(c.create_experiment(name))
    with pytest.raises(cairn.InvalidRequestError, match="deleted"):
        cairn.init(project=name)
    assert cairn.active_run() is None


def test_context_manager_marks_failed_on_exception(sdk_env):
    with pytest.raises(RuntimeError):
        with cairn.init() as run:
            run.log({"x": 1})
            raise RuntimeError("boom")
    assert Client().get_run(run.id).status == "FAILED"
    with cairn.init() as ok:
        ok.log({"x": 1})
    assert Client().get_run(ok.id).status == "FINISHED"


def test_module_level_current_run(sdk_env):
    run = cairn.init(config={"a": 1})
    assert cairn.run is run
    assert cairn.config["a"] == 1
    cairn.config.update({"b": "two"})
    cairn.log({"m": 1.0})
    cairn.summary["s"] = "text"
    cairn.finish(exit_code=3)
    assert cairn.run is None
    stored = Client().get_run(run.id)
    assert stored.status == "FAILED"
    assert stored.params == {"a": "1", "b": "two"}
    assert stored.tags["summary.s"] == '"text"'


def test_mlflow_shaped_functions(sdk_env, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (tmp_path / "model.txt").write_text("weights")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with cairn.start_run(run_name="fluent", tags={"team": "vision"}) as run:
        assert cairn.active_run() is run
        cairn.log_param("lr", 0.1)
        cairn.log_params({"epochs": 3})
        cairn.log_metric("loss", 0.5)
        cairn.log_metric("loss", 0.4, step=1)
        cairn.log_metrics({"acc": 0.7, "f1": 0.6}, step=2)
        cairn.set_tag("stage", "dev")
        cairn.set_tags({"x": 1})
        cairn.log_artifact(tmp_path / "model.txt", "models")
        cairn.log_artifacts(folder, "data")
        cairn.log_text("hello", "notes/hello.txt")
        cairn.log_dict({"k": [1, 2]}, "cfg/config.json")
        cairn.log_figure(fig, "plots/line.png")
    assert cairn.active_run() is None
    c = Client()
    stored = c.get_run(run.id)
    assert stored.name == "fluent"
    assert stored.params == {"lr": "0.1", "epochs": "3"}
    assert {k: stored.tags[k] for k in ("team", "stage", "x")} == {
        "team": "vision",
        "stage": "dev",
        "x": "1",
    }
    assert c.get_metric_history(run.id, "loss").steps == [0, 1]
    assert c.get_metric_history(run.id, "acc").steps == [2]
    out = c.download_artifacts(run.id, dst=tmp_path / "down")
    assert (out / "models" / "model.txt").read_text() == "weights"
    assert (out / "data" / "a.txt").read_text() == "A"
    assert (out / "data" / "sub" / "b.txt").read_text() == "B"
    assert (out / "notes" / "hello.txt").read_text() == "hello"
    assert json.loads((out / "cfg" / "config.json").read_text()) == {"k": [1, 2]}
    assert (out / "plots" / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = c.download_artifacts(run.id, "notes/hello.txt", tmp_path / "one")
    assert one.read_text() == "hello"


def test_client_crud_search_and_history(sdk_env, tmp_path):
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    c = Client()
    name = "crud-" + os.environ["CAIRN_PROJECT"]
    exp_id = c.create_experiment(name, tags={"owner": "me"})
    assert c.get_experiment(exp_id).tags == {"owner": "me"}
    c.rename_experiment(exp_id, name + "-2")
    assert c.get_experiment_by_name(name + "-2").experiment_id == exp_id
    assert c.get_experiment_by_name(name) is None
    with pytest.raises(cairn.NotFoundError):
        c.get_experiment("987654321")

    ids = []
    for lr in (0.1, 0.01, 0.001):
        with cairn.init(project=name + "-2", config={"lr": lr}) as run:
            for step in range(50):
                run.log({"loss": lr * (50 - step)})
        ids.append(run.id)
    found = c.search_runs([exp_id], "metrics.loss < 0.05", order_by=["metrics.loss ASC"])
    assert [r.run_id for r in found] == [ids[2], ids[1]]
    frame = c.search_runs(exp_id, output="pandas")
    assert set(frame["run_id"]) == set(ids)
    assert {"params.lr", "metrics.loss"} <= set(frame.columns)
    assert len(c.search_runs(exp_id, max_results=2)) == 2

    history = c.get_metric_history(ids[0], "loss", output="numpy")
    assert history["step"].tolist() == list(range(50))
    assert np.allclose(history["value"], [0.1 * (50 - s) for s in range(50)])
    frame = c.get_metric_history(ids[0], "loss", output="pandas", start=10, end=19)
    assert isinstance(frame, pd.DataFrame) and frame["step"].tolist() == list(range(10, 20))
    assert c.metric_summaries(ids[0])["loss"]["count"] == 50

    compared = c.compare_runs(ids, best={"metric": "loss", "direction": "min"})
    assert compared["best"]["run_id"] == ids[2]

    c.delete_run(ids[0])
    assert c.get_run(ids[0]).lifecycle_stage == "deleted"
    c.restore_run(ids[0])
    manual = c.create_run(exp_id, run_name="manual", tags={"k": "v"})
    c.log_batch(manual.run_id, metrics={"m": 1.0}, params={"p": 1}, tags={"t": "x"})
    c.set_terminated(manual.run_id)
    stored = c.get_run(manual.run_id)
    assert (stored.status, stored.params, stored.metrics["m"]) == ("FINISHED", {"p": "1"}, 1.0)
    c.delete_experiment(exp_id)
    assert c.get_experiment(exp_id).lifecycle_stage == "deleted"
    c.restore_experiment(exp_id)


def test_settings_precedence(monkeypatch, tmp_path):
    from cairn import settings

    monkeypatch.setenv("CAIRN_URL", "http://127.0.0.1:1234/")
    monkeypatch.setenv("CAIRN_MODE", "offline")
    monkeypatch.setenv("CAIRN_PROJECT", "env-project")
    monkeypatch.setenv("CAIRN_TOKEN", "tok")
    s = settings.resolve()
    assert (s.url, s.mode, s.project, s.token) == (
        "http://127.0.0.1:1234",
        "offline",
        "env-project",
        "tok",
    )
    s = settings.resolve(url="http://127.0.0.1:9", mode="online", project="arg")
    assert (s.url, s.mode, s.project) == ("http://127.0.0.1:9", "online", "arg")
    monkeypatch.delenv("CAIRN_URL")
    monkeypatch.delenv("CAIRN_MODE")
    assert settings.resolve().url == "http://127.0.0.1:5000"
    assert settings.resolve().mode == "online"
    with pytest.raises(cairn.UsageError, match="mode"):
        settings.resolve(mode="sometimes")
    with pytest.raises(cairn.UsageError, match="http"):
        settings.resolve(url="ftp://x")


def test_disabled_mode_checks_calls_and_stores_nothing(sdk_env, tmp_path):
    run = cairn.init(mode="disabled", config={"a": 1})
    run.log({"x": 1})
    with pytest.raises(cairn.UsageError):
        run.log({"x": "y"})
    run.finish()
    assert not (sdk_env / "runs").exists() or not any((sdk_env / "runs").iterdir())


def test_jupyter_repr_links_the_run(sdk_env):
    run = cairn.init(name="nb")
    for i in range(20):
        run.log({"loss": 1 / (i + 1)})
    run._writer.flush()  # type: ignore[union-attr]
    run.finish()
    html = run._repr_html_()
    assert run.id in html and "nb" in html and "loss" in html
    assert "<polyline" in html, "a small chart of the metric"


def test_environment_captured_with_secrets_redacted(sdk_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CAIRN_CAPTURE_ENV", "1")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-123456")
    run = cairn.init(config={"db_password": "hunter2", "lr": 1})
    run.finish()
    c = Client()
    stored = c.get_run(run.id)
    assert stored.params["db_password"] == "[REDACTED]"
    assert stored.tags["mlflow.source.type"] == "LOCAL"
    assert "cairn.python" in stored.tags
    env_file = c.download_artifacts(run.id, "environment.json", tmp_path / "env")
    text = env_file.read_text()
    assert "tok-123456" not in text and "hunter2" not in text
    assert json.loads(text)["environment"]["MY_SERVICE_TOKEN"] == "[REDACTED]"


def test_environment_of_a_dirty_git_checkout(sdk_env, monkeypatch, tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    (repo / "train.py").write_text("print('v1')\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "first")
    git("remote", "add", "origin", "https://someone:s3cret@example.invalid/org/repo.git")
    (repo / "train.py").write_text("print('v2')\n")
    commit = git("rev-parse", "HEAD")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CAIRN_CAPTURE_ENV", "1")
    run = cairn.init()
    run.finish()
    c = Client()
    tags = c.get_run(run.id).tags
    assert tags["cairn.git.commit"] == tags["mlflow.source.git.commit"] == commit
    assert tags["cairn.git.branch"] == "main"
    assert tags["cairn.git.dirty"] == "true"
    assert "s3cret" not in tags["mlflow.source.git.repoURL"]
    assert tags["mlflow.source.git.repoURL"].endswith("example.invalid/org/repo.git")
    diff = c.download_artifacts(run.id, "git/diff.patch", tmp_path / "down").read_text()
    assert "-print('v1')" in diff and "+print('v2')" in diff
