"""Authorisation overhead, measured: per-request latency of the same requests against a release
Cairn server without authentication and with it.

With authentication on, every request is authenticated (token hash lookup), its caller's team
roles are loaded, and each service call asks the access service (the experiment's access record;
a run's experiment is cached). The workload, per trial and mode, one keep-alive connection:
- `log-metric`: MLflow's `runs/log-metric` on one run;
- `runs/get`: MLflow's `runs/get` of that run;
- `runs/search`: MLflow's `runs/search` over the experiment (100 runs);
- `file get`: a 1 KiB artifact through the native file route.
Modes alternate trial by trial (the machine is shared and noisy); the answer is the median of
the trials' medians, and the ratio auth/no-auth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

API = "/api/2.0/mlflow"
PASSWORD = "correct horse battery"


def _cli(data: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [os.environ["CAIRN_BIN"], *args, "--data", str(data)], input=stdin, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _start(data: Path, auth: bool) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [os.environ["CAIRN_BIN"], "server", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
    if auth:
        args += ["--auth", "--rate-limit", "0"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def _prepare(session: requests.Session, url: str) -> dict:
    if "Authorization" in session.headers:
        session.post(f"{url}/api/v1/teams", json={"name": "bench"}).raise_for_status()
    tags = [{"key": "cairn.team", "value": "bench"}] if "Authorization" in session.headers else []
    made = session.post(f"{url}{API}/experiments/create", json={"name": "bench", "tags": tags})
    made.raise_for_status()
    experiment_id = made.json()["experiment_id"]
    runs = []
    for _ in range(100):
        run = session.post(f"{url}{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]
        runs.append(run["info"]["run_id"])
    session.put(f"{url}/api/v1/runs/{runs[0]}/files/blob.bin", data=os.urandom(1024)).raise_for_status()
    return {"experiment": experiment_id, "run": runs[0]}


def _time(session: requests.Session, method: str, url: str, count: int, params=None, body=None) -> float:
    """Median milliseconds of `count` requests; `body(step)` makes each JSON body."""
    samples = []
    for step in range(count):
        start = time.perf_counter()
        response = session.request(method, url, params=params, json=body(step) if body else None)
        samples.append((time.perf_counter() - start) * 1000)
        if not response.ok:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:200]}")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    trials, count = (3, 500) if options.quick else (5, 2000)
    root = Path(tempfile.mkdtemp(prefix="cairn-bench-auth-"))
    servers = {}
    try:
        for auth in (False, True):
            data = root / ("auth" if auth else "open")
            session = requests.Session()
            if auth:
                _cli(data, "user", "create", "ada", "--password-stdin", stdin=PASSWORD + "\n")
                token = _cli(data, "token", "create", "--user", "ada", "--name", "bench")
                session.headers["Authorization"] = f"Bearer {token}"
            proc, url = _start(data, auth)
            servers[auth] = (proc, url, session, _prepare(session, url))
        routes = {
            "log-metric": lambda u, t: (
                "POST",
                f"{u}{API}/runs/log-metric",
                {"body": lambda step: {"run_id": t["run"], "key": "loss", "value": 0.5, "timestamp": 1, "step": step}},
            ),
            "runs/get": lambda u, t: ("GET", f"{u}{API}/runs/get", {"params": {"run_id": t["run"]}}),
            "runs/search": lambda u, t: (
                "POST",
                f"{u}{API}/runs/search",
                {"body": lambda _: {"experiment_ids": [t["experiment"]], "max_results": 100}},
            ),
            "file get": lambda u, t: ("GET", f"{u}/api/v1/runs/{t['run']}/files/blob.bin", {}),
        }
        results = {name: {False: [], True: []} for name in routes}
        for trial in range(trials):
            for auth in (False, True) if trial % 2 == 0 else (True, False):
                _, url, session, target = servers[auth]
                for name, make in routes.items():
                    method, path, kwargs = make(url, target)
                    results[name][auth].append(_time(session, method, path, count, **kwargs))
        print(f"Authorisation overhead: {trials} trials x {count} requests per route, one connection, release build")
        print(f"{'route':<14}{'no auth p50 ms':>16}{'auth p50 ms':>14}{'ratio':>8}")
        for name in routes:
            off = statistics.median(results[name][False])
            on = statistics.median(results[name][True])
            print(f"{name:<14}{off:>16.3f}{on:>14.3f}{on / off:>8.2f}")
    finally:
        for proc, *_ in servers.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
