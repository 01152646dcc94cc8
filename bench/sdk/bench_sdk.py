"""Benchmark of Cairn's Python SDK: what ``run.log()`` costs the training loop, how fast the SDK
gets points to the server end to end, and what two other clients cost in the same loop.

Run it through ``bench/sdk/run`` (it makes the venv, builds the server and puts the SDK on
``PYTHONPATH``); ``bench/sdk/run --help`` lists every flag. See bench/README.md, "Python SDK".

Every measurement runs in a fresh Python process (this file with ``--worker SPEC``), so no
thread or buffer of an earlier trial is still running during the next one. The parent starts one
``cairn server`` with a fresh data folder, runs the trials, checks that every point arrived and
prints the tables (also written to ``bench/.work/sdk/results.md`` and ``results.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORK = REPO / "bench" / ".work" / "sdk"
KEYS = [f"m{i}" for i in range(10)]
POOL = 4096  # distinct pre-built dicts cycled through by the loops (a power of two)

# The bars.
BAR_MEDIAN_US = 10.0
BAR_P99_US = 100.0
BAR_INGEST = 200_000.0


# --------------------------------------------------------------------------------------------
# Worker side: one measurement in a fresh process.
# --------------------------------------------------------------------------------------------


def make_pool() -> list[dict[str, float]]:
    import random

    rng = random.Random(1)
    return [{k: rng.random() for k in KEYS} for _ in range(POOL)]


def make_work(target_us: float) -> tuple[Any, float, int]:
    """A matmul of two n×n float64 matrices (numpy → OpenBLAS, one BLAS thread, the GIL released
    while it runs) with n calibrated to take ``target_us``. Returns (work, measured µs, n)."""
    import numpy as np

    rng = np.random.default_rng(1)

    def timed(n: int) -> tuple[Any, float]:
        a, b = rng.random((n, n)), rng.random((n, n))
        out = np.empty((n, n))

        def work() -> None:
            np.matmul(a, b, out=out)

        for _ in range(20):
            work()
        samples = []
        for _ in range(200):
            t0 = time.perf_counter_ns()
            work()
            samples.append(time.perf_counter_ns() - t0)
        return work, statistics.median(samples) / 1e3

    n = 128
    work, us = timed(n)
    for _ in range(6):
        if abs(us - target_us) <= 0.1 * target_us:
            break
        n = max(8, round(n * (target_us / us) ** (1 / 3)))
        work, us = timed(n)
    return work, us, n


def latency_stats(lat: array) -> dict[str, Any]:
    s = sorted(lat)
    n = len(s)

    def q(p: float) -> float:
        return s[min(n - 1, int(p * n))] / 1e3

    return {
        "calls": n,
        "p50": q(0.50),
        "p90": q(0.90),
        "p99": q(0.99),
        "p999": q(0.999),
        "max": s[-1] / 1e3,
        "mean": sum(s) / n / 1e3,
        "over_100us": sum(1 for x in s if x > 100_000),
        "over_1ms": sum(1 for x in s if x > 1_000_000),
        "total_s": sum(s) / 1e9,
    }


def timer_overhead(n: int = 100_000) -> float:
    """Median of ``pc(); lat[i] = pc() - t0`` with nothing between: the floor of every number."""
    lat = array("q", bytes(8 * n))
    pc = time.perf_counter_ns
    for i in range(n):
        t0 = pc()
        lat[i] = pc() - t0
    return statistics.median(lat) / 1e3


def thread_cpu(native_ids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds (user + system) of the given threads of this process, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, tid in native_ids.items():
        if tid is None:
            continue
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


def writer_threads(run: Any) -> dict[str, int | None]:
    import threading

    if run is None:
        return {"main": threading.main_thread().native_id}
    writer = getattr(run, "_writer", None)  # private, read only to attribute CPU time
    spooler = getattr(writer, "_spooler", None)
    sender = getattr(writer, "_sender", None)
    return {
        "main": threading.main_thread().native_id,
        "spooler": getattr(spooler, "native_id", None),
        "sender": getattr(sender, "native_id", None),
    }


def counts_of(url: str, run_id: str) -> dict[str, int]:
    import cairn

    client = cairn.Client(url)
    summaries = client.metric_summaries(run_id)
    return {k: int(summaries.get(k, {}).get("count", 0)) for k in KEYS}


def worker_sdk(spec: dict[str, Any]) -> dict[str, Any]:
    """``run.log`` per-call cost in a tight or training-like loop, with the server up or down;
    mode ``none`` is the same loop with ``dict(d)`` in place of ``run.log(d)`` and no SDK at
    all: the floor that the other rows are compared with."""
    n = spec["calls"]
    pool = make_pool()
    mask = POOL - 1
    work = None
    result: dict[str, Any] = {"timer_overhead_us": timer_overhead()}
    if spec["shape"] == "train":
        work, work_us, size = make_work(spec["work_us"])
        result.update(work_us=work_us, work_n=size)
    run = None
    if spec["mode"] == "none":
        log: Any = dict
        threads = writer_threads(None)
    else:
        import cairn

        run = cairn.init(
            project="bench",
            url=spec["url"],
            dir=spec["dir"],
            system_metrics_interval=0,
            capture_environment=False,
        )
        threads = writer_threads(run)
        log = run.log
    pc = time.perf_counter_ns
    lat = array("q", bytes(8 * n))
    work_ns = 0
    cpu0 = thread_cpu(threads)
    t_loop = pc()
    if work is None:
        for i in range(n):
            d = pool[i & mask]
            t0 = pc()
            log(d)
            lat[i] = pc() - t0
    else:
        for i in range(n):
            d = pool[i & mask]
            tw = pc()
            work()
            t0 = pc()
            log(d)
            lat[i] = pc() - t0
            work_ns += t0 - tw
    loop_s = (pc() - t_loop) / 1e9
    cpu1 = thread_cpu(threads)
    result.update(
        latency_stats(lat),
        loop_s=loop_s,
        step_us=loop_s / n * 1e6,
        work_in_loop_us=work_ns / n / 1e3,
        thread_cpu_s={k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1},
    )
    if run is not None:
        writer = getattr(run, "_writer", None)
        buffered = getattr(writer, "buffered_points", None)
        t0 = pc()
        ok = run.finish(timeout=spec["finish_timeout"])
        result.update(
            run_id=run.id,
            buffered_at_end=buffered,
            finish_s=(pc() - t0) / 1e9,
            finished_delivered=ok,
        )
        if spec["mode"] == "up":
            result["counts"] = counts_of(spec["url"], run.id)
    return result


def worker_mlflow(spec: dict[str, Any]) -> dict[str, Any]:
    """``mlflow.log_metrics({10}, step=i, synchronous=False)`` against the Cairn server."""
    import mlflow

    n = spec["calls"]
    pool = make_pool()
    mask = POOL - 1
    result: dict[str, Any] = {"timer_overhead_us": timer_overhead()}
    mlflow.set_tracking_uri(spec["url"])
    mlflow.set_experiment("bench-peers")
    active = mlflow.start_run()
    run_id = active.info.run_id
    log_metrics = mlflow.log_metrics
    pc = time.perf_counter_ns
    lat = array("q", bytes(8 * n))
    t_loop = pc()
    for i in range(n):
        d = pool[i & mask]
        t0 = pc()
        log_metrics(d, step=i, synchronous=False)
        lat[i] = pc() - t0
    loop_s = (pc() - t_loop) / 1e9
    t0 = pc()
    mlflow.flush_async_logging()
    flush_s = (pc() - t0) / 1e9
    t0 = pc()
    mlflow.end_run()
    end_s = (pc() - t0) / 1e9
    result.update(
        latency_stats(lat),
        run_id=run_id,
        loop_s=loop_s,
        finish_s=flush_s + end_s,
        flush_s=flush_s,
        end_run_s=end_s,
        version=mlflow.__version__,
    )
    if spec["check"]:
        result["counts"] = counts_of(spec["url"], run_id)
    return result


def worker_wandb(spec: dict[str, Any]) -> dict[str, Any]:
    """``wandb.log({10})`` in offline mode (``WANDB_MODE=offline``), writing to a temp dir."""
    os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    n = spec["calls"]
    pool = make_pool()
    mask = POOL - 1
    result: dict[str, Any] = {"timer_overhead_us": timer_overhead()}
    t0 = time.perf_counter_ns()
    run = wandb.init(project="bench", dir=spec["dir"])
    init_s = (time.perf_counter_ns() - t0) / 1e9
    log = wandb.log
    pc = time.perf_counter_ns
    lat = array("q", bytes(8 * n))
    t_loop = pc()
    for i in range(n):
        d = pool[i & mask]
        t0 = pc()
        log(d)
        lat[i] = pc() - t0
    loop_s = (pc() - t_loop) / 1e9
    t0 = pc()
    run.finish()
    finish_s = (pc() - t0) / 1e9
    files = list(Path(spec["dir"]).rglob("*.wandb"))
    result.update(
        latency_stats(lat),
        loop_s=loop_s,
        init_s=init_s,
        finish_s=finish_s,
        wandb_file_bytes=sum(f.stat().st_size for f in files),
        version=wandb.__version__,
    )
    return result


def worker_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    """Logs as fast as it can for ``seconds`` (after a go from the parent), then ``finish()``."""
    import cairn

    pool = make_pool()
    mask = POOL - 1
    run = cairn.init(
        project="bench",
        url=spec["url"],
        dir=spec["dir"],
        system_metrics_interval=0,
        capture_environment=False,
    )
    log = run.log
    print("READY", flush=True)
    sys.stdin.readline()
    clock = time.monotonic
    t_first = clock()
    deadline = t_first + spec["seconds"]
    i = 0
    while True:
        for j in range(i, i + 1000):
            log(pool[j & mask])
        i += 1000
        if clock() >= deadline:
            break
    t_logged = clock()
    writer = getattr(run, "_writer", None)
    buffered = getattr(writer, "buffered_points", None)
    ok = run.finish(timeout=spec["finish_timeout"])
    t_done = clock()
    result = {
        "run_id": run.id,
        "calls": i,
        "points": i * len(KEYS),
        "t_first": t_first,
        "t_logged": t_logged,
        "t_done": t_done,
        "buffered_at_end": buffered,
        "finished_delivered": ok,
    }
    result["counts"] = counts_of(spec["url"], run.id)
    return result


WORKERS = {"sdk": worker_sdk, "mlflow": worker_mlflow, "wandb": worker_wandb, "ingest": worker_ingest}


def worker_main(spec_text: str) -> int:
    spec = json.loads(spec_text)
    result = WORKERS[spec["kind"]](spec)
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


# --------------------------------------------------------------------------------------------
# Parent side: the server, the trials, the checks and the tables.
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, children included) of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, binary: str, data: Path, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [binary, "server", "--host", "127.0.0.1", "--port", str(self.port), "--data", str(data)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"cairn server exited with {self.proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > 60:
                raise SystemExit(f"cairn server did not answer /health within 60 s; see {log_path}")
            time.sleep(0.05)
        self.start_s = time.monotonic() - t0

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def wait_idle(self, limit: float = 90.0) -> float:
        """Waits until the server uses under 5% of a core over half a second (its compactor done
        with the last trial's points); returns how long that took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            c0 = self.cpu()
            time.sleep(0.5)
            if self.cpu() - c0 < 0.025:
                break
        return time.monotonic() - t0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def problems(self) -> list[str]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if " ERROR " in line or " WARN " in line or "panicked" in line:
                lines.append(line.strip())
        return lines


def spawn(spec: dict[str, Any], tmp: Path, name: str, **popen: Any) -> tuple[subprocess.Popen, Path]:
    """Starts a worker; its stderr (and stdout, unless piped) go to bench/.work/sdk/logs/NAME.log."""
    out = tmp / f"{name}.json"
    spec = dict(spec, out=str(out))
    log = open(WORK / "logs" / f"{name}.log", "w")
    popen.setdefault("stdout", log)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)], stderr=log, **popen
    )
    log.close()
    return proc, out


def failure(name: str, what: str) -> dict[str, Any]:
    log = WORK / "logs" / f"{name}.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
    for line in tail:
        print(f"     | {line}", flush=True)
    return {"error": f"worker {name} {what} (see {log})"}


def run_worker(spec: dict[str, Any], tmp: Path, name: str, timeout: float) -> dict[str, Any]:
    proc, out = spawn(spec, tmp, name, stdin=subprocess.DEVNULL)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return failure(name, f"timed out after {timeout:.0f} s")
    if rc != 0 or not out.exists():
        return failure(name, f"failed (exit {rc})")
    return json.loads(out.read_text())


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """``median (min–max)`` of trial values; just the value for one trial."""
    if not values:
        return "—"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def status_line(label: str, ok: bool) -> str:
    return f"{label}: {'ok' if ok else 'FAILED'}"


# ----- section 1: per-call cost -----


MODES = {"none": "no SDK", "up": "up", "down": "down"}
SHAPES = {"tight": "tight", "train": "training-like"}


def bench_sdk(args: argparse.Namespace, server: Server, tmp: Path, results: dict[str, Any]) -> list[str]:
    trials: dict[str, list[dict[str, Any]]] = {}
    down_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for trial in range(args.trials):
        for shape in args.shapes:
            for mode in MODES:
                key = f"{shape}/{mode}"
                name = f"sdk-{shape}-{mode}-{trial}"
                run_dir = tmp / name
                spec = {
                    "kind": "sdk",
                    "shape": shape,
                    "mode": mode,
                    "calls": args.calls,
                    "work_us": args.work_us,
                    "url": down_url if mode == "down" else server.url,
                    "dir": str(run_dir),
                    "finish_timeout": 0 if mode == "down" else 600,
                }
                idle = server.wait_idle()
                print(f"   {name} (server idle after {idle:.1f} s) ...", flush=True)
                r = run_worker(spec, tmp, name, timeout=1800)
                r["dir"] = str(run_dir)
                trials.setdefault(key, []).append(r)
                if "error" in r:
                    print(f"   ! {r['error']}", flush=True)
                    continue
                print(
                    f"     p50 {r['p50']:.2f} µs  p99 {r['p99']:.1f} µs  p99.9 {r['p999']:.1f} µs  "
                    f"max {r['max'] / 1e3:.1f} ms  step {r['step_us']:.1f} µs  loop {r['loop_s']:.1f} s"
                    + (f"  finish {r['finish_s']:.2f} s" if "finish_s" in r else ""),
                    flush=True,
                )
    # Server down: deliver the spools with `python -m cairn sync DIR --url`, then count.
    for key in [k for k in trials if k.endswith("/down")]:
        for r in trials[key]:
            if "error" in r:
                continue
            server.wait_idle()
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "cairn", "sync", r["dir"], "--url", server.url],
                capture_output=True,
                text=True,
            )
            r["sync_s"] = time.monotonic() - t0
            r["sync_rc"] = proc.returncode
            r["sync_out"] = (proc.stdout + proc.stderr).strip()[-500:]
            r["counts"] = counts_of(server.url, r["run_id"])
            print(f"   cairn sync {Path(r['dir']).name}: exit {proc.returncode}, {r['sync_s']:.1f} s", flush=True)
    results["sdk"] = trials

    lines = [
        f"### 1. Per-call cost of `run.log({{10 metrics}})` — {args.calls:,} calls a trial, "
        f"{args.trials} trial(s); median of trials (min–max)",
        "",
        "| loop | server | median µs | p99 µs | p99.9 µs | max ms | mean µs | calls >100 µs | step µs | "
        "× no-SDK step | finish s | bar (median ≤10, p99 ≤100) | every point arrived |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    checks = []
    for shape, shape_name in SHAPES.items():
        if shape not in args.shapes:
            continue
        base = [r["step_us"] for r in trials.get(f"{shape}/none", []) if "error" not in r]
        for mode, mode_name in MODES.items():
            rs = [r for r in trials.get(f"{shape}/{mode}", []) if "error" not in r]
            errors = [r["error"] for r in trials.get(f"{shape}/{mode}", []) if "error" in r]
            if not rs:
                lines.append(f"| {shape_name} | {mode_name} | ERR | | | | | | | | | | {'; '.join(errors)} |")
                continue
            p50 = [r["p50"] for r in rs]
            p99 = [r["p99"] for r in rs]
            step = [r["step_us"] for r in rs]
            if mode == "none":
                bar = arrived = "—"
                ratio = "1.00×"
                finish = "—"
            else:
                bar = "PASS" if med(p50) <= BAR_MEDIAN_US and med(p99) <= BAR_P99_US else "MISS"
                ok = all(r.get("counts") == {k: r["calls"] for k in KEYS} for r in rs) and not errors
                arrived = "yes" if ok else "NO"
                how = "summaries count = N per key" if mode == "up" else "after `cairn sync`: count = N per key"
                checks.append(status_line(f"{shape_name} loop, server {mode}: {how} in {len(rs)} run(s)", ok))
                ratio = f"{med(step) / med(base):.2f}×" if base else "—"
                finish = spread([r["finish_s"] for r in rs], "{:.2f}")
            lines.append(
                f"| {shape_name} | {mode_name} | {spread(p50, '{:.2f}')} | {spread(p99)} | "
                f"{spread([r['p999'] for r in rs])} | {spread([r['max'] / 1e3 for r in rs])} | "
                f"{spread([r['mean'] for r in rs], '{:.2f}')} | {spread([r['over_100us'] for r in rs], '{:.0f}')} | "
                f"{spread(step)} | {ratio} | {finish} | {bar} | {arrived} |"
            )
    lines.append("")
    any_r = [r for rs in trials.values() for r in rs if "error" not in r]
    if any_r:
        floor = med([r["timer_overhead_us"] for r in any_r])
        lines.append(f"Timer floor (two `perf_counter_ns` calls, nothing between): {floor:.3f} µs median.")
    train = [r for k, rs in trials.items() if k.startswith("train") for r in rs if "work_us" in r]
    if train:
        n = train[0]["work_n"]
        inside = []
        for m, m_name in MODES.items():
            vals = [r["work_in_loop_us"] for r in trials.get(f"train/{m}", []) if "error" not in r]
            if vals:
                inside.append(f"{m_name} {med(vals):.0f} µs")
        lines.append(
            f"Training-like loop: `np.matmul` of two {n}×{n} float64 matrices (one OpenBLAS thread, GIL released) "
            f"before each call: {med([r['work_us'] for r in train]):.0f} µs median when calibrated alone; "
            f"mean inside the loop: {', '.join(inside)}."
        )
    cpu_lines = []
    for shape in SHAPES:
        for mode in ("up", "down"):
            rs = [r for r in trials.get(f"{shape}/{mode}", []) if "thread_cpu_s" in r]
            if rs:
                parts = []
                for t in ("main", "spooler", "sender"):
                    vals = [r["thread_cpu_s"][t] for r in rs if t in r["thread_cpu_s"]]
                    if vals:
                        parts.append(f"{t} {med(vals):.2f}")
                cpu_lines.append(
                    f"{shape}/{mode}: " + ", ".join(parts) + f" (loop {med([r['loop_s'] for r in rs]):.1f} s)"
                )
    if cpu_lines:
        lines.append("CPU seconds of the SDK process's threads during the loop: " + "; ".join(cpu_lines) + ".")
    for key, rs in trials.items():
        for r in rs:
            if key.endswith("/down") and "sync_s" in r:
                points = r["calls"] * len(KEYS)
                lines.append(
                    f"`cairn sync` of the server-down {SHAPES[key.split('/')[0]]} run ({points:,} points): exit "
                    f"{r['sync_rc']}, {r['sync_s']:.1f} s ({points / r['sync_s']:,.0f} points/s)."
                )
    lines.append("")
    lines.append("Checks: " + "; ".join(checks) + ".")
    return lines


# ----- section 2: sustained ingest -----


def ingest_trial(args: argparse.Namespace, server: Server, tmp: Path, procs: int, name: str) -> dict[str, Any]:
    workers = []
    for p in range(procs):
        spec = {
            "kind": "ingest",
            "url": server.url,
            "dir": str(tmp / f"{name}-{p}"),
            "seconds": args.ingest_seconds,
            "finish_timeout": 600,
        }
        proc, out = spawn(spec, tmp, f"{name}-{p}", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        workers.append((proc, out))
    for p, (proc, _) in enumerate(workers):
        line = proc.stdout.readline()
        if line.strip() != "READY":
            for other, _ in workers:
                other.kill()
                other.wait()
            return failure(f"{name}-{p}", f"did not start (printed {line!r})")
    cpu0 = server.cpu()
    t0 = time.monotonic()
    for proc, _ in workers:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    rs = []
    for p, (proc, out) in enumerate(workers):
        try:
            rc = proc.wait(args.ingest_seconds + 900)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -9
        if rc != 0 or not out.exists():
            return failure(f"{name}-{p}", f"failed (exit {rc})")
        rs.append(json.loads(out.read_text()))
    wall = time.monotonic() - t0
    server_cpu = server.cpu() - cpu0
    points = sum(r["points"] for r in rs)
    span = max(r["t_done"] for r in rs) - min(r["t_first"] for r in rs)
    per = [r["points"] / (r["t_done"] - r["t_first"]) for r in rs]
    log_rate = [r["points"] / (r["t_logged"] - r["t_first"]) for r in rs]
    finish = [r["t_done"] - r["t_logged"] for r in rs]
    ok = all(r["finished_delivered"] and r["counts"] == {k: r["calls"] for k in KEYS} for r in rs)
    return {
        "procs": procs,
        "points": points,
        "span_s": span,
        "rate": points / span,
        "per_process": per,
        "log_phase_rate": log_rate,
        "finish_s": finish,
        "buffered_at_end": [r["buffered_at_end"] for r in rs],
        "server_cpu_s": server_cpu,
        "server_cores": server_cpu / wall,
        "ok": ok,
        "workers": rs,
    }


def bench_ingest(args: argparse.Namespace, server: Server, tmp: Path, results: dict[str, Any]) -> list[str]:
    trials: dict[int, list[dict[str, Any]]] = {}
    for trial in range(args.trials):
        for procs in (1, args.procs):
            idle = server.wait_idle()
            name = f"ingest-{procs}p-{trial}"
            print(f"   {name} (server idle after {idle:.1f} s) ...", flush=True)
            r = ingest_trial(args, server, tmp, procs, name)
            trials.setdefault(procs, []).append(r)
            if "error" in r:
                print(f"   ! {r['error']}", flush=True)
            else:
                print(
                    f"     {r['points']:,} points in {r['span_s']:.1f} s = {r['rate']:,.0f} points/s "
                    f"(server {r['server_cores']:.2f} cores), delivered+counted: {r['ok']}",
                    flush=True,
                )
    results["ingest"] = {str(k): v for k, v in trials.items()}
    lines = [
        f"### 2. Sustained end-to-end ingest — log as fast as possible for {args.ingest_seconds:g} s, then "
        f"`finish()`; {args.trials} trial(s), median (min–max)",
        "",
        "| processes | points (all processes) | end-to-end points/s (all) | per process points/s | "
        "`log()` phase points/s per process | finish() tail s | server CPU (cores) | bar ≥200,000 | "
        "every point arrived |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for procs, rs in trials.items():
        good = [r for r in rs if "error" not in r]
        if not good:
            lines.append(f"| {procs} | ERR | | | | | | | {'; '.join(r['error'] for r in rs)} |")
            continue
        rate = [r["rate"] for r in good]
        bar = ("PASS" if med(rate) >= BAR_INGEST else "MISS") if procs == 1 else "—"
        lines.append(
            f"| {procs} | {spread([r['points'] for r in good], '{:,.0f}')} | {spread(rate, '{:,.0f}')} | "
            f"{spread([med(r['per_process']) for r in good], '{:,.0f}')} | "
            f"{spread([med(r['log_phase_rate']) for r in good], '{:,.0f}')} | "
            f"{spread([med(r['finish_s']) for r in good], '{:.1f}')} | "
            f"{spread([r['server_cores'] for r in good], '{:.2f}')} | {bar} | "
            f"{'yes' if all(r['ok'] for r in good) and len(good) == len(rs) else 'NO'} |"
        )
    lines.append("")
    many = [r for r in trials.get(args.procs, []) if "error" not in r]
    if many and args.procs > 1:
        lo = min(min(r["per_process"]) for r in many)
        hi = max(max(r["per_process"]) for r in many)
        lines.append(
            f"{args.procs} processes: per-process end-to-end rate ranged {lo:,.0f}–{hi:,.0f} points/s over all trials."
        )
    lines.append(
        "End-to-end = points ÷ (first `log()` → `finish()` returned True, i.e. every record acknowledged "
        "by the server); with several processes, from the earliest first `log()` to the last `finish()`. "
        "The check compares each run's summaries count with the calls it made."
    )
    return lines


# ----- section 3: peers -----


def bench_peers(args: argparse.Namespace, server: Server, tmp: Path, results: dict[str, Any]) -> list[str]:
    clients = ["cairn", "mlflow", "wandb"]
    trials: dict[str, list[dict[str, Any]]] = {}
    for trial in range(args.trials):
        for client in clients:
            name = f"peer-{client}-{trial}"
            spec: dict[str, Any] = {
                "kind": "sdk" if client == "cairn" else client,
                "shape": "tight",
                "mode": "up",
                "calls": args.peer_calls,
                "work_us": args.work_us,
                "url": server.url,
                "dir": str(tmp / name),
                "finish_timeout": 600,
                "check": True,
            }
            idle = server.wait_idle()
            print(f"   {name} (server idle after {idle:.1f} s) ...", flush=True)
            r = run_worker(spec, tmp, name, timeout=1800)
            trials.setdefault(client, []).append(r)
            if "error" in r:
                print(f"   ! {r['error']}", flush=True)
            else:
                print(
                    f"     p50 {r['p50']:.2f} µs  p99 {r['p99']:.1f} µs  finish {r['finish_s']:.2f} s",
                    flush=True,
                )
    results["peers"] = trials
    base = [r for r in trials.get("cairn", []) if "error" not in r]
    base_p50 = med([r["p50"] for r in base]) if base else float("nan")
    base_p99 = med([r["p99"] for r in base]) if base else float("nan")
    lines = [
        f"### 3. Peers in the same tight loop — {args.peer_calls:,} calls a trial, {args.trials} trial(s), "
        "median (min–max)",
        "",
        "| client | call | median µs | p99 µs | p99.9 µs | max ms | × Cairn median | × Cairn p99 | "
        "flush at end s | check |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    calls = {
        "cairn": "`run.log(d)` (server up)",
        "mlflow": "`mlflow.log_metrics(d, step=i, synchronous=False)` → this Cairn server",
        "wandb": "`wandb.log(d)`, `WANDB_MODE=offline`",
    }
    flush = {"cairn": "`finish()`", "mlflow": "`flush_async_logging()` + `end_run()`", "wandb": "`finish()`"}
    for client in clients:
        rs = [r for r in trials.get(client, []) if "error" not in r]
        errors = [r["error"] for r in trials.get(client, []) if "error" in r]
        if not rs:
            lines.append(f"| {client} | {calls[client]} | ERR | | | | | | | {'; '.join(errors)} |")
            continue
        p50 = [r["p50"] for r in rs]
        p99 = [r["p99"] for r in rs]
        if client == "wandb":
            check = f"{med([r['wandb_file_bytes'] for r in rs]) / 1e6:.1f} MB .wandb file (not counted)"
        else:
            arrived = all(r.get("counts") == {k: r["calls"] for k in KEYS} for r in rs) and not errors
            check = "count = N per key" if arrived else "NO: counts differ"
        version = f" {rs[0]['version']}" if "version" in rs[0] else ""
        lines.append(
            f"| {client}{version} | {calls[client]} | {spread(p50, '{:.2f}')} | {spread(p99)} | "
            f"{spread([r['p999'] for r in rs])} | {spread([r['max'] / 1e3 for r in rs])} | "
            f"{med(p50) / base_p50:.1f}× | {med(p99) / base_p99:.1f}× | "
            f"{spread([r['finish_s'] for r in rs], '{:.2f}')} ({flush[client]}) | {check} |"
        )
    wb = [r for r in trials.get("wandb", []) if "init_s" in r]
    if wb:
        lines.append("")
        lines.append(f"`wandb.init()` (offline) took {med([r['init_s'] for r in wb]):.1f} s (not in the table).")
    return lines


# ----- the machine -----


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout
    except OSError:
        return ""


def sdk_identity() -> str:
    """Where the SDK under test comes from, and whether it is the commit's own
    ``sdk/python/src/cairn`` (same .py files, byte for byte) or differs from it."""
    import cairn

    src = Path(cairn.__file__).resolve().parent
    mine = {f.relative_to(src).as_posix(): f.read_bytes() for f in src.rglob("*.py")}
    prefix = "sdk/python/src/cairn/"
    names = [n for n in git("ls-tree", "-r", "--name-only", "HEAD", prefix).splitlines() if n.endswith(".py")]
    committed = {}
    for name in names:
        try:
            committed[name[len(prefix) :]] = subprocess.run(
                ["git", "-C", str(REPO), "show", f"HEAD:{name}"], capture_output=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            pass
    digest = hashlib.sha256()
    for name in sorted(mine):
        digest.update(name.encode() + b"\0" + mine[name])
    same = "= HEAD's sdk/python/src" if mine == committed else "DIFFERS from HEAD's sdk/python/src"
    return f"{src} ({same}; sha256 of its .py files {digest.hexdigest()[:12]})"


def machine(binary: str) -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    binary_digest = hashlib.sha256(Path(binary).read_bytes()).hexdigest()[:12]
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(Path(binary).stat().st_mtime))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "commit": git("rev-parse", "--short", "HEAD").strip() or "?",
        "binary": f"{binary} (built {built}, sha256 {binary_digest})",
        "sdk": sdk_identity(),
    }


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2])
    parser = argparse.ArgumentParser(
        prog="bench/sdk/run",
        description="Benchmark of Cairn's Python SDK (per-call cost, end-to-end ingest, peers).",
    )
    parser.add_argument("--quick", action="store_true", help="small run, about a minute")
    parser.add_argument(
        "--only",
        default="sdk,ingest,peers",
        help="comma-separated sections to run: sdk, ingest, peers (default: all three)",
    )
    parser.add_argument("--calls", type=int, help="run.log calls a trial in section 1 (default 200,000; quick 20,000)")
    parser.add_argument("--peer-calls", type=int, help="calls per trial in section 3 (default 20,000; quick 5,000)")
    parser.add_argument("--trials", type=int, help="trials of each measure (default 3; quick 1)")
    parser.add_argument("--shapes", default="tight,train", help="loops of section 1: tight, train (default: both)")
    parser.add_argument("--work-us", type=float, default=200.0, help="GIL-releasing work per training-like step (µs)")
    parser.add_argument("--ingest-seconds", type=float, help="logging time per ingest process (default 10; quick 3)")
    parser.add_argument("--procs", type=int, default=8, help="processes in the concurrent ingest (default 8)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (server data, run folders)")
    args = parser.parse_args()
    args.calls = args.calls or (20_000 if args.quick else 200_000)
    args.peer_calls = args.peer_calls or (5_000 if args.quick else 20_000)
    args.trials = args.trials or (1 if args.quick else 3)
    args.ingest_seconds = args.ingest_seconds or (3.0 if args.quick else 10.0)
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if set(args.shapes) - set(SHAPES) or not args.shapes:
        parser.error("--shapes takes tight, train")
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - {"sdk", "ingest", "peers"}
    if unknown:
        parser.error(f"--only takes sdk, ingest, peers; got {', '.join(sorted(unknown))}")
    binary = os.environ.get("CAIRN_BIN") or str(REPO / "target" / "release" / "cairn")
    if not os.access(binary, os.X_OK):
        parser.error(f"no cairn binary at {binary} (build it, or set CAIRN_BIN)")

    shutil.rmtree(WORK / "logs", ignore_errors=True)
    (WORK / "logs").mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix="cairn-sdk-bench-"))
    info = machine(binary)
    header = [
        "## Cairn Python SDK bench",
        "",
        f"{info['date']} · {info['nproc']} cores · {info['cpu']} · load average at start {info['loadavg']} · "
        f"Python {info['python']} · commit {info['commit']}",
        "",
        f"Server {info['binary']}" + (" — DEBUG build: numbers not representative" if "/debug/" in binary else ""),
        "",
        f"SDK {info['sdk']}",
        "",
    ]
    print("\n".join(header), flush=True)
    results: dict[str, Any] = {"machine": info, "args": vars(args)}
    server = Server(binary, tmp / "server-data", WORK / "server.log")
    print(f"== cairn server on {server.url} (ready in {server.start_s:.2f} s), temp folder {tmp}", flush=True)
    body: list[str] = []
    t_start = time.monotonic()
    try:
        if "sdk" in sections:
            print("== 1. per-call cost of run.log", flush=True)
            body += bench_sdk(args, server, tmp, results) + [""]
        if "ingest" in sections:
            print("== 2. sustained ingest", flush=True)
            body += bench_ingest(args, server, tmp, results) + [""]
        if "peers" in sections:
            print("== 3. peers", flush=True)
            body += bench_peers(args, server, tmp, results) + [""]
    finally:
        server.stop()
        problems = server.problems()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    info["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["duration_s"] = round(time.monotonic() - t_start, 1)
    footer = [f"Load average at the end {info['loadavg_end']}; the bench took {info['duration_s']:.0f} s."]
    if problems:
        footer.append(f"Server log: {len(problems)} ERROR/WARN/panic line(s), e.g. `{problems[0][:200]}`")
    text = "\n".join(header + body + footer) + "\n"
    print()
    print(text)
    (WORK / "results.md").write_text(text)
    (WORK / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"(written to {WORK / 'results.md'} and results.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
