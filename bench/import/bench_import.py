"""`cairn import tensorboard` throughput beside TensorBoard's own loading of the same log dir.

Writes (once) a log dir with the tensorboard package's EventFileWriter: RUNS runs, each event
holding KEYS `simple_value` scalars (the PyTorch writer's shape). Then, REPS times each: imports
it into a fresh release server (fresh data folder) and times the command, checking the server
holds every point; and loads it with TensorBoard's EventAccumulator (every scalar kept), timing
Reload() over all runs. Prints medians as a Markdown table.
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def import_once(binary: str, logdir: Path, points: int) -> float:
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
        done = subprocess.run(
            [binary, "import", "tensorboard", str(logdir), "--server", url, "--experiment", "bench"],
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - t0
        assert f"imported {points} points" in done.stdout, done.stdout
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
    parser.add_argument("--quick", action="store_true", help="1,000,000 points instead of 10,000,000")
    parser.add_argument("--reps", type=int, default=None, help="repetitions of each side (default 3, quick 3)")
    parser.add_argument("--tb-reps", type=int, default=None, help="repetitions of TensorBoard's load (default: --reps)")
    parser.add_argument("--skip-tensorboard", action="store_true", help="time only the import")
    args = parser.parse_args()
    points = 1_000_000 if args.quick else 10_000_000
    reps = args.reps or 3
    binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "release" / "cairn"))
    logdir = WORK / f"tb-{points}"
    if not logdir.exists():
        print(f"== writing {logdir} ({points:,} points) with tensorboard's EventFileWriter", file=sys.stderr)
        WORK.mkdir(parents=True, exist_ok=True)
        write_logdir(logdir, points)
    size = sum(f.stat().st_size for f in logdir.rglob("*") if f.is_file())

    imports = []
    for rep in range(reps):
        imports.append(import_once(binary, logdir, points))
        print(f"  import {rep + 1}/{reps}: {imports[-1]:.2f} s", file=sys.stderr)
    loads = []
    if not args.skip_tensorboard:
        tb_reps = args.tb_reps or reps
        for rep in range(tb_reps):
            loads.append(tensorboard_load(logdir, points))
            print(f"  tensorboard load {rep + 1}/{tb_reps}: {loads[-1]:.2f} s", file=sys.stderr)

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    tb_note = f", TensorBoard's load {len(loads)}" if loads and len(loads) != reps else ""
    print(f"\n# Import benchmark ({points:,} points, median of {reps}{tb_note})\n")
    print(f"- commit {commit.stdout.strip()}; {os.cpu_count()} cores ({platform.processor() or platform.machine()}),")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    steps = points // (RUNS * KEYS)
    print(f"- log dir: {RUNS} runs × {KEYS} scalars per event × {steps:,} steps, {size / 1e6:.0f} MB of event files")
    print("- Cairn: `cairn import tensorboard` into a release server on the same machine (fresh data folder),")
    print("  timed from start to exit, every point checked in its summary line")
    print("- TensorBoard: EventAccumulator(run, size_guidance={'scalars': 0}).Reload() over every run\n")
    print("| measure | Cairn import | TensorBoard load |")
    print("|---|---:|---:|")
    imp = statistics.median(imports)
    load = statistics.median(loads) if loads else None
    print(f"| wall time (s) | {imp:.2f} | {f'{load:.2f}' if load else '—'} |")
    rate_tb = f"{points / load:,.0f}" if load else "—"
    print(f"| points/s | {points / imp:,.0f} | {rate_tb} |")


if __name__ == "__main__":
    main()
