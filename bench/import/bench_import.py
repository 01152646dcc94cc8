"""`cairn import` throughput beside the peer's own loading of the same data.

`--source tensorboard` (default): writes (once) a log dir with the tensorboard package's
EventFileWriter: RUNS runs, each event holding KEYS `simple_value` scalars (the PyTorch writer's
shape). Then, REPS times each: imports it into a fresh release server (fresh data folder) and
times the command, checking the server holds every point; and loads it with TensorBoard's
EventAccumulator (every scalar kept), timing Reload() over all runs.

`--source mlflow`: writes (once) an MLflow file store with the mlflow client (RUNS runs, KEYS
metric keys, 10 params each; `log_batch` of 1,000 points a call). Then times `cairn import
mlflow STORE --no-artifacts` into a fresh release server beside `mlflow migrate-filestore`,
MLflow's own move of a file store into its SQLite backend (a fresh database each time), and
checks both hold every point.

Prints medians as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "bench" / ".work" / "import"
RUNS = 4
KEYS = 10


def write_logdir(path: Path, points: int) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    steps = points // (RUNS * KEYS)
    tmp = path.with_suffix(".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.time()
    for run in range(RUNS):
        writer = EventFileWriter(str(tmp / f"run-{run}"), max_queue_size=10_000)
        for step in range(steps):
            values = [Summary.Value(tag=f"train/metric_{k}", simple_value=1.0 / (1 + step + k)) for k in range(KEYS)]
            writer.add_event(Event(wall_time=1.78e9 + step * 0.1, step=step, summary=Summary(value=values)))
        writer.close()
        print(f"  wrote run {run + 1}/{RUNS} ({time.time() - t0:.0f} s)", file=sys.stderr)
    tmp.rename(path)


def write_mlruns(path: Path, points: int) -> None:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    tmp = path.with_suffix(".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    client = MlflowClient(tmp.as_uri())
    experiment = client.create_experiment("bench")
    steps = points // (RUNS * KEYS)
    t0 = time.time()
    for run_index in range(RUNS):
        run = client.create_run(experiment, run_name=f"run-{run_index}")
        params = [Param(f"param_{i}", str(i * run_index)) for i in range(10)]
        client.log_batch(run.info.run_id, params=params)
        batch: list = []
        for step in range(steps):
            for k in range(KEYS):
                batch.append(Metric(f"train/metric_{k}", 1.0 / (1 + step + k), 1_780_000_000_000 + step, step))
            if len(batch) >= 1000:
                client.log_batch(run.info.run_id, metrics=batch)
                batch = []
        if batch:
            client.log_batch(run.info.run_id, metrics=batch)
        client.set_terminated(run.info.run_id)
        print(f"  wrote run {run_index + 1}/{RUNS} ({time.time() - t0:.0f} s)", file=sys.stderr)
    tmp.rename(path)


def mlflow_migrate(store: Path, points: int) -> float:
    target = Path(tempfile.mkdtemp(prefix="mlflow-migrate-bench-"))
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    mlflow = str(Path(sys.executable).parent / "mlflow")
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [mlflow, "migrate-filestore", "--source", str(store), "--target", f"sqlite:///{target}/mlflow.db"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        elapsed = time.perf_counter() - t0
        import sqlite3

        with sqlite3.connect(target / "mlflow.db") as db:
            (count,) = db.execute("select count(*) from metrics").fetchone()
        assert count == points, (count, points)
        return elapsed
    finally:
        shutil.rmtree(target, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def import_once(binary: str, source: str, path: Path, points: int) -> float:
    data = Path(tempfile.mkdtemp(prefix="cairn-import-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [binary, "server", "--port", str(port), "--data", str(data), "--log", "warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        t0 = time.perf_counter()
        if source == "tensorboard":
            command = ["import", "tensorboard", str(path), "--experiment", "bench"]
            expect = f"imported {points} points"
        else:
            command = ["import", "mlflow", str(path), "--no-artifacts"]
            expect = f"{points} metric points"
        done = subprocess.run(
            [binary, *command, "--server", url],
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - t0
        assert expect in done.stdout, done.stdout
        return elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def tensorboard_load(logdir: Path, points: int) -> float:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    t0 = time.perf_counter()
    loaded = 0
    for run in sorted(p for p in logdir.iterdir() if p.is_dir()):
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
        acc.Reload()
        loaded += sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
    elapsed = time.perf_counter() - t0
    assert loaded == points, (loaded, points)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["tensorboard", "mlflow"], default="tensorboard")
    parser.add_argument("--quick", action="store_true", help="1,000,000 points instead of 10,000,000")
    parser.add_argument("--reps", type=int, default=None, help="repetitions of each side (default 3)")
    parser.add_argument("--tb-reps", type=int, default=None, help="repetitions of the peer's side (default: --reps)")
    parser.add_argument("--skip-tensorboard", "--skip-peer", action="store_true", help="time only the import")
    args = parser.parse_args()
    points = 1_000_000 if args.quick else 10_000_000
    reps = args.reps or 3
    binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "release" / "cairn"))
    tensorboard = args.source == "tensorboard"
    data = WORK / (f"tb-{points}" if tensorboard else f"mlruns-{points}")
    if not data.exists():
        print(f"== writing {data} ({points:,} points) with the {args.source} package", file=sys.stderr)
        WORK.mkdir(parents=True, exist_ok=True)
        (write_logdir if tensorboard else write_mlruns)(data, points)
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())

    imports = []
    for rep in range(reps):
        imports.append(import_once(binary, args.source, data, points))
        print(f"  import {rep + 1}/{reps}: {imports[-1]:.2f} s", file=sys.stderr)
    loads = []
    if not args.skip_tensorboard:
        peer_reps = args.tb_reps or reps
        for rep in range(peer_reps):
            loads.append(tensorboard_load(data, points) if tensorboard else mlflow_migrate(data, points))
            print(f"  peer {rep + 1}/{peer_reps}: {loads[-1]:.2f} s", file=sys.stderr)

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    peer = "TensorBoard load" if tensorboard else "mlflow migrate-filestore"
    peer_note = f", {peer} {len(loads)}" if loads and len(loads) != reps else ""
    print(f"\n# Import benchmark: {args.source} ({points:,} points, median of {reps}{peer_note})\n")
    print(f"- commit {commit.stdout.strip()}; {os.cpu_count()} cores ({platform.processor() or platform.machine()}),")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    steps = points // (RUNS * KEYS)
    if tensorboard:
        print(
            f"- log dir: {RUNS} runs × {KEYS} scalars per event × {steps:,} steps, {size / 1e6:.0f} MB of event files"
        )
        print("- Cairn: `cairn import tensorboard` into a release server on the same machine (fresh data folder),")
        print("  timed from start to exit, every point checked in its summary line")
        print("- TensorBoard: EventAccumulator(run, size_guidance={'scalars': 0}).Reload() over every run\n")
    else:
        print(f"- file store: {RUNS} runs × {KEYS} metric keys × {steps:,} steps, 10 params each, {size / 1e6:.0f} MB")
        print("- Cairn: `cairn import mlflow STORE --no-artifacts` into a release server on the same machine")
        print("  (fresh data folder), timed from start to exit, every point checked in its summary line")
        print("- MLflow: `mlflow migrate-filestore` into a fresh SQLite database, every point counted\n")
    print(f"| measure | Cairn import | {peer} |")
    print("|---|---:|---:|")
    imp = statistics.median(imports)
    load = statistics.median(loads) if loads else None
    print(f"| wall time (s) | {imp:.2f} | {f'{load:.2f}' if load else '—'} |")
    rate_peer = f"{points / load:,.0f}" if load else "—"
    print(f"| points/s | {points / imp:,.0f} | {rate_peer} |")


if __name__ == "__main__":
    main()
