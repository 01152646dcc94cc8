"""Authentication: a server started with --auth refuses the API without credentials and accepts
the official client's token and username/password, the SDK's token and a browser session."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from e2e_util import cairn_bin, is_mlflow, unique_name

pytestmark = pytest.mark.skipif(is_mlflow(), reason="Cairn's authentication")

PASSWORD = "correct horse battery"


def _cli(data: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [cairn_bin(), *args, "--data", str(data)], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def secured():
    """A server with --auth, an admin `ada`, a user `bob`, and tokens for bob."""
    root = Path(tempfile.mkdtemp(prefix="cairn-auth-"))
    data = root / "data"
    _cli(data, "user", "create", "ada", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    _cli(data, "user", "create", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    write = _cli(data, "token", "create", "--user", "bob", "--name", "laptop")
    read = _cli(data, "token", "create", "--user", "bob", "--name", "dashboard", "--scope", "read")
    proc, url = _start(root, data)
    yield {"url": url, "data": data, "write": write, "read": read}
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(15)
    shutil.rmtree(root, ignore_errors=True)


def _start(root: Path, data: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(root / f"server-{port}.log", "w")
    proc = subprocess.Popen(
        [cairn_bin(), "server", "--auth", "--host", "127.0.0.1", "--port", str(port), "--data", str(data), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.05)
    return proc, url


@pytest.fixture
def client_env(monkeypatch, secured):
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", secured["url"])
    mlflow.set_tracking_uri(secured["url"])
    return monkeypatch


def test_the_api_needs_credentials_and_the_rest_stays_open(client_env, secured):
    url = secured["url"]
    with pytest.raises(MlflowException) as error:
        MlflowClient(url).search_experiments()
    assert "401" in str(error.value) or "UNAUTHENTICATED" in str(error.value)
    for path in (
        "/api/2.0/mlflow/experiments/search?max_results=1",
        "/api/v1/runs/abc",
        "/ajax-api/2.0/mlflow/runs/get",
    ):
        answer = requests.get(url + path, timeout=10)
        assert answer.status_code == 401, path
        assert answer.json()["error_code"] == "UNAUTHENTICATED"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/health", "/ready", "/metrics", "/", "/models"):
        assert requests.get(url + path, timeout=10).status_code == 200, path
    session = requests.get(f"{url}/api/v1/session", timeout=10).json()
    assert session == {"auth_enabled": True, "user": None, "csrf_token": None}
    bogus = requests.get(url + "/api/v1/runs/abc", headers={"Authorization": "Bearer cairn_nope"}, timeout=10)
    assert bogus.status_code == 401 and "Unknown token" in bogus.json()["message"]


def test_the_official_client_with_a_token_or_a_password(client_env, secured):
    client_env.setenv("MLFLOW_TRACKING_TOKEN", secured["write"])
    mlflow.set_experiment(unique_name("token"))
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5)
    client_env.delenv("MLFLOW_TRACKING_TOKEN")
    client_env.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    client_env.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    got = MlflowClient(secured["url"]).get_run(run.info.run_id)
    assert got.data.metrics == {"loss": 0.5}
    # Many calls with the same password: verified once, remembered (this would take seconds of
    # argon2 otherwise).
    started = time.perf_counter()
    for _ in range(20):
        MlflowClient(secured["url"]).get_run(run.info.run_id)
    assert time.perf_counter() - started < 20


def test_a_read_token_reads_and_cannot_write(client_env, secured):
    url = secured["url"]
    read = {"Authorization": f"Bearer {secured['read']}"}
    search = requests.post(
        f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 10}, headers=read, timeout=10
    )
    assert search.status_code == 200
    name = unique_name("denied")
    create = requests.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": name}, headers=read, timeout=10)
    assert create.status_code == 403 and create.json()["error_code"] == "PERMISSION_DENIED"
    write = {"Authorization": f"Bearer {secured['write']}"}
    found = requests.get(
        f"{url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}, headers=write, timeout=10
    )
    assert found.status_code == 404, "the refused write created nothing"


def test_tokens_made_over_the_api_and_revoked_at_once(client_env, secured):
    url = secured["url"]
    basic = ("bob", PASSWORD)
    made = requests.post(f"{url}/api/v1/tokens", json={"name": "ci", "expires_in_days": 30}, auth=basic, timeout=10)
    assert made.status_code == 200, made.text
    secret, token_id = made.json()["secret"], made.json()["token"]["id"]
    assert secret.startswith("cairn_") and made.json()["token"]["expires"] is not None
    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{url}/api/v1/tokens", headers=bearer, timeout=10).status_code == 200
    listed = requests.get(f"{url}/api/v1/tokens", auth=basic, timeout=10).json()["tokens"]
    assert {"laptop", "dashboard", "ci"} <= {t["name"] for t in listed}
    assert all("secret" not in t for t in listed)
    # Another (non-admin) user cannot revoke it; its owner can, and it stops working at once.
    requests.post(f"{url}/api/v1/session", json={"username": "ada", "password": PASSWORD}, timeout=10)
    assert requests.delete(f"{url}/api/v1/tokens/{token_id}", auth=basic, timeout=10).status_code == 200
    refused = requests.get(f"{url}/api/v1/tokens", headers=bearer, timeout=10)
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    bad = requests.post(f"{url}/api/v1/tokens", json={"name": "x", "scope": "admin"}, auth=basic, timeout=10)
    assert bad.status_code == 400


def test_browser_session_with_csrf(client_env, secured):
    url = secured["url"]
    browser = requests.Session()
    wrong = browser.post(f"{url}/api/v1/session", json={"username": "ada", "password": "nope nope"}, timeout=10)
    assert wrong.status_code == 401
    signed = browser.post(f"{url}/api/v1/session", json={"username": "ada", "password": PASSWORD}, timeout=10)
    assert signed.status_code == 200
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    csrf = signed.json()["csrf_token"]
    assert browser.get(f"{url}/api/v1/session", timeout=10).json()["user"]["username"] == "ada"
    assert browser.get(f"{url}/api/2.0/mlflow/experiments/search", timeout=10).status_code == 200
    name = unique_name("browser")
    forged = browser.post(f"{url}/api/v1/experiments", json={"name": name}, timeout=10)
    assert forged.status_code == 403 and "CSRF" in forged.json()["message"]
    made = browser.post(f"{url}/api/v1/experiments", json={"name": name}, headers={"X-Cairn-CSRF": csrf}, timeout=10)
    assert made.status_code in (200, 201), made.text
    assert browser.delete(f"{url}/api/v1/session", headers={"X-Cairn-CSRF": csrf}, timeout=10).status_code == 200
    assert browser.get(f"{url}/api/2.0/mlflow/experiments/search", timeout=10).status_code == 401


def test_the_sdk_with_a_token(client_env, secured, tmp_path):
    import cairn

    with cairn.init(
        project=unique_name("sdk"),
        url=secured["url"],
        token=secured["write"],
        dir=str(tmp_path),
        capture_environment=False,
    ) as run:
        run.log({"x": 1.0})
    assert run.finish() is True
    headers = {"Authorization": f"Bearer {secured['write']}"}
    got = requests.get(f"{secured['url']}/api/v1/runs/{run.id}", headers=headers, timeout=10).json()
    assert got["run"]["info"]["status"] == "FINISHED"


def test_disabling_a_user_and_throttling_guesses(client_env, secured):
    url = secured["url"]
    _cli(secured["data"], "user", "create", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    token = _cli(secured["data"], "token", "create", "--user", "carol")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{url}/api/v1/tokens", headers=headers, timeout=10).status_code == 200
    _cli(secured["data"], "user", "disable", "carol")
    assert requests.get(f"{url}/api/v1/tokens", headers=headers, timeout=10).status_code == 401
    _cli(secured["data"], "user", "enable", "carol")
    assert requests.get(f"{url}/api/v1/tokens", headers=headers, timeout=10).status_code == 200
    for _ in range(5):
        guess = requests.get(f"{url}/api/v1/tokens", auth=("carol", "guess guess"), timeout=10)
        assert guess.status_code == 401
    blocked = requests.get(f"{url}/api/v1/tokens", auth=("carol", PASSWORD), timeout=10)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 800, blocked.headers
    # Other users are not affected; the token (no password) still works.
    assert requests.get(f"{url}/api/v1/tokens", auth=("bob", PASSWORD), timeout=10).status_code == 200
    assert requests.get(f"{url}/api/v1/tokens", headers=headers, timeout=10).status_code == 200
    users = _cli(secured["data"], "user", "list")
    assert "ada\tadmin" in users and "carol\tuser" in users


def test_the_cli_sends_cairn_token(client_env, secured, tmp_path):
    client_env.setenv("MLFLOW_TRACKING_TOKEN", secured["write"])
    mlflow.set_experiment(unique_name("cli"))
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/hello.txt")
    command = [cairn_bin(), "artifacts", "download", run.info.run_id, "notes/hello.txt", "-o", str(tmp_path / "a.txt")]
    command += ["--server", secured["url"]]
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_TOKEN"}
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode != 0 and "Authentication required" in refused.stderr, refused.stderr
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={**env, "CAIRN_TOKEN": secured["read"]}
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.txt").read_text() == "hello"


def _audit(url: str, auth, **params) -> list[dict]:
    answer = requests.get(f"{url}/api/v1/audit", params=params, auth=auth, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def test_the_audit_log_records_writes_and_auth_events(client_env, secured):
    url = secured["url"]
    write = {"Authorization": f"Bearer {secured['write']}", "User-Agent": "audit-test/1"}
    name = unique_name("audited")
    made = requests.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": name}, headers=write, timeout=10)
    assert made.status_code == 200
    requests.get(
        f"{url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}, headers=write, timeout=10
    )
    requests.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=10)  # no credentials
    requests.post(f"{url}/api/v1/session", json={"username": "ada", "password": "not it at all"}, timeout=10)
    admin = ("ada", PASSWORD)
    time.sleep(0.5)  # the audit writer flushes every 100 ms

    created = _audit(url, admin, action="POST /api/2.0/mlflow/experiments/create", user="bob")
    assert created and created[0]["status"] == 200
    assert created[0]["source"] == "127.0.0.1" and created[0]["user_agent"] == "audit-test/1"
    # Reads are not audited; refusals and sign-ins are.
    assert not _audit(url, admin, action="GET /api/2.0/mlflow/experiments/get-by-name")
    denied = _audit(url, admin, action="auth.denied", limit=50)
    assert any(e["target"] == "/api/2.0/mlflow/experiments/create" and e["status"] == 401 for e in denied)
    failed = [e for e in _audit(url, admin, action="auth.sign_in", limit=50) if e["target"] == "ada"]
    assert failed and failed[0]["status"] == 401 and failed[0]["username"] is None
    cli = _audit(url, admin, action="cli.", limit=50)
    assert {"cli.user_create", "cli.token_create"} <= {e["action"] for e in cli}
    # Paging back by id.
    page = _audit(url, admin, limit=2)
    older = _audit(url, admin, limit=2, before=page[-1]["id"])
    assert older and all(e["id"] < page[-1]["id"] for e in older)
    # Only admins read it; the command line reads it too.
    assert requests.get(f"{url}/api/v1/audit", auth=("bob", PASSWORD), timeout=10).status_code == 403
    lines = _cli(secured["data"], "audit", "--action", "auth.sign_in", "--limit", "5").splitlines()
    assert lines and "auth.sign_in\tada\t401" in lines[0]


def test_each_credential_is_rate_limited(tmp_path):
    data = tmp_path / "data"
    _cli(data, "user", "create", "eve", "--password-stdin", stdin=PASSWORD + "\n")
    runaway = _cli(data, "token", "create", "--user", "eve", "--name", "runaway")
    calm = _cli(data, "token", "create", "--user", "eve", "--name", "calm")
    proc, url = _start(tmp_path, data, "--rate-limit", "2")
    try:
        headers = {"Authorization": f"Bearer {runaway}"}
        answers = [requests.get(f"{url}/api/v1/tokens", headers=headers, timeout=10) for _ in range(6)]
        codes = [a.status_code for a in answers]
        assert codes[:4] == [200] * 4, codes  # a burst of twice the rate
        assert 429 in codes[4:], codes
        refused = next(a for a in answers if a.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        # Another token of the same user has its own allowance.
        assert requests.get(f"{url}/api/v1/tokens", headers={"Authorization": f"Bearer {calm}"}, timeout=10).ok
        time.sleep(1.1)
        assert requests.get(f"{url}/api/v1/tokens", headers=headers, timeout=10).ok
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_only_authors_and_admins_change_comments(client_env, secured):
    url = secured["url"]
    bob, ada = ("bob", PASSWORD), ("ada", PASSWORD)
    _cli(secured["data"], "user", "create", "dave", "--password-stdin", stdin=PASSWORD + "\n")
    dave = ("dave", PASSWORD)
    # Public, so that dave may read it and its comments (but not change bob's).
    body = {"name": unique_name("talk"), "tags": [{"key": "cairn.visibility", "value": "public"}]}
    exp = requests.post(f"{url}/api/v1/experiments", json=body, auth=bob, timeout=10)
    experiment_id = exp.json()["experiment"]["experiment_id"]
    path = f"{url}/api/v1/experiments/{experiment_id}/comments"
    made = requests.post(path, json={"body": "mine"}, auth=bob, timeout=10).json()["comment"]
    assert made["author"] == "bob"
    comment = f"{url}/api/v1/comments/{made['id']}"
    assert requests.patch(comment, json={"body": "theirs"}, auth=dave, timeout=10).status_code == 403
    assert requests.delete(comment, auth=dave, timeout=10).status_code == 403
    assert requests.patch(comment, json={"body": "still mine"}, auth=bob, timeout=10).status_code == 200
    assert requests.delete(comment, auth=ada, timeout=10).status_code == 200, "an admin may"
    assert requests.get(path, auth=dave, timeout=10).json()["comments"] == []


def test_activity_names_who_changed_a_run(client_env, secured):
    url = secured["url"]
    bob = ("bob", PASSWORD)
    exp = requests.post(f"{url}/api/v1/experiments", json={"name": unique_name("who")}, auth=bob, timeout=10)
    experiment_id = exp.json()["experiment"]["experiment_id"]
    made = requests.post(
        f"{url}/api/2.0/mlflow/runs/create", json={"experiment_id": experiment_id}, auth=bob, timeout=10
    )
    run_id = made.json()["run"]["info"]["run_id"]
    requests.post(
        f"{url}/api/2.0/mlflow/runs/update",
        json={"run_id": run_id, "status": "FINISHED"},
        auth=("ada", PASSWORD),
        timeout=10,
    ).raise_for_status()
    deadline = time.monotonic() + 10
    while True:
        history = requests.get(f"{url}/api/v1/runs/{run_id}/activity", auth=bob, timeout=10).json()["activity"]
        if len(history) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(e["change"], e["user"]) for e in history] == [("status FINISHED", "ada"), ("created", "bob")]
