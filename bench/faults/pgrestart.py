"""Fault test: PostgreSQL restarted under a Cairn server during ingest.

Each trial runs one `cairn server --store URL` on a fresh database of a throwaway PostgreSQL
cluster (`tests/pg_cluster.py`). CLIENTS training scripts — separate processes using the Python
SDK as a user does: `cairn.init(...)`, `run.log(...)` every few milliseconds, `run.finish()` —
log KEYS metrics per step while PostgreSQL is stopped (`pg_ctl stop -m fast`; `--stop-mode
immediate` for a crash), kept down for `--down` seconds and started again; the Cairn server is
never restarted. Meanwhile a prober sends raw requests every 200 ms — a metric batch with an
Idempotency-Key (resent with the same key until acknowledged), a run read and `/ready` — and
records each status and whether a 503 carried `Retry-After`. After the clients finish (their
SDK spools what the server refused and delivers it once the database is back), the trial checks
through the API that every point every client logged, and every probe batch acknowledged, is
stored exactly once with its value, and that every run is FINISHED; then, on the database, that
the stored segments and chunks hold no hidden second copy of any batch (`pgcheck.series_check`)
and `amcheck` finds nothing.

A trial fails on: a lost, duplicated or damaged point; a run not FINISHED or a `finish()` that
gave up; a probe write or read answered with anything but 2xx or 503 (a 500, a 4xx, no answer at
all); a 503 without `Retry-After`; no refusal seen while the database was down; a probe still
failing at the end, or `/ready` not 200 again; the server process gone; any integrity problem.
Prints a table per trial and a summary; exits non-zero if any trial failed. (The hidden-copy
check sees a second copy only until the compactor merges it away; a read merges exact
duplicates, so the SDK's identical re-sends would not show through the API alone.)
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pgcheck
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
import pg_cluster  # noqa: E402

KEYS = 5
PROBE_BATCH = 50
T0 = 1_780_000_000_000

# One training script: logs until the stop file appears, then finishes and reports.
CLIENT = textwrap.dedent(
    """
    import json, os, sys, time
    import cairn

    url, folder, stop_file, index, keys, pause = sys.argv[1:7]
    index, keys, pause = int(index), int(keys), float(pause)
    run = cairn.init(url=url, dir=folder, project="pg-restart", name=f"client-{index}")
    print(run.id, flush=True)
    step = 0
    while not os.path.exists(stop_file):
        run.log({f"m{k}": index * 1000.0 + step + k / 8 for k in range(keys)}, step=step)
        step += 1
        time.sleep(pause)
    finished = run.finish(timeout=300)
    print(json.dumps({"steps": step, "finished": finished}), flush=True)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_value(index: int, step: int, key: int) -> float:
    return index * 1000.0 + step + key / 8


class Prober(threading.Thread):
    """Raw requests every 200 ms: a metric batch (retried with its key until acknowledged), a
    run read and `/ready`, each answer recorded by phase."""

    def __init__(self, url: str, run_id: str, phase: list[str]):
        super().__init__(daemon=True)
        self.url, self.run_id, self.phase = url, run_id, phase
        self.stop = threading.Event()
        self.session = requests.Session()
        self.answers: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self.with_retry_after: collections.Counter[tuple[str, str]] = collections.Counter()
        self.without_retry_after: collections.Counter[str] = collections.Counter()
        self.messages: dict[tuple[str, int], str] = {}
        self.last: dict[str, int] = {}
        self.acked: list[int] = []
        self.first_write_after: float | None = None

    def call(self, kind: str, method: str, path: str, **kwargs) -> int:
        try:
            response = self.session.request(method, self.url + path, timeout=30, **kwargs)
            status = response.status_code
        except requests.RequestException:
            response, status = None, 0
            self.session = requests.Session()
        self.answers[(self.phase[0], kind, status)] += 1
        self.last[kind] = status
        if response is not None and status >= 400:
            self.messages.setdefault((kind, status), response.text[:160])
            if status == 503 and "Retry-After" in response.headers:
                self.with_retry_after[(self.phase[0], kind)] += 1
            elif status == 503 and kind != "ready":
                self.without_retry_after[kind] += 1
        return status

    def run(self) -> None:
        batch = 0
        while not self.stop.wait(0.2):
            steps = list(range(batch * PROBE_BATCH, (batch + 1) * PROBE_BATCH))
            body = {"metrics": [{"key": "probe", "steps": steps, "values": [float(s) for s in steps], "timestamp": T0}]}
            status = self.call(
                "write",
                "POST",
                f"/api/v1/runs/{self.run_id}/metrics",
                json=body,
                headers={"Idempotency-Key": f"probe-{batch}"},
            )
            if 200 <= status < 300:
                self.acked.append(batch)
                batch += 1
                if self.phase[0] == "after" and self.first_write_after is None:
                    self.first_write_after = time.monotonic()
            self.call("read", "GET", f"/api/v1/runs/{self.run_id}")
            self.call("ready", "GET", "/ready")


def start_server(binary: str, store: str, data: Path, port: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [binary, "server", "--host", "127.0.0.1", "--port", str(port), "--data", str(data), "--store", store],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError(f"cairn server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError("cairn server did not become ready")


def check_points(url: str, run_id: str, key: str, expected: dict[int, float]) -> tuple[int, int, int, int]:
    """(points stored, missing, stored twice, wrong value) of one series read through the API."""
    got = requests.get(f"{url}/api/v1/runs/{run_id}/metrics/{key}/points", timeout=120)
    if got.status_code == 404 and not expected:
        return 0, 0, 0, 0
    got.raise_for_status()
    body = got.json()
    steps = body["steps"]
    seen = set(steps)
    damaged = sum(1 for step, value in zip(steps, body["values"], strict=True) if expected.get(step) != value)
    return len(steps), len(expected.keys() - seen), len(steps) - len(seen), damaged


def trial(options: argparse.Namespace, cluster: pg_cluster.Cluster, number: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cairn-pgrestart-"))
    store = cluster.fresh_database()
    pgcheck.commit_durably(cluster.bin, store)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    proc = start_server(options.binary, store, root / "data", port, log)
    failures: list[str] = []
    clients: list[subprocess.Popen] = []
    prober: Prober | None = None
    try:
        probe_run = uuid.uuid4().hex
        requests.put(
            f"{url}/api/v1/runs/{probe_run}", json={"experiment_name": "pg-restart-probe"}, timeout=30
        ).raise_for_status()

        stop_file = root / "stop"
        script = root / "client.py"
        script.write_text(CLIENT)
        env = dict(os.environ, CAIRN_SYSTEM_METRICS="0", CAIRN_CAPTURE_ENV="0")
        env.pop("CAIRN_TOKEN", None)
        client_logs = [open(root / f"client-{i}.log", "wb") for i in range(options.clients)]
        clients += [
            subprocess.Popen(
                [
                    sys.executable,
                    str(script),
                    url,
                    str(root / "sdk"),
                    str(stop_file),
                    str(i),
                    str(KEYS),
                    str(options.pause),
                ],
                stdout=subprocess.PIPE,
                stderr=client_logs[i],
                text=True,
                env=env,
            )
            for i in range(options.clients)
        ]
        run_ids = [c.stdout.readline().strip() for c in clients]

        phase = ["before"]
        prober = Prober(url, probe_run, phase)
        prober.start()
        time.sleep(options.before)
        phase[0] = "down"
        cluster.stop(options.stop_mode)
        time.sleep(options.down)
        cluster.start()
        restarted = time.monotonic()
        phase[0] = "after"
        time.sleep(options.after)
        stop_file.touch()
        reports = []
        for i, client in enumerate(clients):
            out, _ = client.communicate(timeout=600)
            if client.returncode != 0:
                failures.append(
                    f"client {i} exited with {client.returncode}: {(root / f'client-{i}.log').read_text()[-500:]}"
                )
                reports.append({"steps": 0, "finished": False})
            else:
                reports.append(json.loads(out.strip().splitlines()[-1]))
        prober.stop.set()
        prober.join()
        for client_log in client_logs:
            client_log.close()

        logged = stored = lost = duplicated = damaged = 0
        api_counts: dict[tuple[str, str], int] = {}
        for i, (run_id, report) in enumerate(zip(run_ids, reports, strict=True)):
            if not report["finished"]:
                failures.append(f"client {i}: finish() returned False (not everything was delivered)")
            status = requests.get(f"{url}/api/v1/runs/{run_id}", timeout=30).json()["run"]["info"]["status"]
            if status != "FINISHED":
                failures.append(f"client {i}: run is {status}")
            for k in range(KEYS):
                expected = {step: expected_value(i, step, k) for step in range(report["steps"])}
                counts = check_points(url, run_id, f"m{k}", expected)
                api_counts[(run_id, f"m{k}")] = counts[0]
                logged += len(expected)
                stored += counts[0]
                lost += counts[1]
                duplicated += counts[2]
                damaged += counts[3]
        probe_expected = {s: float(s) for b in prober.acked for s in range(b * PROBE_BATCH, (b + 1) * PROBE_BATCH)}
        counts = check_points(url, probe_run, "probe", probe_expected)
        api_counts[(probe_run, "probe")] = counts[0]
        lost += counts[1]
        duplicated += counts[2]
        damaged += counts[3]

        ready = requests.get(f"{url}/ready", timeout=30).status_code
        alive = proc.poll() is None
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        if prober is not None:
            prober.stop.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    held, series_problems = pgcheck.series_check(cluster.bin, store)
    hidden = sum(held.get(key, 0) - count for key, count in api_counts.items())
    indexes, tables, amcheck_problems = pgcheck.amcheck(cluster.bin, store)

    answers = prober.answers
    bad_status = {
        (name, kind, status): count
        for (name, kind, status), count in answers.items()
        if kind != "ready" and not (200 <= status < 300 or status == 503)
    }
    if lost or duplicated or damaged:
        failures.append(f"{lost} points lost, {duplicated} stored twice, {damaged} with a wrong value")
    if hidden:
        failures.append(f"the database holds {hidden} points more than the API returns (a batch stored twice)")
    if bad_status:
        failures.append(f"answers other than 2xx and 503 (0: none): {bad_status}")
    if prober.without_retry_after:
        failures.append(f"503 without Retry-After: {dict(prober.without_retry_after)}")
    for kind in ("write", "read"):
        if not any(name == "down" and k == kind and s == 503 for (name, k, s) in answers):
            failures.append(f"no {kind} was refused with 503 while PostgreSQL was down")
        if not 200 <= prober.last.get(kind, 0) < 300:
            failures.append(f"the last {kind} probe got {prober.last.get(kind)}")
    if ready != 200:
        failures.append(f"/ready answers {ready} after the restart")
    if not alive:
        failures.append("the cairn server process exited")
    failures += series_problems + amcheck_problems
    errors = [line for line in log.read_text().splitlines() if "ERROR" in line]
    subprocess.run(["rm", "-rf", str(root)], check=False)
    return {
        "trial": number,
        "answers": answers,
        "messages": prober.messages,
        "logged": logged,
        "stored": stored,
        "lost": lost,
        "duplicated": duplicated,
        "damaged": damaged,
        "hidden": hidden,
        "finished": sum(1 for r in reports if r["finished"]),
        "probe_acked": len(prober.acked) * PROBE_BATCH,
        "first_write_after": None if prober.first_write_after is None else prober.first_write_after - restarted,
        "ready": ready,
        "alive": alive,
        "indexes": indexes,
        "tables": tables,
        "integrity_problems": len(series_problems) + len(amcheck_problems),
        "with_retry_after": prober.with_retry_after,
        "without_retry_after": sum(prober.without_retry_after.values()),
        "server_errors": errors,
        "failures": failures,
    }


def answer_cell(answers: collections.Counter, name: str, kind: str) -> str:
    counts = sorted((status, count) for (n, k, status), count in answers.items() if n == name and k == kind)
    return ", ".join(f"{status or 'no answer'} ×{count}" for status, count in counts) or "—"


def print_trial(result: dict, options: argparse.Namespace) -> None:
    print(f"\n## trial {result['trial']}\n", file=sys.stderr)
    print("| phase | write (metric batch) | read (run) | /ready |", file=sys.stderr)
    print("|---|---|---|---|", file=sys.stderr)
    for name, label in (("before", "before"), ("down", f"PostgreSQL down ({options.down:g} s)"), ("after", "after")):
        cells = [answer_cell(result["answers"], name, kind) for kind in ("write", "read", "ready")]
        print(f"| {label} | {' | '.join(cells)} |", file=sys.stderr)
    for (kind, status), message in sorted(result["messages"].items()):
        print(f"  {kind} {status}: {message}", file=sys.stderr)
    first = result["first_write_after"]
    print(
        f"  {result['logged']:,} points logged by {options.clients} SDK clients, {result['stored']:,} stored; "
        f"lost {result['lost']}, duplicated {result['duplicated']}, damaged {result['damaged']}, "
        f"hidden copies {result['hidden']}; finish() true {result['finished']}/{options.clients}; "
        f"first probe write acknowledged {first:.2f} s after PostgreSQL was back; "
        if first is not None
        else "no probe write acknowledged after the restart; ",
        end="",
        file=sys.stderr,
    )
    print(
        f"/ready {result['ready']}; amcheck {result['indexes']} indexes, {result['tables']} tables; "
        f"{len(result['server_errors'])} ERROR lines in the server log",
        file=sys.stderr,
    )
    for line in result["server_errors"][:3]:
        print(f"  server log: {line[:300]}", file=sys.stderr)
    for failure in result["failures"]:
        print(f"  FAILED: {failure}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8, help="SDK training scripts per trial")
    parser.add_argument("--down", type=float, default=5.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--before", type=float, default=2.0, help="seconds of ingest before the stop")
    parser.add_argument("--after", type=float, default=3.0, help="seconds of ingest after the restart")
    parser.add_argument("--pause", type=float, default=0.01, help="seconds between a client's steps")
    parser.add_argument(
        "--stop-mode",
        choices=("smart", "fast", "immediate"),
        default="fast",
        help="`pg_ctl stop -m`: fast rolls back open transactions; immediate is a crash, recovered at start",
    )
    options = parser.parse_args()
    options.binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "release" / "cairn"))
    cluster = pg_cluster.shared()
    results = []
    for number in range(1, options.trials + 1):
        result = trial(options, cluster, number)
        results.append(result)
        print_trial(result, options)

    def total(kind: str, name: str, status: int) -> int:
        return sum(r["answers"][(name, kind, status)] for r in results)

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(
        f"\n# PostgreSQL restarted during ingest ({options.trials} trials × {options.clients} SDK clients, "
        f"{options.down:g} s down, `pg_ctl stop -m {options.stop_mode}`)\n"
    )
    print(f"- commit {commit.stdout.strip()}; binary {options.binary}; {os.cpu_count()} cores\n")
    print("| measure | total over all trials |")
    print("|---|---:|")
    print(f"| points logged by the SDK clients | {sum(r['logged'] for r in results):,} |")
    print(
        f"| points missing / stored twice / wrong value | "
        f"{sum(r['lost'] for r in results)} / {sum(r['duplicated'] for r in results)} / "
        f"{sum(r['damaged'] for r in results)} |"
    )
    print(f"| hidden second copies in the database | {sum(r['hidden'] for r in results)} |")
    print(
        f"| `finish()` delivered everything | {sum(r['finished'] for r in results)} of "
        f"{options.trials * options.clients} |"
    )
    for kind in ("write", "read"):
        down = sum(c for r in results for (n, k, _), c in r["answers"].items() if n == "down" and k == kind)
        refused = sum(r["with_retry_after"][("down", kind)] for r in results)
        print(f"| probe {kind}s while down: 503 with Retry-After | {refused} of {down} |")
    down = sum(c for r in results for (n, k, _), c in r["answers"].items() if n == "down" and k == "ready")
    print(f"| `/ready` while down: 503 | {total('ready', 'down', 503)} of {down} |")
    other = sum(
        c for r in results for (_, k, s), c in r["answers"].items() if k != "ready" and not (200 <= s < 300 or s == 503)
    )
    print(f"| probe answers other than 2xx and 503 (500s, dropped connections) | {other} |")
    print(f"| 503 without Retry-After | {sum(r['without_retry_after'] for r in results)} |")
    firsts = [r["first_write_after"] for r in results if r["first_write_after"] is not None]
    if firsts:
        print(f"| first probe write acknowledged after PostgreSQL was back (s, max) | {max(firsts):.2f} |")
    print(
        f"| `/ready` 200 after the restart, same server process | "
        f"{sum(1 for r in results if r['ready'] == 200 and r['alive'])} of {options.trials} |"
    )
    clean = sum(1 for r in results if not r["integrity_problems"])
    print(f"| amcheck (every B-tree index, every table) and series checks clean | {clean} of {options.trials} |")
    print(f"| trials passed | {sum(1 for r in results if not r['failures'])} of {options.trials} |")
    sys.exit(1 if any(r["failures"] for r in results) else 0)


if __name__ == "__main__":
    main()
