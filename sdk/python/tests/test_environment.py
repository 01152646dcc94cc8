"""Tests for cairn.environment (reproducibility capture) and cairn.redact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from cairn import environment
from cairn.environment import Captured, capture
from cairn.redact import REDACTED, is_secret_key, redact_mapping, redact_text, strip_url_credentials

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

SECRET_REMOTE = "https://user:s3cret@example.invalid/org/repo.git"


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    git(path, "symbolic-ref", "HEAD", "refs/heads/main")
    git(path, "config", "user.name", "Cairn Test")
    git(path, "config", "user.email", "cairn@example.invalid")
    git(path, "config", "commit.gpgsign", "false")
    (path / "train.py").write_text("print('hello')\n")
    (path / "blob.bin").write_bytes(bytes(range(256)))
    git(path, "add", "train.py", "blob.bin")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def dirty_repo(repo: Path) -> Path:
    git(repo, "remote", "add", "origin", SECRET_REMOTE)
    (repo / "train.py").write_text("print('hello')\nprint('changed line')\n")
    (repo / "blob.bin").write_bytes(bytes(reversed(range(256))))
    (repo / "notes.txt").write_text("untracked\n")
    return repo


# --- git -----------------------------------------------------------------------------------------------------------


@needs_git
def test_dirty_repo(dirty_repo: Path) -> None:
    script = dirty_repo / "train.py"
    result = capture(str(dirty_repo), argv=[str(script), "--lr", "0.1"])
    assert isinstance(result, Captured)
    head = git(dirty_repo, "rev-parse", "HEAD")

    tags = result.tags
    assert tags["cairn.git.commit"] == head
    assert tags["mlflow.source.git.commit"] == head
    assert tags["cairn.git.branch"] == "main"
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["cairn.git.dirty"] == "true"
    assert tags["cairn.git.remote"] == "https://example.invalid/org/repo.git"
    assert tags["mlflow.source.git.repoURL"] == "https://example.invalid/org/repo.git"
    assert tags["mlflow.source.name"] == str(script)
    assert tags["mlflow.source.type"] == "LOCAL"

    doc_git = result.document["git"]
    assert isinstance(doc_git, dict)
    assert doc_git["commit"] == head
    assert doc_git["dirty"] is True
    assert doc_git["remote_name"] == "origin"
    assert doc_git["untracked"] == ["notes.txt"]
    assert doc_git["untracked_count"] == 1
    assert doc_git["script"] == "train.py"
    assert os.path.realpath(str(doc_git["root"])) == os.path.realpath(dirty_repo)
    assert doc_git["diff_truncated"] is False

    assert result.diff is not None
    assert "+print('changed line')" in result.diff
    assert "Binary files" in result.diff  # binary content itself is skipped
    assert doc_git["diff_bytes"] == len(result.diff.encode())

    everything = json.dumps(result.document) + json.dumps(result.tags) + result.diff
    assert "s3cret" not in everything


@needs_git
def test_clean_repo(repo: Path) -> None:
    result = capture(str(repo), argv=[str(repo / "train.py")])
    assert result.tags["cairn.git.dirty"] == "false"
    assert result.diff is None
    doc_git = result.document["git"]
    assert isinstance(doc_git, dict)
    assert doc_git["dirty"] is False
    assert doc_git["untracked"] == []
    assert "diff_bytes" not in doc_git
    assert "cairn.git.remote" not in result.tags  # no remote configured
    assert "remote" not in doc_git


@needs_git
def test_only_untracked_is_dirty_without_diff(repo: Path) -> None:
    (repo / "new.txt").write_text("x\n")
    result = capture(str(repo), argv=["-c"])
    assert result.tags["cairn.git.dirty"] == "true"
    assert result.diff is None
    assert "mlflow.source.name" not in result.tags


@needs_git
def test_first_remote_when_no_origin(repo: Path) -> None:
    git(repo, "remote", "add", "upstream", "ssh://git:pw@example.invalid/org/repo.git")
    result = capture(str(repo), argv=[])
    assert result.tags["cairn.git.remote"] == "ssh://git@example.invalid/org/repo.git"


@needs_git
def test_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    result = capture(str(repo), argv=[])
    assert "cairn.git.branch" not in result.tags
    assert "mlflow.source.git.branch" not in result.tags
    assert result.tags["cairn.git.commit"] == git(repo, "rev-parse", "HEAD")
    doc_git = result.document["git"]
    assert isinstance(doc_git, dict)
    assert doc_git["branch"] is None


@needs_git
def test_subdirectory_and_relative_script(repo: Path) -> None:
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    (sub / "run.py").write_text("")
    result = capture(str(sub), argv=["run.py"])
    doc_git = result.document["git"]
    assert isinstance(doc_git, dict)
    assert doc_git["script"] == os.path.join("src", "pkg", "run.py")
    assert result.tags["mlflow.source.name"] == str(sub / "run.py")
    assert result.tags["cairn.cwd"] == str(sub)


@needs_git
def test_diff_limit_truncates(dirty_repo: Path) -> None:
    (dirty_repo / "train.py").write_text("".join(f"print({i})\n" for i in range(2000)))
    full = capture(str(dirty_repo), argv=[])
    cut = capture(str(dirty_repo), diff_limit=100, argv=[])
    assert full.diff is not None and cut.diff is not None
    assert len(cut.diff.encode()) <= 100
    assert full.diff.startswith(cut.diff)
    doc_git = cut.document["git"]
    assert isinstance(doc_git, dict)
    assert doc_git["diff_truncated"] is True
    assert doc_git["diff_bytes"] == len(full.diff.encode()) > 100


def test_not_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    result = capture(str(plain), argv=[str(plain / "x.py")])
    assert not [k for k in result.tags if ".git." in k]
    assert "git" not in result.document
    assert result.diff is None
    assert result.tags["mlflow.source.name"] == str(plain / "x.py")


@needs_git
def test_no_git_binary(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-such-bin"))
    result = capture(str(repo), argv=[])
    assert "git" not in result.document
    assert "cairn.git.commit" not in result.tags


@needs_git
def test_git_timeout_is_swallowed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object, **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(cmd="git", timeout=2)

    monkeypatch.setattr(environment.subprocess, "run", slow)
    result = capture(str(repo), argv=[])
    assert "git" not in result.document


def test_missing_cwd_does_not_raise(tmp_path: Path) -> None:
    result = capture(str(tmp_path / "does-not-exist"), argv=[])
    assert "git" not in result.document


# --- interpreter, host, command, packages, environment ---------------------------------------------------------------


def test_interpreter_host_and_command(tmp_path: Path) -> None:
    argv = [str(tmp_path / "train.py"), "--name", "two words"]
    result = capture(str(tmp_path), argv=argv)
    doc = result.document
    python = doc["python"]
    assert isinstance(python, dict)
    assert python["executable"] == sys.executable
    assert python["version"] == ".".join(map(str, sys.version_info[:3]))
    host = doc["host"]
    assert isinstance(host, dict)
    assert host["cpu_count"] == os.cpu_count()
    assert isinstance(host["memory_total_bytes"], int) and host["memory_total_bytes"] > 0
    assert host["platform"]
    assert isinstance(doc["gpus"], list)
    command = doc["command"]
    assert isinstance(command, dict)
    assert command["argv"] == argv
    assert command["line"] == f"{argv[0]} --name 'two words'"
    assert doc["cwd"] == str(tmp_path)

    tags = result.tags
    assert tags["cairn.command"] == command["line"]
    assert tags["cairn.cwd"] == str(tmp_path)
    assert tags["cairn.python"].endswith(python["version"])
    assert tags["cairn.platform"] == host["platform"]
    assert tags["cairn.host"] == host["hostname"]
    if "user" in host:
        assert tags["mlflow.user"] == host["user"]
    assert all(isinstance(v, str) and v for v in tags.values())
    json.dumps(doc)  # serialisable


def test_default_argv_is_sys_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "main.py"), "-x"])
    result = capture(str(tmp_path))
    command = result.document["command"]
    assert isinstance(command, dict)
    assert command["argv"] == [str(tmp_path / "main.py"), "-x"]


def test_long_command_tag_is_truncated(tmp_path: Path) -> None:
    result = capture(str(tmp_path), argv=["train.py", "x" * 20_000])
    assert len(result.tags["cairn.command"]) == 5000
    command = result.document["command"]
    assert isinstance(command, dict)
    assert len(str(command["line"])) > 20_000  # the document keeps it whole


def test_user_lookup_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(environment.getpass, "getuser", no_user)
    result = capture(str(tmp_path), argv=[])
    assert "mlflow.user" not in result.tags
    host = result.document["host"]
    assert isinstance(host, dict)
    assert "user" not in host


def test_distributions() -> None:
    result = capture(argv=[])
    dists = result.document["distributions"]
    assert isinstance(dists, dict)
    assert "pytest" in dists
    assert dists["pytest"] == pytest.__version__
    names = [n.lower().replace("_", "-") for n in dists]
    assert names == sorted(names)
    assert len(set(names)) == len(names)


def test_environment_variables_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = {
        "MY_API_KEY": "value-of-api-key-123",
        "DB_PASSWORD": "value-of-db-password-456",
        "AWS_SECRET_ACCESS_KEY": "value-of-aws-secret-789",
        "HF_TOKEN": "value-of-hf-token-abc",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLAIN_SETTING", "keep-me")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:value-of-url-password@db.invalid/app")

    result = capture(str(tmp_path), argv=[])
    env = result.document["environment"]
    assert isinstance(env, dict)
    for name in secrets:
        assert env[name] == REDACTED
    assert env["PLAIN_SETTING"] == "keep-me"
    assert env["DATABASE_URL"] == "postgres://[REDACTED]@db.invalid/app"
    everything = json.dumps(result.document) + json.dumps(result.tags)
    for value in [*secrets.values(), "value-of-url-password"]:
        assert value not in everything


# --- GPU list through a fake NVML ------------------------------------------------------------------------------------


def fake_nvml(fail_init: bool = False) -> types.ModuleType:
    mod = types.ModuleType("pynvml")
    state = {"init": 0, "shutdown": 0}

    def init() -> None:
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")
        state["init"] += 1

    mod.nvmlInit = init  # type: ignore[attr-defined]
    mod.nvmlShutdown = lambda: state.__setitem__("shutdown", state["shutdown"] + 1)  # type: ignore[attr-defined]
    mod.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # type: ignore[attr-defined]
    mod.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    mod.nvmlDeviceGetHandleByIndex = lambda i: f"handle{i}"  # type: ignore[attr-defined]
    names = {"handle0": b"NVIDIA H100 80GB HBM3", "handle1": "NVIDIA A10"}
    mod.nvmlDeviceGetName = lambda h: names[h]  # type: ignore[attr-defined]
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        total=80 * 2**30 if h == "handle0" else 24 * 2**30, used=0, free=0
    )
    mod.state = state  # type: ignore[attr-defined]
    return mod


def test_gpu_list_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    gpus = capture(argv=[]).document["gpus"]
    assert gpus == [
        {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": 80 * 2**30, "driver_version": "550.54.15"},
        {"index": 1, "name": "NVIDIA A10", "memory_total_bytes": 24 * 2**30, "driver_version": "550.54.15"},
    ]
    assert nvml.state == {"init": 1, "shutdown": 1}  # type: ignore[attr-defined]


def test_gpu_list_when_nvml_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(fail_init=True))
    assert capture(argv=[]).document["gpus"] == []


def test_gpu_list_without_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes the import fail
    assert capture(argv=[]).document["gpus"] == []


# --- redact ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "API_KEY",
        "api-key",
        "apiKey",
        "aws_secret_access_key",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "MYSQL_PWD_PASSWD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "Authorization",
        "ssh_private_key",
        "SESSION_ID",
        "cookie",
        "URL_SIGNATURE",
        "SENTRY_DSN",
        "DB_CONN_STRING",
    ],
)
def test_is_secret_key_true(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["PATH", "HOME", "PWD", "LANG", "CUDA_VISIBLE_DEVICES", "learning_rate", ""])
def test_is_secret_key_false(key: str) -> None:
    assert not is_secret_key(key)


def test_is_secret_key_accepted_collateral() -> None:
    assert is_secret_key("KEYBOARD_LAYOUT")  # substring matching, documented


def test_redact_mapping_nested() -> None:
    values: dict[str, object] = {
        "lr": 0.1,
        "api_key": "abc",
        "db": {"host": "x", "password": "hunter2", "opts": {"authToken": "t", "retries": 3}},
        "credentials": {"user": "u"},
        "layers": [{"secret": "s", "size": 4}, 5],
        "url": "https://user:pw@example.invalid/path",
    }
    redacted = redact_mapping(values)
    assert redacted == {
        "lr": 0.1,
        "api_key": REDACTED,
        "db": {"host": "x", "password": REDACTED, "opts": {"authToken": REDACTED, "retries": 3}},
        "credentials": REDACTED,
        "layers": [{"secret": REDACTED, "size": 4}, 5],
        "url": "https://[REDACTED]@example.invalid/path",
    }
    assert values["api_key"] == "abc"  # input untouched


def test_redact_text() -> None:
    assert redact_text("no urls here") == "no urls here"
    assert (
        redact_text("proxy http://u:p@proxy.invalid:3128 and more")
        == "proxy http://[REDACTED]@proxy.invalid:3128 and more"
    )
    assert redact_text("ssh://git:pw@host/x") == "ssh://git:[REDACTED]@host/x"
    assert redact_text("ssh://git@host/x") == "ssh://git@host/x"
    assert redact_text("mail me: a@b.invalid") == "mail me: a@b.invalid"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:tok@host/x.git", "https://host/x.git"),
        ("https://tok@host/x.git", "https://host/x.git"),
        ("https://user:tok@host:8443/x.git?q=1#f", "https://host:8443/x.git?q=1#f"),
        ("https://host/x.git", "https://host/x.git"),
        ("http://user:p%40ss@[::1]:80/r", "http://[::1]:80/r"),
        ("ssh://git@host/org/repo.git", "ssh://git@host/org/repo.git"),
        ("ssh://git:pw@host/org/repo.git", "ssh://git@host/org/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected
