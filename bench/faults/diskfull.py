"""Fault test: the disk under the embedded store fills up during ingest, then space comes back.

The server's data folder lives on a small tmpfs of its own (`mount -t tmpfs -o size=…`; needs
root). Clients ingest metric batches (native ingest, each with an Idempotency-Key) and upload
small files, recording which writes the server acknowledged. A filler file then takes every free
byte of the filesystem while the clients go on; each refused write is recorded with its status
and message. Then the filler is deleted and the clients go on again, on the same server process
(no restart). The test passes when:
- no answer was a 500 or a dropped connection: a write refused for want of space is a 503 with
  Retry-After (507 would do for artifact bytes) that says the disk is full;
- the server answered `/health` throughout;
- after space came back, writes succeed again without a restart;
- every acknowledged point and file is there, exactly once, byte for byte; and SQLite's
  `PRAGMA integrity_check` on the database (server stopped) answers ok.
Prints what happened and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
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

T0 = 1_780_000_000_000
BATCH = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client(threading.Thread):
    """One training script: a run, metric batches, and a small file every few batches."""

    def __init__(self, url: str, index: int, stop: threading.Event, phase: list[str]):
        super().__init__(daemon=True)
        self.url, self.index, self.stop, self.phase = url, index, stop, phase
        self.run_id = uuid.uuid4().hex
        self.acked_steps: list[int] = []
        self.acked_files: dict[str, bytes] = {}
        self.answers: collections.Counter[tuple[str, int]] = collections.Counter()
        self.messages: dict[int, str] = {}
        self.no_retry_after = 0
        self.session = requests.Session()

    def record(self, response: requests.Response | None) -> bool:
        status = response.status_code if response is not None else 0
        self.answers[(self.phase[0], status)] += 1
        if response is not None and not response.ok and status not in self.messages:
            self.messages[status] = response.text[:200]
        if status == 503 and "Retry-After" not in response.headers:
            self.no_retry_after += 1
        return response is not None and response.ok

    def call(self, method: str, path: str, **kwargs) -> requests.Response | None:
        try:
            return self.session.request(method, self.url + path, timeout=30, **kwargs)
        except requests.RequestException:
            return None

    def run(self) -> None:
        made = self.call("PUT", f"/api/v1/runs/{self.run_id}", json={"experiment_name": "disk-full"})
        if not self.record(made):
            return
        batch = 0
        while not self.stop.is_set():
            steps = list(range(batch * BATCH, (batch + 1) * BATCH))
            body = {"metrics": [{"key": "loss", "steps": steps, "values": [float(s) for s in steps], "timestamp": T0}]}
            key = f"{self.run_id}-{batch}"
            # Retried with the same key until acknowledged or refused with a clear answer.
            answer = self.call(
                "POST", f"/api/v1/runs/{self.run_id}/metrics", json=body, headers={"Idempotency-Key": key}
            )
            if self.record(answer):
                self.acked_steps.extend(steps)
                batch += 1
            if batch % 5 == 0:
                name = f"f-{batch}-{uuid.uuid4().hex[:6]}.bin"
                data = os.urandom(64 * 1024)
                if self.record(self.call("PUT", f"/api/v1/runs/{self.run_id}/files/{name}", data=data)):
                    self.acked_files[name] = data
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=96, help="size of the tmpfs holding the data folder")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("disk-full test: needs root (it mounts a tmpfs); skipped")
        sys.exit(2)

    root = Path(tempfile.mkdtemp(prefix="cairn-diskfull-"))
    mount = root / "fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={options.size_mb}m", "tmpfs", str(mount)], check=True)
    failures: list[str] = []
    proc = None
    try:
        data = mount / "data"
        port = free_port()
        log = open(root / "server.log", "w")
        proc = subprocess.Popen(
            [os.environ["CAIRN_BIN"], "server", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)],
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

        phase = ["before"]
        stop = threading.Event()
        clients = [Client(url, i, stop, phase) for i in range(options.clients)]
        for client in clients:
            client.start()
        health: collections.Counter[tuple[str, int]] = collections.Counter()

        def watch(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    health[(phase[0], requests.get(f"{url}/health", timeout=5).status_code)] += 1
                except requests.RequestException:
                    health[(phase[0], 0)] += 1
                time.sleep(0.2)

        watch(options.seconds)
        phase[0] = "full"
        filler = mount / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        print(f"filled the disk: {shutil.disk_usage(mount).free} bytes free")
        watch(options.seconds)
        phase[0] = "after"
        filler.unlink()
        print(f"freed the disk: {shutil.disk_usage(mount).free} bytes free")
        watch(options.seconds)
        stop.set()
        for client in clients:
            client.join(60)

        answers: collections.Counter[tuple[str, int]] = collections.Counter()
        messages: dict[int, str] = {}
        for client in clients:
            answers.update(client.answers)
            messages.update(client.messages)
        print("\nanswers by phase and status:")
        for (name, status), count in sorted(answers.items()):
            print(f"  {name:<7} {status:>3}  {count}")
        for status, message in sorted(messages.items()):
            print(f"  {status}: {message}")
        print("health checks:", dict(health))

        if any(status in (0, 500) or status >= 500 and status not in (503, 507) for (_, status) in answers):
            failures.append("a write got a 5xx other than 503/507, or its connection dropped")
        if not any(name == "full" and status in (503, 507) for (name, status) in answers):
            failures.append("no write was refused while the disk was full (did it fill?)")
        if not any(name == "after" and 200 <= status < 300 for (name, status) in answers):
            failures.append("no write succeeded after space came back")
        if sum(c.no_retry_after for c in clients):
            failures.append("a 503 came without Retry-After")
        if any(status != 200 for (_, status) in health):
            failures.append(f"/health failed: {dict(health)}")

        # Every acknowledged point and file, exactly once.
        for client in clients:
            points = requests.get(f"{url}/api/v1/runs/{client.run_id}/metrics/loss/points", timeout=60).json()
            steps = points.get("steps", [])
            if sorted(steps) != sorted(client.acked_steps) or len(steps) != len(set(steps)):
                failures.append(
                    f"run {client.run_id}: {len(client.acked_steps)} points acknowledged, {len(steps)} stored"
                )
            for name, data in client.acked_files.items():
                got = requests.get(f"{url}/api/v1/runs/{client.run_id}/files/{name}", timeout=60)
                if got.content != data:
                    failures.append(f"run {client.run_id}: file {name} differs ({got.status_code})")
        acked = sum(len(c.acked_steps) for c in clients)
        files = sum(len(c.acked_files) for c in clients)
        print(f"\nchecked {acked} acknowledged points and {files} files in {len(clients)} runs")
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    errors = [line for line in (root / "server.log").read_text().splitlines() if "ERROR" in line]
    if errors:
        print(f"\nserver log: {len(errors)} ERROR lines, the first:")
        for line in errors[:5]:
            print("  " + line[:300])
    database = mount / "data" / "cairn.db"
    if database.exists():
        connection = sqlite3.connect(database)
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        connection.close()
        print(f"integrity_check: {check}")
        if check != "ok":
            failures.append(f"integrity_check: {check}")
    subprocess.run(["umount", str(mount)], check=False)
    shutil.rmtree(root, ignore_errors=True)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nPASSED: clear refusals while full, recovery without a restart, nothing lost or damaged")


if __name__ == "__main__":
    main()
