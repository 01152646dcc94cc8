#!/usr/bin/env python3
"""Side-by-side benchmark: Cairn vs MLflow's own tracking server, driven by the official client.

The orchestrator (default mode) starts each server in turn with a fresh temp dir, waits for
/health, runs the workload in a separate Python process (``--worker``) so the client state of one
server never leaks into the other, samples the server's RSS meanwhile, stops the server and
finally prints a markdown table (also written to bench/.work/results.md).

Servers run one after the other, never at the same time.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, ".work")
REPO = os.path.dirname(HERE)

# Shape of the search dataset (ANCHORS.md): 20 params, 10 metrics, 5 tags per run.
N_PARAMS, N_METRICS, N_TAGS = 20, 10, 5
BASE_TS = 1_700_000_000_000  # fixed ms timestamp so both servers get byte-identical data

FULL = dict(
    runs=10_000,  # search dataset size
    threads=4,  # population threads (REST)
    ingest_calls=100,  # log_batch calls of 1000 points -> also the get_metric_history series
    ingest_trial=10,  # calls per timed trial (median of trials)
    latency_calls=300,
    create_runs=100,
    search_repeats=5,
    order_repeats=3,
    pandas_repeats=1,
    artifact_mb=50,
    artifact_repeats=3,
)
QUICK = dict(
    runs=1_000,
    threads=4,
    ingest_calls=20,
    ingest_trial=5,
    latency_calls=100,
    create_runs=30,
    search_repeats=3,
    order_repeats=2,
    pandas_repeats=1,
    artifact_mb=10,
    artifact_repeats=2,
)


# --------------------------------------------------------------------------------------------
# deterministic dataset
# --------------------------------------------------------------------------------------------
def run_payload(i: int):
    """Params/metrics/tags of search-dataset run i (identical for both servers)."""
    rnd = random.Random(1_000_003 * i + 7)
    params = [{"key": f"p{j}", "value": f"v{rnd.randrange(4 if j == 0 else 50)}"} for j in range(N_PARAMS)]
    metrics = [{"key": f"m{j}", "value": rnd.random(), "timestamp": BASE_TS + i, "step": 0} for j in range(N_METRICS)]
    tags = [
        {"key": f"t{j}", "value": ("x" if rnd.random() < 0.5 else "y") if j == 0 else f"tag{rnd.randrange(10)}"}
        for j in range(N_TAGS)
    ]
    return params, metrics, tags


SEARCH_FILTER = "metrics.m0 > 0.5 AND params.p0 = 'v1' AND tags.t0 = 'x'"
SEARCH_ORDER = ["metrics.m1 DESC"]


def names_digest(names):
    return hashlib.sha1("\n".join(names).encode()).hexdigest()[:10]


# --------------------------------------------------------------------------------------------
# worker: runs inside its own process with MLFLOW_TRACKING_URI set
# --------------------------------------------------------------------------------------------
def worker(args):
    import requests

    uri = os.environ["MLFLOW_TRACKING_URI"]
    cfg = json.loads(args.cfg)
    results = {}
    out_path = args.out

    def save():
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1)

    def log(msg):
        print(f"  [{args.target}] {msg}", flush=True)

    def record(name, fn):
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a failure of one workload must not stop the rest
            msg = f"{type(e).__name__}: {e}"
            results.setdefault("errors", {})[name] = msg[:400]
            log(f"{name}: ERROR {msg[:300]}")
        log(f"{name}: done in {time.perf_counter() - t0:.1f}s")
        save()

    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    rest = uri.rstrip("/") + "/api/2.0/mlflow/"

    # ---------------------------------------------------------------- 1. ingest + 4. history
    state = {}

    def w_ingest():
        exp = client.create_experiment("bench-ingest")
        run = client.create_run(exp, run_name="ingest")
        state["exp"], state["ingest_run"] = exp, run.info.run_id
        calls, per_trial = cfg["ingest_calls"], cfg["ingest_trial"]
        rates, step = [], 0
        state["points"] = 0
        t_all = time.perf_counter()
        for start in range(0, calls, per_trial):
            n = min(per_trial, calls - start)
            batches = []
            for _ in range(n):
                batches.append(
                    [Metric("series", float(step + k) * 0.5, BASE_TS + step + k, step + k) for k in range(1000)]
                )
                step += 1000
            t0 = time.perf_counter()
            for b in batches:
                client.log_batch(run.info.run_id, metrics=b, synchronous=True)
                state["points"] += len(b)
            rates.append(n * 1000 / (time.perf_counter() - t0))
        results["ingest_pts_s"] = statistics.median(rates)
        results["ingest_pts_s_all"] = [round(r) for r in rates]
        results["ingest_total_s"] = time.perf_counter() - t_all

    def w_history():
        pts = state["points"]
        t0 = time.perf_counter()
        hist = client.get_metric_history(state["ingest_run"], "series")
        results["history_s"] = time.perf_counter() - t0
        results["history_points"] = len(hist)
        if len(hist) != pts:
            results.setdefault("checks", {})["history"] = f"got {len(hist)} points, expected {pts}"
        else:
            steps = [m.step for m in hist]
            if steps != sorted(steps):
                results.setdefault("checks", {})["history"] = "history not ordered by step"

    # ---------------------------------------------------------------- 2. log_metric latency
    def w_latency():
        rid = state["ingest_run"]
        # warm-up
        for k in range(5):
            client.log_metric(rid, "lat_warm", 1.0, timestamp=BASE_TS + k, step=k)
        lat = []
        for k in range(cfg["latency_calls"]):
            t0 = time.perf_counter()
            client.log_metric(rid, "lat", float(k), timestamp=BASE_TS + k, step=k, synchronous=True)
            lat.append((time.perf_counter() - t0) * 1000.0)
        lat.sort()
        results["log_metric_p50_ms"] = statistics.median(lat)
        results["log_metric_p95_ms"] = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]

    # ---------------------------------------------------------------- 3. create_run + log_batch
    def w_create():
        exp = state["exp"]
        n = cfg["create_runs"]
        payloads = [run_payload(100_000 + i) for i in range(n)]
        t0 = time.perf_counter()
        for i, (params, metrics, tags) in enumerate(payloads):
            r = client.create_run(exp, run_name=f"cr-{i}")
            client.log_batch(
                r.info.run_id,
                metrics=[Metric(m["key"], m["value"], m["timestamp"], m["step"]) for m in metrics],
                params=[Param(p["key"], p["value"]) for p in params],
                tags=[RunTag(t["key"], t["value"]) for t in tags],
                synchronous=True,
            )
        results["create_runs_s"] = n / (time.perf_counter() - t0)

    # ---------------------------------------------------------------- populate search dataset
    def w_populate():
        n = cfg["runs"]
        exp = client.create_experiment("bench-search")
        state["search_exp"] = exp
        tl = threading.local()
        errors = []

        def sess():
            s = getattr(tl, "s", None)
            if s is None:
                s = tl.s = requests.Session()
            return s

        def one(i):
            s = sess()
            params, metrics, tags = run_payload(i)
            for attempt in range(5):
                try:
                    r = s.post(
                        rest + "runs/create",
                        json={
                            "experiment_id": exp,
                            "run_name": f"run-{i:05d}",
                            "start_time": BASE_TS + i,
                            "user_id": "bench",
                            "tags": [],
                        },
                        timeout=120,
                    )
                    r.raise_for_status()
                    rid = r.json()["run"]["info"]["run_id"]
                    break
                except Exception as e:  # noqa: BLE001
                    if attempt == 4:
                        raise
                    errors.append(str(e)[:200])
                    time.sleep(0.5 * (attempt + 1))
            for attempt in range(5):
                try:
                    r = s.post(
                        rest + "runs/log-batch",
                        json={"run_id": rid, "metrics": metrics, "params": params, "tags": tags},
                        timeout=120,
                    )
                    r.raise_for_status()
                    return
                except Exception as e:  # noqa: BLE001
                    if attempt == 4:
                        raise
                    errors.append(str(e)[:200])
                    time.sleep(0.5 * (attempt + 1))

        t0 = time.perf_counter()
        done = 0
        with cf.ThreadPoolExecutor(cfg["threads"]) as ex:
            for fut in cf.as_completed([ex.submit(one, i) for i in range(n)]):
                fut.result()
                done += 1
                if done % 1000 == 0:
                    log(f"populated {done}/{n} runs ({done / (time.perf_counter() - t0):.0f} runs/s)")
        dt = time.perf_counter() - t0
        results["populate_s"] = dt
        results["populate_runs_s"] = n / dt
        if errors:
            results.setdefault("checks", {})["populate_retries"] = f"{len(errors)} retried requests, e.g. {errors[0]}"

    # expected answers, computed locally from the deterministic dataset
    def expected():
        rows = []
        for i in range(cfg["runs"]):
            params, metrics, tags = run_payload(i)
            rows.append(
                (f"run-{i:05d}", params[0]["value"], metrics[0]["value"], metrics[1]["value"], tags[0]["value"])
            )
        filt = [r for r in rows if r[2] > 0.5 and r[1] == "v1" and r[4] == "x"]
        filt.sort(key=lambda r: -r[3])
        order = sorted(rows, key=lambda r: -r[3])
        return [r[0] for r in filt[:100]], [r[0] for r in order[:1000]], len(filt)

    def run_names(runs):
        return [r.data.tags.get("mlflow.runName", r.info.run_name) for r in runs]

    def timed_client_search(name, repeats, expected_names, mismatch, **kwargs):
        """Median time of `client.search_runs(**kwargs)`; records a check when the answer is wrong."""
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = client.search_runs([state["search_exp"]], order_by=SEARCH_ORDER, **kwargs)
            times.append(time.perf_counter() - t0)
        results[f"{name}_s"] = statistics.median(times)
        names = run_names(res)
        results[f"{name}_digest"] = names_digest(names)
        if names != expected_names:
            results.setdefault("checks", {})[name] = f"got {len(names)} runs; {mismatch}"

    # ---------------------------------------------------------------- 5. filtered search
    def w_search():
        exp_top100, _, n_match = expected()
        timed_client_search(
            "search_filter",
            cfg["search_repeats"],
            exp_top100,
            f"expected {len(exp_top100)} (of {n_match} matching); order/content differs",
            filter_string=SEARCH_FILTER,
            max_results=100,
        )

    # ---------------------------------------------------------------- 6. order by, 1000 rows
    def w_order():
        _, exp_top1000, _ = expected()
        timed_client_search(
            "search_order", cfg["order_repeats"], exp_top1000, "order/content differs from expected", max_results=1000
        )

    # ---------------------------------------------------------------- 7. pandas
    def w_pandas():
        times = []
        for _ in range(cfg["pandas_repeats"]):
            t0 = time.perf_counter()
            df = mlflow.search_runs(experiment_ids=[state["search_exp"]])
            times.append(time.perf_counter() - t0)
        results["pandas_s"] = statistics.median(times)
        results["pandas_shape"] = list(df.shape)
        if len(df) != cfg["runs"]:
            results.setdefault("checks", {})["pandas"] = f"got {len(df)} rows, expected {cfg['runs']}"

    # ---------------------------------------------------------------- 8. artifacts
    def w_artifacts():
        tmp = tempfile.mkdtemp(prefix="cairn-bench-art-")
        try:
            src = os.path.join(tmp, "blob.bin")
            size = cfg["artifact_mb"] * 1024 * 1024
            rnd = random.Random(42)
            with open(src, "wb") as f:
                f.write(rnd.randbytes(size))
            want = hashlib.sha256(open(src, "rb").read()).hexdigest()
            run = client.create_run(state["exp"], run_name="artifacts")
            rid = run.info.run_id
            up, down = [], []
            for k in range(cfg["artifact_repeats"]):
                t0 = time.perf_counter()
                client.log_artifact(rid, src, artifact_path=f"d{k}")
                up.append(time.perf_counter() - t0)
                dst = os.path.join(tmp, f"dl{k}")
                os.makedirs(dst)
                t0 = time.perf_counter()
                p = client.download_artifacts(rid, f"d{k}/blob.bin", dst)
                down.append(time.perf_counter() - t0)
                got = hashlib.sha256(open(p, "rb").read()).hexdigest()
                if got != want:
                    results.setdefault("checks", {})["artifacts"] = "downloaded bytes differ from uploaded"
                shutil.rmtree(dst)
            mb = size / 1e6
            results["artifact_up_mb_s"] = mb / statistics.median(up)
            results["artifact_down_mb_s"] = mb / statistics.median(down)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---------------------------------------------------------------- raw HTTP (server cost)
    # The same requests the client sends, made with `requests` and `json` alone: what is left is
    # the server's own cost plus a minimal client, so the official client's overhead shows as the
    # difference between these rows and the ones above.
    def w_raw():
        s = requests.Session()
        rid = state["ingest_run"]
        lat = []
        for k in range(cfg["latency_calls"]):
            body = {"run_id": rid, "key": "raw_lat", "value": float(k), "timestamp": BASE_TS + k, "step": k}
            t0 = time.perf_counter()
            s.post(rest + "runs/log-metric", json=body, timeout=120).raise_for_status()
            lat.append((time.perf_counter() - t0) * 1000.0)
        results["raw_log_metric_p50_ms"] = statistics.median(lat)
        bodies = [
            json.dumps(
                {
                    "run_id": rid,
                    "metrics": [
                        {
                            "key": "raw_series",
                            "value": (b * 1000 + k) * 0.5,
                            "timestamp": BASE_TS + k,
                            "step": b * 1000 + k,
                        }
                        for k in range(1000)
                    ],
                }
            )
            for b in range(cfg["ingest_trial"] * 2)
        ]
        headers = {"Content-Type": "application/json"}
        t0 = time.perf_counter()
        for body in bodies:
            s.post(rest + "runs/log-batch", data=body, headers=headers, timeout=120).raise_for_status()
        results["raw_ingest_pts_s"] = len(bodies) * 1000 / (time.perf_counter() - t0)

        def timed_search(body, repeats):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                r = s.post(rest + "runs/search", json=body, timeout=600)
                r.raise_for_status()
                runs = r.json().get("runs", [])
                times.append(time.perf_counter() - t0)
            return statistics.median(times), len(runs)

        exp = state["search_exp"]
        order = [f"{SEARCH_ORDER[0]}"]
        results["raw_search_filter_s"], _ = timed_search(
            {"experiment_ids": [exp], "filter": SEARCH_FILTER, "order_by": order, "max_results": 100},
            cfg["search_repeats"],
        )
        results["raw_search_order_s"], _ = timed_search(
            {"experiment_ids": [exp], "order_by": order, "max_results": 1000}, cfg["order_repeats"]
        )
        results["raw_search_all_s"], n = timed_search({"experiment_ids": [exp], "max_results": 50000}, 1)
        if n != cfg["runs"]:
            results.setdefault("checks", {})["raw_search_all"] = f"got {n} runs, expected {cfg['runs']}"

    steps = [
        ("ingest", w_ingest),
        ("history", w_history),
        ("latency", w_latency),
        ("create", w_create),
        ("artifacts", w_artifacts),
        ("populate", w_populate),
        ("search", w_search),
        ("order", w_order),
        ("pandas", w_pandas),
        ("raw", w_raw),
    ]
    only = set(args.steps.split(",")) if args.steps else None
    if only:  # prerequisites
        if only & {"history", "latency", "create", "artifacts"}:
            only.add("ingest")
        if only & {"search", "order", "pandas", "raw"}:
            only.add("populate")
        if "raw" in only:
            only.add("ingest")
    for name, fn in steps:
        if only and name not in only:
            continue
        if name in ("history", "latency", "create", "artifacts") and "ingest_run" not in state:
            continue
        if name in ("search", "order", "pandas", "raw") and "search_exp" not in state:
            continue
        record(name, fn)
    save()


# --------------------------------------------------------------------------------------------
# orchestrator
# --------------------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_tree(root):
    """pid of root and all its descendants (via /proc/*/stat ppid)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def vm(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
    except OSError:
        pass
    return 0


def pss(pid):
    """Proportional set size (kB): shared pages split between the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Samples the summed VmRSS of the server's process tree every 0.2 s (PSS every 2 s)."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root, self.peak, self.peak_pss, self.stop_ev, self.hwm = root, 0, 0, threading.Event(), {}
        self.n = 0

    def sample(self, with_pss=True):
        pids = proc_tree(self.root)
        total = sum(vm(p, "VmRSS") for p in pids)
        for p in pids:
            self.hwm[p] = max(self.hwm.get(p, 0), vm(p, "VmHWM"))
        self.peak = max(self.peak, total)
        total_pss = None
        if with_pss:
            total_pss = sum(pss(p) for p in pids)
            self.peak_pss = max(self.peak_pss, total_pss)
        return total, total_pss, len(pids)

    def run(self):
        while not self.stop_ev.wait(0.2):
            self.n += 1
            self.sample(with_pss=self.n % 10 == 0)


def wait_health(url, proc, timeout=120):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not answer /health in time")


def stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bench_server(target, args, cfg):
    tmp = tempfile.mkdtemp(prefix=f"cairn-bench-{target}-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if target == "mlflow":
        mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
        cmd = [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp}/mlflow.db",
            "--artifacts-destination",
            f"{tmp}/art",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if args.mlflow_workers:
            cmd += ["--workers", str(args.mlflow_workers)]
    else:
        cmd = [args.cairn_bin, "server", "--host", "127.0.0.1", "--port", str(port), "--data", tmp]
    log_path = os.path.join(WORK, f"{target}-server.log")
    print(f"== {target}: {' '.join(cmd)}", flush=True)
    logf = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)
    res = {"cmd": " ".join(cmd), "load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    try:
        res["startup_s"] = wait_health(url, proc)
        time.sleep(3)  # let workers settle
        sampler = RssSampler(proc.pid)
        idle, idle_pss, nproc = sampler.sample()
        res["idle_rss_mb"] = idle / 1024
        res["idle_pss_mb"] = idle_pss / 1024
        res["server_procs"] = nproc
        sampler.start()
        out = os.path.join(WORK, f"{target}-results.json")
        env = dict(
            os.environ,
            MLFLOW_TRACKING_URI=url,
            MLFLOW_HTTP_REQUEST_MAX_RETRIES=str(args.client_retries),
            MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1",
            MLFLOW_HTTP_REQUEST_TIMEOUT="900",
        )
        wcmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            "--target",
            target,
            "--cfg",
            json.dumps(cfg),
            "--out",
            out,
        ]
        if args.steps:
            wcmd += ["--steps", args.steps]
        t0 = time.perf_counter()
        try:
            rc = subprocess.call(wcmd, env=env, timeout=args.worker_timeout)
        except subprocess.TimeoutExpired:
            rc = "timeout"
            res.setdefault("errors", {})["worker"] = f"workload still running after {args.worker_timeout}s: killed"
        res["worker_wall_s"] = time.perf_counter() - t0
        sampler.sample()
        sampler.stop_ev.set()
        sampler.join()
        res["peak_rss_mb"] = sampler.peak / 1024
        res["peak_pss_mb"] = sampler.peak_pss / 1024
        res["hwm_sum_mb"] = sum(sampler.hwm.values()) / 1024
        res["server_procs_seen"] = len(sampler.hwm)
        if rc not in (0, "timeout"):
            res.setdefault("errors", {})["worker"] = f"worker exited with {rc}"
        if os.path.exists(out):
            with open(out) as f:
                w = json.load(f)
            for k in ("errors", "checks"):
                if k in w and k in res:
                    w[k].update(res.pop(k))
            res.update(w)
        if proc.poll() is not None:
            res.setdefault("errors", {})["server"] = f"server exited with code {proc.returncode} during the run"
        logf.flush()
        with open(log_path, errors="replace") as f:
            died = sum(1 for line in f if "Child process" in line and "died" in line)
        if died:
            res.setdefault("checks", {})["server_workers"] = (
                f"{died} uvicorn worker(s) died during the run (uvicorn kills a worker that misses its "
                "5 s health-check ping, e.g. when CPU-starved); in-flight requests were dropped and retried"
            )
        du = subprocess.run(["du", "-sk", tmp], capture_output=True, text=True).stdout.split()
        res["disk_mb"] = int(du[0]) / 1024 if du else None
    except Exception as e:  # noqa: BLE001
        res.setdefault("errors", {})["server"] = f"{type(e).__name__}: {e}"
        print(f"== {target}: {e} (see {log_path})", flush=True)
    finally:
        stop(proc)
        logf.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


ROWS = [
    # key, label, unit/format, higher_is_better
    ("startup_s", "server start until /health answers (s)", "{:.2f}", False),
    ("ingest_pts_s", "ingest: `log_batch` 1000 metrics/call (points/s, median of trials)", "{:,.0f}", True),
    ("log_metric_p50_ms", "`log_metric` round trip p50 (ms)", "{:.1f}", False),
    ("log_metric_p95_ms", "`log_metric` round trip p95 (ms)", "{:.1f}", False),
    ("create_runs_s", "`create_run` + one `log_batch` (runs/s)", "{:.1f}", True),
    ("history_s", "`get_metric_history`, {points:,}-point series (s)", "{:.2f}", False),
    ("populate_runs_s", "populate {runs:,} runs via REST, {threads} threads (runs/s)", "{:.1f}", True),
    ("populate_s", "populate {runs:,} runs: wall time (s)", "{:.1f}", False),
    (
        "search_filter_s",
        "`search_runs` {runs:,} runs, filter metric+param+tag, order by metric, top 100 (s)",
        "{:.3f}",
        False,
    ),
    ("search_order_s", "`search_runs` {runs:,} runs, order by metric, 1000 rows (s)", "{:.3f}", False),
    ("pandas_s", "`mlflow.search_runs` → pandas, all {runs:,} runs (s)", "{:.2f}", False),
    ("raw_ingest_pts_s", "raw HTTP: `runs/log-batch` 1000 metrics/call, pre-encoded (points/s)", "{:,.0f}", True),
    ("raw_log_metric_p50_ms", "raw HTTP: `runs/log-metric` round trip p50 (ms)", "{:.2f}", False),
    ("raw_search_filter_s", "raw HTTP: filtered search, top 100, JSON decoded (s)", "{:.3f}", False),
    ("raw_search_order_s", "raw HTTP: ordered search, 1000 rows, JSON decoded (s)", "{:.3f}", False),
    ("raw_search_all_s", "raw HTTP: all {runs:,} runs in one request, JSON decoded (s)", "{:.2f}", False),
    ("artifact_up_mb_s", "artifact upload, {artifact_mb} MB file (MB/s)", "{:.0f}", True),
    ("artifact_down_mb_s", "artifact download, {artifact_mb} MB file (MB/s)", "{:.0f}", True),
    ("idle_rss_mb", "server RSS idle after start (MB)", "{:.0f}", False),
    ("peak_rss_mb", "server RSS peak during run, sampled every 0.2 s (MB)", "{:.0f}", False),
    ("hwm_sum_mb", "server VmHWM, summed over its processes (MB)", "{:.0f}", False),
    ("idle_pss_mb", "server PSS idle (MB; shared pages counted once)", "{:.0f}", False),
    ("peak_pss_mb", "server PSS peak, sampled every 2 s (MB)", "{:.0f}", False),
    ("disk_mb", "data dir size at the end (MB)", "{:.0f}", False),
]


def fmt(v, f):
    if v is None:
        return "—"
    try:
        return f.format(v)
    except (ValueError, TypeError):
        return str(v)


def table(results, cfg, targets):
    ctx = dict(cfg, points=cfg["ingest_calls"] * 1000)
    head = "| measure | " + " | ".join({"mlflow": "MLflow", "cairn": "Cairn"}[t] for t in targets)
    if len(targets) == 2:
        head += " | ratio |\n|---|---:|---:|---:|"
    else:
        head += " |\n|---|" + "---:|" * len(targets)
    lines = [head]
    for key, label, f, higher in ROWS:
        vals = [results[t].get(key) for t in targets]
        if all(v is None for v in vals):
            continue
        row = f"| {label.format(**ctx)} | " + " | ".join(
            ("ERR" if v is None and results[t].get("errors") else fmt(v, f)) for v, t in zip(vals, targets, strict=True)
        )
        if len(targets) == 2:
            a, b = vals
            ratio = "—"
            if a and b:
                r = (b / a) if higher else (a / b)  # > 1: Cairn is better
                mem = key.endswith("_mb")
                good, bad = ("less", "more") if mem else ("faster", "slower")
                ratio = f"{r:.1f}× {good}" if r >= 1 else f"{1 / r:.1f}× {bad}"
            row += f" | {ratio} |"
        else:
            row += " |"
        lines.append(row)
    return "\n".join(lines)


def versions(args, targets):
    v = {}
    try:
        import importlib.metadata as md

        v["mlflow"] = md.version("mlflow")
        v["pandas"] = md.version("pandas")
    except Exception:  # noqa: BLE001
        pass
    if "cairn" in targets:
        try:
            v["cairn"] = (
                subprocess.run([args.cairn_bin, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
                or "?"
            )
        except Exception:  # noqa: BLE001
            v["cairn"] = "?"
    return v


def orchestrate(args):
    cfg = dict(QUICK if args.quick else FULL)
    for k in ("runs", "threads", "ingest_calls", "latency_calls", "create_runs", "artifact_mb"):
        val = getattr(args, k)
        if val is not None:
            cfg[k] = val
    targets = ["mlflow", "cairn"] if args.only == "both" else [args.only]
    if "cairn" in targets:
        if not args.cairn_bin or not os.access(args.cairn_bin, os.X_OK):
            sys.exit(f"cairn binary not found: {args.cairn_bin!r} (set CAIRN_BIN or --cairn-bin)")
    os.makedirs(WORK, exist_ok=True)
    t_start = time.time()
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = {}
    for t in targets:
        cfg_id = hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:8]
        last = os.path.join(WORK, f"last-{t}-{cfg_id}.json")  # one file per workload config
        if t == "mlflow" and args.reuse_mlflow:
            with open(last) as f:
                prev = json.load(f)
            if prev["cfg"] != cfg:
                sys.exit(f"--reuse-mlflow: {last} was measured with another config: {prev['cfg']}")
            results[t] = prev["result"]
            results[t]["reused_from"] = prev["date"]
            print(f"== mlflow: reusing the results of {prev['date']} from {last}", flush=True)
            continue
        t0 = time.perf_counter()
        results[t] = bench_server(t, args, cfg)
        results[t]["total_s"] = time.perf_counter() - t0
        print(f"== {t}: finished in {results[t]['total_s']:.0f}s", flush=True)
        with open(last, "w") as f:
            json.dump(
                {
                    "cfg": cfg,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "load_at_start": load_at_start,
                    "result": results[t],
                },
                f,
                indent=1,
            )
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump({"cfg": cfg, "results": results}, f, indent=1)

    md = []
    md.append(f"# Cairn vs MLflow benchmark ({'quick' if args.quick else 'full'} run)\n")
    md.append(table(results, cfg, targets))
    md.append("")
    # cross-server consistency of search answers
    if len(targets) == 2:
        for k in ("search_filter_digest", "search_order_digest"):
            a, b = results["mlflow"].get(k), results["cairn"].get(k)
            if a and b and a != b:
                md.append(f"- **{k}: the two servers returned different runs/orders** ({a} vs {b})")
    for t in targets:
        for k in ("errors", "checks"):
            for name, msg in results[t].get(k, {}).items():
                md.append(f"- {t} {k[:-1]} `{name}`: {msg}")
    ver = versions(args, targets)
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    md.append("")
    md.append("## Setup")
    md.append(
        f"- load average when the benchmark started: {load_at_start} (other work on the machine skews the numbers)"
    )
    md.append(
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t_start))}; "
        f"nproc: {os.cpu_count()}; cpu: {cpu or platform.processor()}; "
        f"mem: {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"python {platform.python_version()}; " + "; ".join(f"{k} {v}" for k, v in ver.items())
    )
    for t in targets:
        r = results[t]
        extra = ""
        if t == "mlflow":
            extra = (
                f" — `--workers`: {args.mlflow_workers or 'not given (MLflow default: 4 uvicorn workers)'}; "
                f"memory is summed over all {r.get('server_procs', '?')} processes of the server's tree "
                "(CLI launcher, uvicorn master + workers, the job runner and its huey consumers)"
            )
        if t == "cairn" and "debug" in (args.cairn_bin or ""):
            extra = " — **debug build: numbers are not representative**"
        if r.get("reused_from"):
            extra += f" — **reused from the run of {r['reused_from']}** (`--reuse-mlflow`)"
        md.append(
            f"- {t}: `{r.get('cmd')}`{extra}; total {r.get('total_s', 0):.0f}s; "
            f"load average at its start: {r.get('load_at_start', '?')}"
        )
    md.append(f"- config: {json.dumps(cfg)}")
    md.append(
        f"- client: official `mlflow` client, `MLFLOW_HTTP_REQUEST_MAX_RETRIES={args.client_retries}`; servers run one "
        "after the other, each with a fresh temp dir; the search dataset is created with "
        "`requests` (runs/create + runs/log-batch) from a thread pool, identical data for both."
    )
    text = "\n".join(md) + "\n"
    print()
    print(text)
    with open(os.path.join(WORK, "results.md"), "w") as f:
        f.write(text)
    print(f"(written to {os.path.join(WORK, 'results.md')})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run: 1,000 runs, 20k-point series, 10 MB file")
    ap.add_argument("--only", choices=["both", "mlflow", "cairn"], default="both")
    ap.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN") or os.path.join(REPO, "target/release/cairn"))
    ap.add_argument(
        "--mlflow-workers",
        type=int,
        default=None,
        help="pass --workers N to `mlflow server` (default: MLflow's own default)",
    )
    ap.add_argument("--runs", type=int, help="size of the search dataset (full: 10000)")
    ap.add_argument("--threads", type=int, help="threads used to populate the search dataset")
    ap.add_argument("--ingest-calls", type=int, help="log_batch calls of 1000 points (= history length / 1000)")
    ap.add_argument("--latency-calls", type=int)
    ap.add_argument("--create-runs", type=int)
    ap.add_argument("--artifact-mb", type=int)
    ap.add_argument(
        "--steps",
        help="comma list of workloads to run (ingest,history,latency,create,artifacts,"
        "populate,search,order,pandas); ingest/populate always run when needed",
    )
    ap.add_argument(
        "--reuse-mlflow",
        action="store_true",
        help="don't rerun MLflow: reuse its last results for the same config (bench/.work/last-mlflow-*.json)",
    )
    ap.add_argument(
        "--client-retries",
        type=int,
        default=3,
        help="MLFLOW_HTTP_REQUEST_MAX_RETRIES for the client (its own default is 7)",
    )
    ap.add_argument(
        "--worker-timeout",
        type=int,
        default=7200,
        help="seconds after which one server's workload is killed (default 7200)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the servers' temp dirs")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
    else:
        # stop cleanly (servers and worker killed in `finally`) on SIGTERM, and on SIGINT even when
        # started in the background with SIGINT ignored
        def _stop(signum, _frame):
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        orchestrate(args)


if __name__ == "__main__":
    main()
