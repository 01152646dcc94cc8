"""Fixtures of the optional framework tests (``scripts/test-integrations``): the SDK pointed at
the shared ``server`` of ``tests/conftest.py``, offline Hugging Face, Keras on torch, CPU only."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest

# Before any framework is imported: nothing downloaded, no wandb, Keras 3 on the torch backend.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Project:
    """The test's Cairn project and reads of what arrived in it."""

    def __init__(self, url: str, name: str):
        from cairn import Client

        self.name = name
        self.client = Client(url)

    def runs(self) -> list:
        experiment = self.client.get_experiment_by_name(self.name)
        if experiment is None:
            return []
        return self.client.search_runs([experiment.experiment_id])

    def only_run(self):
        found = self.runs()
        assert len(found) == 1, [r.run_id for r in found]
        return found[0]

    def history(self, run_id: str, key: str) -> tuple[list[int], list[float]]:
        history = self.client.get_metric_history(run_id, key)
        return history.steps, history.values

    def artifacts(self, run_id: str, path: str = "") -> set[str]:
        return {f["path"] for f in self.client.list_artifacts(run_id, path)}


@pytest.fixture
def project(server, tmp_path, monkeypatch):
    from cairn import autolog, runs

    name = f"i-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CAIRN_URL", server.url)
    monkeypatch.setenv("CAIRN_DIR", str(tmp_path / "cairn"))
    monkeypatch.setenv("CAIRN_PROJECT", name)
    monkeypatch.setenv("CAIRN_SYSTEM_METRICS", "0")
    monkeypatch.setenv("CAIRN_CAPTURE_ENV", "0")
    monkeypatch.delenv("CAIRN_MODE", raising=False)
    monkeypatch.delenv("CAIRN_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    yield Project(server.url, name)
    autolog(disable=True)
    current = runs.current()
    if current is not None:
        current.finish(timeout=5)


@pytest.fixture
def run_python():
    """Runs code in a fresh interpreter (this environment, runs disabled); returns its output."""
    return _run_python


def _run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CAIRN_MODE": "disabled"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout
