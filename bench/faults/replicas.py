"""Fault test: kill -9 of one of two Cairn replicas sharing a PostgreSQL database, during
many-client ingest.

Each trial starts two `cairn server --store URL` processes, A and B, on a fresh database of a
throwaway PostgreSQL cluster (`tests/pg_cluster.py`). CLIENTS threads each create a run
(`PUT /api/v1/runs/{id}`) and log batches of BATCH points to it through the native ingest route,
each batch with its own Idempotency-Key; even-numbered clients talk to A, odd-numbered ones to B.
After a random 1–3 s A is killed with SIGKILL mid-ingest. Each of A's clients then does what a
load balancer in front of the replicas does: it sends the request whose answer never came to B,
with the same key, and carries on with B. After `--down` seconds A is started again on the same
database, and A's clients go back to it; ingest goes on for `--after` seconds more.

A second delivery of a batch carries the same steps and values but other timestamps, so that a
batch stored twice shows as two points at one step instead of merging with the first copy as an
exact duplicate. The trial then checks every run through the replica its client did not use:
the stored points are exactly the acknowledged batches (every acknowledged point present, none
stored twice, every value as sent); that every answer was a 2xx, or a 503 or 429 (retried); and,
with both servers stopped, the database: the points its segments and chunks hold equal what the
API returns (no hidden copy), the metric engine's invariants (`pgcheck.series_check`), and
`amcheck` over every B-tree index and every table. Prints a line per trial and a summary; exits
non-zero if any trial lost, duplicated or damaged anything, or any check failed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pgcheck
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
import pg_cluster  # noqa: E402

BATCH = 100
T0 = 1_780_000_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    """One `cairn server` on the shared database, which the trial may kill and start again."""

    def __init__(self, name: str, binary: str, store: str, root: Path):
        self.name, self.binary, self.store = name, binary, store
        self.data = root / name
        self.log = root / f"{name}.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.up = threading.Event()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "server", "--host", "127.0.0.1", "--port", str(self.port)]
                + ["--data", str(self.data), "--store", self.store, "--log", "warn"],
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        for _ in range(1200):
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/ready", timeout=1).ok:
                    self.up.set()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"replica {self.name} did not become ready")

    def kill(self) -> None:
        self.up.clear()
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)


def batch_body(start_step: int, run_index: int, delivery: int) -> dict:
    steps = list(range(start_step, start_step + BATCH))
    return {
        "metrics": [
            {
                "key": "loss",
                "steps": steps,
                # Each delivery of a batch has its own timestamps: see the module's doc.
                "timestamps": [T0 + 10 * s + delivery for s in steps],
                "values": [run_index + 1.0 / (s + 1) for s in steps],
            }
        ]
    }


class Client:
    """One training client: its run, its batches, and the replica it sends them to."""

    def __init__(self, index: int, home: Replica, other: Replica):
        self.index, self.home, self.other = index, home, other
        self.target = home
        self.run_id = uuid.uuid4().hex
        self.session = requests.Session()
        self.acked: list[int] = []  # start steps of acknowledged batches
        self.in_flight: int | None = None  # a batch whose delivery was given up
        self.at_kill: int | None = None  # the batch unanswered when the replica died
        self.failover_replays = 0  # of those, how many the other replica answered as a replay
        self.back_home = 0  # batches the home replica acknowledged after its restart
        self.refused: dict[int, int] = {}  # status → count of 503/429 answers
        self.errors: list[str] = []  # answers other than 2xx, 503 and 429; no replica reachable

    def deliver(self, method: str, path: str, make_body, key: str | None, step: int | None) -> dict | None:
        """Sends one request until it is acknowledged: retried on 503/429 after Retry-After, and
        on the other replica when this one dies. None when it was given up."""
        headers = {"Idempotency-Key": key} if key else {}
        for delivery in range(100):
            try:
                answer = self.session.request(
                    method, self.target.url + path, json=make_body(delivery), headers=headers, timeout=60
                )
            except requests.RequestException as error:
                if self.target is self.home and not self.home.up.is_set():
                    # The home replica died with this request unanswered: fail over, same key.
                    self.target = self.other
                    self.session = requests.Session()
                    if step is not None:
                        self.at_kill = step
                    continue
                self.errors.append(f"{self.target.name}: {error}")
                return None
            if answer.ok:
                body = answer.json()
                if step is not None and step == self.at_kill and body.get("replay"):
                    self.failover_replays += 1
                return body
            if answer.status_code in (429, 503):
                self.refused[answer.status_code] = self.refused.get(answer.status_code, 0) + 1
                time.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            self.errors.append(f"{self.target.name} {answer.status_code}: {answer.text[:200]}")
            return None
        self.errors.append(f"{key}: still refused after 100 deliveries")
        return None

    def loop(self, stop: threading.Event) -> None:
        created = self.deliver(
            "PUT", f"/api/v1/runs/{self.run_id}", lambda _: {"experiment_name": "replicas"}, None, None
        )
        if created is None:
            return
        while not stop.is_set():
            if self.target is not self.home and self.home.up.is_set():
                # The load balancer puts the restarted replica back into rotation.
                self.target = self.home
                self.session = requests.Session()
            start_step = self.next_step()
            self.in_flight = start_step
            answer = self.deliver(
                "POST",
                f"/api/v1/runs/{self.run_id}/metrics",
                lambda delivery, s=start_step: batch_body(s, self.index, delivery),
                f"{self.run_id}:{start_step}",
                start_step,
            )
            if answer is None:
                return  # given up: the batch stays in flight
            self.acked.append(start_step)
            self.in_flight = None
            if self.at_kill is not None and self.target is self.home:
                self.back_home += 1

    def next_step(self) -> int:
        return (self.acked[-1] + BATCH) if self.acked else 0


def check_run(client: Client, reader: Replica) -> tuple[int, int, int, int]:
    """(points stored, missing, stored twice, wrong value) of one client's run."""
    acked = {s for start in client.acked for s in range(start, start + BATCH)}
    allowed = set(acked)
    if client.in_flight is not None:
        allowed |= set(range(client.in_flight, client.in_flight + BATCH))
    got = requests.get(f"{reader.url}/api/v1/runs/{client.run_id}/metrics/loss/points", timeout=120)
    if got.status_code == 404 and not acked:
        return 0, 0, 0, 0
    got.raise_for_status()
    body = got.json()
    steps = body["steps"]
    seen = set(steps)
    damaged = sum(
        1
        for step, value in zip(steps, body["values"], strict=True)
        if step not in allowed or value != client.index + 1.0 / (step + 1)
    )
    return len(steps), len(acked - seen), len(steps) - len(seen), damaged


def trial(options: argparse.Namespace, cluster: pg_cluster.Cluster, number: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cairn-replicas-"))
    store = cluster.fresh_database()
    pgcheck.commit_durably(cluster.bin, store)
    a = Replica("A", options.binary, store, root)
    b = Replica("B", options.binary, store, root)
    stop = threading.Event()
    try:
        a.start()  # A creates the schema; B then opens it as it is
        b.start()
        clients = [Client(i, a, b) if i % 2 == 0 else Client(i, b, a) for i in range(options.clients)]
        threads = [threading.Thread(target=c.loop, args=(stop,), daemon=True) for c in clients]
        for t in threads:
            t.start()
        time.sleep(random.uniform(1.0, 3.0))
        a.kill()
        acked_at_kill = sum(len(c.acked) for c in clients) * BATCH
        time.sleep(options.down)
        a.start()
        time.sleep(options.after)
        stop.set()
        for t in threads:
            t.join()

        lost = duplicated = damaged = 0
        api_counts: dict[tuple[str, str], int] = {}
        for c in clients:
            counts = check_run(c, c.other)
            api_counts[(c.run_id, "loss")] = counts[0]
            lost += counts[1]
            duplicated += counts[2]
            damaged += counts[3]
    finally:
        stop.set()
        a.stop()
        b.stop()
    held, series_problems = pgcheck.series_check(cluster.bin, store)
    hidden = sum(held.get(key, 0) - count for key, count in api_counts.items())
    indexes, tables, amcheck_problems = pgcheck.amcheck(cluster.bin, store)
    errors = [e for c in clients for e in c.errors]
    log_errors = [line for r in (a, b) for line in r.log.read_text().splitlines() if "ERROR" in line]
    subprocess.run(["rm", "-rf", str(root)], check=False)
    return {
        "trial": number,
        "acked_points": sum(len(c.acked) for c in clients) * BATCH,
        "acked_at_kill": acked_at_kill,
        "failed_over": sum(1 for c in clients if c.at_kill is not None),
        "failover_replays": sum(c.failover_replays for c in clients),
        "back_home": sum(c.back_home for c in clients),
        "refused": sum(n for c in clients for n in c.refused.values()),
        "lost": lost,
        "duplicated": duplicated,
        "damaged": damaged,
        "hidden": hidden,
        "errors": errors,
        "log_errors": log_errors,
        "indexes": indexes,
        "tables": tables,
        "problems": series_problems + amcheck_problems,
    }


def failed(result: dict) -> bool:
    return bool(
        result["lost"]
        or result["duplicated"]
        or result["damaged"]
        or result["hidden"]
        or result["errors"]
        or result["problems"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--down", type=float, default=1.0, help="seconds before the killed replica is started again")
    parser.add_argument("--after", type=float, default=1.0, help="seconds of ingest after it is back")
    options = parser.parse_args()
    options.binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "release" / "cairn"))
    cluster = pg_cluster.shared()
    results = []
    for number in range(1, options.trials + 1):
        result = trial(options, cluster, number)
        results.append(result)
        print(
            f"  trial {number}: {result['acked_points']:,} points acknowledged "
            f"({result['acked_at_kill']:,} before the kill), {result['failed_over']} batches failed over to B "
            f"({result['failover_replays']} of them replays of a batch A had stored), "
            f"{result['back_home']} batches through A after its restart, "
            f"{result['refused']} answers 503/429; lost {result['lost']}, duplicated {result['duplicated']}, "
            f"damaged {result['damaged']}, hidden copies {result['hidden']}; "
            f"amcheck {result['indexes']} indexes / {result['tables']} tables, "
            f"{len(result['problems'])} integrity problems; {len(result['log_errors'])} ERROR log lines",
            file=sys.stderr,
        )
        for line in result["errors"][:5] + result["problems"][:5] + result["log_errors"][:3]:
            print(f"    {line[:300]}", file=sys.stderr)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(
        f"\n# kill -9 of one of two replicas on PostgreSQL during ingest "
        f"({options.trials} trials × {options.clients} clients, {BATCH}-point batches)\n"
    )
    print(f"- commit {commit.stdout.strip()}; binary {options.binary}; {os.cpu_count()} cores\n")
    print("| measure | total over all trials |")
    print("|---|---:|")
    print(f"| points acknowledged | {sum(r['acked_points'] for r in results):,} |")
    print(f"| of them before the kill | {sum(r['acked_at_kill'] for r in results):,} |")
    print(f"| batches in flight at the kill, re-sent to B | {sum(r['failed_over'] for r in results)} |")
    print(f"| of them already stored by A (answered as replays) | {sum(r['failover_replays'] for r in results)} |")
    print(f"| batches acknowledged by A after its restart | {sum(r['back_home'] for r in results):,} |")
    print(f"| acknowledged points missing | {sum(r['lost'] for r in results)} |")
    print(f"| points stored twice (API) | {sum(r['duplicated'] for r in results)} |")
    print(f"| points stored twice (database: segment and chunk counts) | {sum(r['hidden'] for r in results)} |")
    print(f"| points with a wrong value | {sum(r['damaged'] for r in results)} |")
    errors = sum(len(r["errors"]) for r in results)
    print(f"| answers other than 2xx, 503 and 429 (a 500, say), or no replica reachable | {errors} |")
    clean = sum(1 for r in results if not r["problems"])
    print(f"| amcheck (every B-tree index, every table) and series checks clean | {clean} of {len(results)} |")
    print(f"| trials passed | {sum(1 for r in results if not failed(r))} of {len(results)} |")
    sys.exit(1 if any(failed(r) for r in results) else 0)


if __name__ == "__main__":
    main()
