#!/usr/bin/env python3
"""Seeds a Cairn server with the UI benchmark's datasets, fast, through the native API.

    seed_ui.py URL runs N                 # N runs in one experiment: 5 params, 5 metrics, 2 tags
    seed_ui.py URL compare RUNS KEYS STEPS  # RUNS runs × KEYS metrics × STEPS steps
    seed_ui.py URL runpage KEYS POINTS      # one run with KEYS metrics of POINTS points

Prints one JSON line: the experiment id and the run ids (or their pattern) the browser bench
needs. Requests go from a pool of threads, each with its own keep-alive `http.client`
connection: `PUT /api/v1/runs/{id}` (run, tags, start time), `POST /api/v1/runs/{id}/metrics`
(JSON columns for a few points; the binary layout `application/vnd.cairn.metrics` for long
series) and MLflow's `POST /api/2.0/mlflow/runs/log-batch` (params). A 429 is retried after its
`Retry-After`.

Run ids are 32 hex digits: a fixed 24-digit prefix per dataset and the run's index in 8, so the
bench can tell a row's index from its id. Start times grow with the index.
"""

from __future__ import annotations

import http.client
import json
import math
import struct
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import numpy as np

T0 = 1_780_000_000_000
THREADS = 8
PREFIX = {"runs": "7a11e5", "compare": "c0a9a2", "runpage": "4a9e00"}


def run_id(kind: str, index: int) -> str:
    return PREFIX[kind].ljust(24, "0") + f"{index:08x}"


class Client:
    """One keep-alive HTTP connection per thread."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.local = threading.local()

    def conn(self) -> http.client.HTTPConnection:
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        return c

    def request(self, method: str, path: str, body: bytes, content_type: str = "application/json") -> dict:
        for attempt in range(30):
            c = self.conn()
            try:
                c.request(method, path, body=body, headers={"Content-Type": content_type})
                resp = c.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException):
                c.close()
                self.local.conn = None
                time.sleep(0.2 * (attempt + 1))
                continue
            if resp.status == 429:
                time.sleep(float(resp.getheader("Retry-After", "1")))
                continue
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {data[:500]!r}")
            return json.loads(data) if data else {}
        raise RuntimeError(f"{method} {path}: gave up after retries")

    def json(self, method: str, path: str, obj: dict) -> dict:
        return self.request(method, path, json.dumps(obj).encode())


def experiment(client: Client, name: str) -> str:
    """The id of experiment `name`, created when missing."""
    query = urllib.parse.quote(f"name = '{name}'")
    found = client.request("GET", f"/api/v1/experiments?filter={query}", b"").get("experiments", [])
    if found:
        return found[0]["experiment_id"]
    return client.json("POST", "/api/v1/experiments", {"name": name})["experiment"]["experiment_id"]


def binary_body(series: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """The binary ingest layout: `CAIRNIN1`, u32 count, then per series key, n, flags, columns."""
    out = [b"CAIRNIN1", struct.pack("<I", len(series))]
    for key, steps, stamps, values in series:
        raw = key.encode()
        out.append(struct.pack("<H", len(raw)) + raw + struct.pack("<IB", len(steps), 0))
        out += [steps.astype("<i8").tobytes(), stamps.astype("<i8").tobytes(), values.astype("<f8").tobytes()]
    return b"".join(out)


def parallel(fn, items, threads: int = THREADS, label: str = "") -> None:
    """Runs fn over items from a thread pool, printing progress to stderr."""
    start, done, total = time.time(), 0, len(items)
    step = max(1, total // 20)
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(fn, items):
            done += 1
            if done % step == 0 or done == total:
                rate = done / max(time.time() - start, 1e-9)
                print(f"  {label} {done:,}/{total:,} ({rate:,.0f}/s)", file=sys.stderr, flush=True)


def noise(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    return rng.standard_normal(n) * scale


# ---- 1. the runs table: N runs with 5 params, 5 latest metric values, 2 tags


def run_metrics(i: int) -> dict[str, float]:
    """Deterministic pseudo-random values in (0, 1) (Knuth's multiplicative hash)."""
    h = [((i * 2654435761 + k * 40503) % 2**32) / 2**32 for k in range(5)]
    return {
        "loss": h[0],
        "accuracy": 1 - h[0] * 0.9,
        "val_loss": h[0] * 0.8 + h[1] * 0.4,
        "throughput": 1000 + 9000 * h[2],
        "grad_norm": math.exp(4 * h[3] - 2),
    }


def seed_runs(client: Client, n: int) -> dict:
    exp = experiment(client, f"ui-runs-{n}")

    def one(i: int) -> None:
        rid = run_id("runs", i)
        tags = [{"key": "team", "value": ("vision", "nlp", "speech")[i % 3]}, {"key": "stage", "value": "sweep"}]
        client.json(
            "PUT",
            f"/api/v1/runs/{rid}",
            {
                "experiment_id": exp,
                "run_name": f"run-{i:06d}",
                "start_time": T0 + i * 1000,
                "tags": tags,
            },
        )
        stamp = T0 + i * 1000
        metrics = [{"key": k, "steps": [100], "values": [v], "timestamp": stamp} for k, v in run_metrics(i).items()]
        client.json("POST", f"/api/v1/runs/{rid}/metrics", {"metrics": metrics})
        params = {
            "lr": str(10 ** -(1 + i % 4)),
            "batch_size": str(2 ** (4 + i % 4)),
            "optimizer": ("adam", "sgd", "adamw")[i % 3],
            "dropout": f"{(i % 10) / 20:.2f}",
            "seed": str(i),
        }
        client.json(
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            {"run_id": rid, "params": [{"key": k, "value": v} for k, v in params.items()]},
        )

    parallel(one, range(n), threads=16, label="runs")
    return {"experiment_id": exp, "runs": n, "id_prefix": run_id("runs", 0)[:24]}


# ---- 2. compare: RUNS runs × KEYS metrics × STEPS steps (binary ingest, one request a run)

COMPARE_KEYS = ["loss", "val_loss", "accuracy", "lr", "grad_norm", "throughput", "val_accuracy", "perplexity"]


def curves(rng: np.random.Generator, key_index: int, steps: int, skill: float) -> np.ndarray:
    x = np.arange(steps, dtype=np.float64) / max(steps - 1, 1)
    base = (0.2 + skill) * np.exp(-4 * x) + skill * 0.3
    shapes = [
        base + noise(rng, steps, 0.02),
        base * 1.1 + 0.05 + noise(rng, steps, 0.03),
        1 - base / 2 + noise(rng, steps, 0.01),
        1e-3 * np.cos(np.pi * x / 2) ** 2,
        np.abs(1 + noise(rng, steps, 0.3)) * (1 - x / 2),
    ]
    if key_index < len(shapes):
        return shapes[key_index]
    return base * (key_index + 1) + noise(rng, steps, 0.05)


def seed_compare(client: Client, runs: int, keys: int, steps: int) -> dict:
    exp = experiment(client, f"ui-compare-{runs}x{keys}x{steps}")
    names = COMPARE_KEYS[:keys] + [f"metric_{k}" for k in range(len(COMPARE_KEYS), keys)]

    def one(i: int) -> None:
        rid = run_id("compare", i)
        client.json(
            "PUT",
            f"/api/v1/runs/{rid}",
            {"experiment_id": exp, "run_name": f"cmp-{i:04d}", "start_time": T0 + i * 1000},
        )
        rng = np.random.default_rng(i)
        skill = rng.uniform(0, 1)
        step_col = np.arange(steps, dtype=np.int64)
        stamps = T0 + i * 1000 + step_col * 100
        series = [(k, step_col, stamps, curves(rng, j, steps, skill)) for j, k in enumerate(names)]
        client.request("POST", f"/api/v1/runs/{rid}/metrics", binary_body(series), "application/vnd.cairn.metrics")
        params = {"lr": f"{skill / 100:.5f}", "optimizer": ("adam", "sgd")[i % 2], "seed": str(i)}
        client.json(
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            {"run_id": rid, "params": [{"key": k, "value": v} for k, v in params.items()]},
        )

    parallel(one, range(runs), threads=4, label="compare runs")
    return {"experiment_id": exp, "run_ids": [run_id("compare", i) for i in range(runs)], "keys": names}


# ---- 3. the run page: one run with KEYS metrics of POINTS points (binary, ≤ 1M points a request)

CHUNK = 1_000_000


def seed_runpage(client: Client, keys: int, points: int) -> dict:
    exp = experiment(client, f"ui-runpage-{keys}x{points}")
    rid = run_id("runpage", 0)
    client.json("PUT", f"/api/v1/runs/{rid}", {"experiment_id": exp, "run_name": "long-run", "start_time": T0})
    jobs = [(k, lo) for k in range(keys) for lo in range(0, points, CHUNK)]

    def one(job: tuple[int, int]) -> None:
        k, lo = job
        hi = min(points, lo + CHUNK)
        rng = np.random.default_rng(k * 1_000_003 + lo)
        steps = np.arange(lo, hi, dtype=np.int64)
        x = steps / points
        values = (1 + k / 10) * np.exp(-3 * x) + 0.05 * np.sin(40 * x) + rng.standard_normal(hi - lo) * 0.02
        body = binary_body([(f"metric_{k:02d}", steps, T0 + steps * 10, values)])
        client.request("POST", f"/api/v1/runs/{rid}/metrics", body, "application/vnd.cairn.metrics")

    parallel(one, jobs, threads=2, label="run page chunks")
    return {"experiment_id": exp, "run_id": rid, "keys": keys, "points": points}


def main() -> None:
    url, kind, *sizes = sys.argv[1:]
    client = Client(url)
    started = time.time()
    sizes_i = [int(s) for s in sizes]
    if kind == "runs":
        out = seed_runs(client, *sizes_i)
    elif kind == "compare":
        out = seed_compare(client, *sizes_i)
    elif kind == "runpage":
        out = seed_runpage(client, *sizes_i)
    else:
        raise SystemExit(f"unknown dataset {kind!r}")
    out["seed_seconds"] = round(time.time() - started, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
