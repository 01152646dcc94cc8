"""Helpers shared by the end-to-end tests (importable as ``e2e_util``)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from mlflow import MlflowClient

SERVER_KIND = os.environ.get("E2E_SERVER", "cairn").strip().lower()


def is_mlflow() -> bool:
    return SERVER_KIND == "mlflow"


def is_cairn() -> bool:
    return SERVER_KIND == "cairn"


def cairn_bin() -> str:
    """The `cairn` binary the suite's server runs (its CLI commands are tested with it too)."""
    repo = Path(__file__).resolve().parents[2]
    return os.environ.get("CAIRN_BIN", str(repo / "target" / "debug" / "cairn"))


@dataclass
class Ctx:
    url: str
    client: MlflowClient
    experiment_id: str
    experiment_name: str

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow"

    def new_experiment(self, prefix: str = "extra") -> str:
        return self.client.create_experiment(unique_name(prefix))


def unique_name(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def post(url: str, body, **kw) -> requests.Response:
    return requests.post(url, json=body, timeout=60, **kw)


def get(url: str, params=None, **kw) -> requests.Response:
    return requests.get(url, params=params, timeout=60, **kw)


def assert_error(resp: requests.Response, status: int, code: str, msg_part: str | None = None) -> dict:
    """A JSON error body with the given HTTP status and error_code (and message substring)."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert body["error_code"] == code, body
    if msg_part is not None:
        assert msg_part in body["message"], body
    return body


def new_run(ctx: Ctx, **kw) -> str:
    return ctx.client.create_run(ctx.experiment_id, **kw).info.run_id
