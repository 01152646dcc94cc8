"""Fault test: kill -9 of the embedded server during many-client ingest.

Each trial starts `cairn server` on a fresh data folder; CLIENTS threads each create a run
(`PUT /api/v1/runs/{id}`) and log batches of BATCH points to it through the native ingest route,
each batch with its own Idempotency-Key, recording which batches the server acknowledged. After
a random 1–3 s the server is killed with SIGKILL mid-ingest and started again on the same folder.
Each client then sends its one batch that was in flight again, with the same key (the
SDK's retry), and the trial checks, for every run, that the stored points are exactly the
batches sent: every acknowledged point present, none duplicated, values intact; then stops the
server and runs SQLite's `PRAGMA integrity_check` on the database. Prints a table per trial and
a summary; exits non-zero if any trial lost, duplicated or damaged anything.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
BATCH = 100
T0 = 1_780_000_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary: str, data: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [binary, "server", "--port", str(port), "--data", str(data), "--log", "warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("server did not become ready")


def batch_body(start_step: int, run_index: int) -> dict:
    steps = list(range(start_step, start_step + BATCH))
    return {
        "metrics": [
            {
                "key": "loss",
                "steps": steps,
                "timestamps": [T0 + s for s in steps],
                "values": [run_index + 1.0 / (s + 1) for s in steps],
            }
        ]
    }


class Client:
    def __init__(self, url: str, index: int):
        self.url = url
        self.index = index
        self.run_id = uuid.uuid4().hex
        self.session = requests.Session()
        self.acked: list[int] = []  # start steps of acknowledged batches
        self.in_flight: int | None = None  # start step of the batch whose answer never came
        self.next_step = 0

    def key(self, start_step: int) -> str:
        return f"{self.run_id}:{start_step}"

    def send(self, start_step: int) -> None:
        response = self.session.post(
            f"{self.url}/api/v1/runs/{self.run_id}/metrics",
            json=batch_body(start_step, self.index),
            headers={"Idempotency-Key": self.key(start_step)},
            timeout=30,
        )
        response.raise_for_status()

    def loop(self, stop: threading.Event) -> None:
        try:
            self.session.put(
                f"{self.url}/api/v1/runs/{self.run_id}", json={"experiment_name": "kill9"}, timeout=30
            ).raise_for_status()
        except requests.RequestException:
            return
        while not stop.is_set():
            start_step = self.next_step
            self.in_flight = start_step
            try:
                self.send(start_step)
            except requests.RequestException:
                return  # the server died; the batch stays in flight
            self.acked.append(start_step)
            self.in_flight = None
            self.next_step += BATCH


def trial(binary: str, clients: int, number: int) -> dict:
    data = Path(tempfile.mkdtemp(prefix="cairn-kill9-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(binary, data, port)
    stop = threading.Event()
    workers = [Client(url, i) for i in range(clients)]
    threads = [threading.Thread(target=w.loop, args=(stop,)) for w in workers]
    for t in threads:
        t.start()
    time.sleep(random.uniform(1.0, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    acked = sum(len(w.acked) for w in workers) * BATCH
    in_flight = sum(1 for w in workers if w.in_flight is not None)

    proc = start(binary, data, port)
    lost = duplicated = damaged = 0
    try:
        for w in workers:
            if not w.acked and w.in_flight is None:
                continue
            if w.in_flight is not None:
                w.session = requests.Session()
                try:
                    w.send(w.in_flight)  # the client's retry, same Idempotency-Key
                except requests.HTTPError as error:
                    # A run whose creation never committed has nothing to retry into.
                    if error.response is None or error.response.status_code != 404:
                        raise
                else:
                    w.acked.append(w.in_flight)
            expected = {s for start_step in w.acked for s in range(start_step, start_step + BATCH)}
            got = requests.get(f"{url}/api/v1/runs/{w.run_id}/metrics/loss/points", timeout=60)
            if got.status_code == 404 and not expected:
                continue
            got.raise_for_status()
            body = got.json()
            steps = body["steps"]
            seen = set(steps)
            lost += len(expected - seen)
            duplicated += len(steps) - len(seen)
            for step, value in zip(steps, body["values"], strict=True):
                if value != w.index + 1.0 / (step + 1):
                    damaged += 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    with sqlite3.connect(data / "cairn.db") as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    subprocess.run(["rm", "-rf", str(data)], check=False)
    return {
        "trial": number,
        "acked_points": acked,
        "in_flight_batches": in_flight,
        "lost": lost,
        "duplicated": duplicated,
        "damaged": damaged,
        "integrity": integrity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "release" / "cairn"))
    results = []
    for number in range(1, args.trials + 1):
        result = trial(binary, args.clients, number)
        results.append(result)
        print(
            f"  trial {number}: {result['acked_points']:,} points acknowledged, "
            f"{result['in_flight_batches']} batches in flight at the kill, lost {result['lost']}, "
            f"duplicated {result['duplicated']}, damaged {result['damaged']}, integrity {result['integrity']}",
            file=sys.stderr,
        )
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"\n# kill -9 during ingest ({args.trials} trials × {args.clients} clients, {BATCH}-point batches)\n")
    print(f"- commit {commit.stdout.strip()}; binary {binary}; {os.cpu_count()} cores\n")
    print("| measure | total over all trials |")
    print("|---|---:|")
    print(f"| points acknowledged before the kill | {sum(r['acked_points'] for r in results):,} |")
    print(f"| batches in flight at the kill (re-sent after restart) | {sum(r['in_flight_batches'] for r in results)} |")
    print(f"| acknowledged points missing | {sum(r['lost'] for r in results)} |")
    print(f"| points stored twice | {sum(r['duplicated'] for r in results)} |")
    print(f"| points with a wrong value | {sum(r['damaged'] for r in results)} |")
    ok = sum(1 for r in results if r["integrity"] == "ok")
    print(f"| `PRAGMA integrity_check` ok | {ok} of {len(results)} |")
    bad = any(r["lost"] or r["duplicated"] or r["damaged"] or r["integrity"] != "ok" for r in results)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
