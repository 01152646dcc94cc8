"""The model registry through the official client, MLflow's server beside Cairn.

Each server starts fresh in a temp dir; the workload runs in this process with the official
client (`MlflowClient`), the servers one after the other (never both at once). Prints a markdown
table of medians (milliseconds per call) and the ratio MLflow / Cairn; the loads are checked
(the downloaded file's bytes, the versions a search returns, the alias each lookup resolves).

Workload (full; --quick in brackets):
- create registered model: `create_registered_model` × 1,000 [200]
- search models: `search_registered_models(max_results=1000)` of them all, 20 [10] times
- create version: `create_model_version` × 500 [100] of one model, each from a run's folder
- search versions: `search_model_versions("name = 'm'")` (every version), 20 [10] times
- alias lookup: `get_model_version_by_alias` after `set_registered_model_alias`, 200 [100] times
- load by alias: `mlflow.artifacts.download_artifacts("models:/m@champion")` (alias lookup,
  download URI, listing and a 64 KiB file), 50 [20] times
- Cairn only: `GET /api/v1/lineage` around the run every version came from, depth 1 (every
  version and the run's files), 20 [10] times
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if kind == "mlflow":
        cmd = [
            str(Path(sys.executable).parent / "mlflow"),
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
    else:
        cmd = [os.environ["CAIRN_BIN"], "server", "--host", "127.0.0.1", "--port", str(port), "--data", str(tmp)]
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited: {(tmp / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{kind} server did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def workload(kind: str, url: str, sizes: dict[str, int], scratch: Path) -> dict[str, float]:
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    out: dict[str, float] = {}
    prefix = "bench-model-"
    out["create registered model"] = statistics.median(
        timed(lambda i=i: client.create_registered_model(f"{prefix}{i:05d}")) for i in range(sizes["models"])
    )

    def search_models() -> None:
        found = client.search_registered_models(max_results=1000)
        assert len(found) == sizes["models"], len(found)

    out["search models (all)"] = statistics.median(timed(search_models) for _ in range(sizes["searches"]))

    payload = os.urandom(64 * 1024)
    digest = hashlib.sha256(payload).hexdigest()
    mlflow.set_experiment("bench-registry")
    with mlflow.start_run() as run:
        (scratch / "model").mkdir(exist_ok=True)
        (scratch / "model" / "weights.bin").write_bytes(payload)
        (scratch / "model" / "MLmodel").write_text("flavors: {}\n")
        mlflow.log_artifacts(str(scratch / "model"), "model")
    source = f"{run.info.artifact_uri}/model"
    client.create_registered_model("m")
    out["create version"] = statistics.median(
        timed(lambda: client.create_model_version("m", source, run_id=run.info.run_id))
        for _ in range(sizes["versions"])
    )

    def search_versions() -> None:
        found = client.search_model_versions("name = 'm'")
        assert len(found) == sizes["versions"], len(found)

    out["search versions (all of one model)"] = statistics.median(
        timed(search_versions) for _ in range(sizes["searches"])
    )
    client.set_registered_model_alias("m", "champion", str(sizes["versions"]))

    def by_alias() -> None:
        assert client.get_model_version_by_alias("m", "champion").version == str(sizes["versions"])

    out["alias lookup"] = statistics.median(timed(by_alias) for _ in range(sizes["lookups"]))

    def load() -> None:
        target = Path(tempfile.mkdtemp(dir=scratch))
        local = mlflow.artifacts.download_artifacts("models:/m@champion", dst_path=str(target))
        assert hashlib.sha256(Path(local, "weights.bin").read_bytes()).hexdigest() == digest
        shutil.rmtree(target)

    out["load models:/m@champion (64 KiB)"] = statistics.median(timed(load) for _ in range(sizes["loads"]))
    if kind == "cairn":
        # No peer: MLflow has no lineage API. The run has every version downstream of it.
        node = urllib.parse.quote(f"run:{run.info.run_id}")

        def lineage() -> None:
            with urllib.request.urlopen(f"{url}/api/v1/lineage?node={node}&depth=1&max_nodes=1000", timeout=60) as r:
                graph = json.loads(r.read())
            assert len(graph["nodes"]) >= sizes["versions"], len(graph["nodes"])

        out["lineage around the run: every version and file (Cairn only)"] = statistics.median(
            timed(lineage) for _ in range(sizes["searches"])
        )
    return out


def cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["mlflow", "cairn"])
    args = parser.parse_args()
    sizes = (
        {"models": 200, "versions": 100, "searches": 10, "lookups": 100, "loads": 20}
        if args.quick
        else {"models": 1000, "versions": 500, "searches": 20, "lookups": 200, "loads": 50}
    )
    results: dict[str, dict[str, float]] = {}
    for kind in ("mlflow", "cairn"):
        if args.only and kind != args.only:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"cairn-bench-registry-{kind}-"))
        proc, url = start(kind, tmp)
        try:
            print(f"== {kind} at {url}", file=sys.stderr, flush=True)
            results[kind] = workload(kind, url, sizes, tmp)
        finally:
            stop(proc)
            shutil.rmtree(tmp, ignore_errors=True)
    measures = list(dict.fromkeys(m for r in results.values() for m in r))
    print(f"\nmodel registry, median ms per call ({'quick' if args.quick else 'full'}; nproc {os.cpu_count()})\n")
    print("| measure | MLflow | Cairn | MLflow / Cairn |")
    print("|---|---:|---:|---:|")
    for measure in measures:
        m = results.get("mlflow", {}).get(measure)
        c = results.get("cairn", {}).get(measure)
        ratio = f"{m / c:.1f}×" if m and c else "—"
        print(f"| {measure} | {cell(m)} | {cell(c)} | {ratio} |")


if __name__ == "__main__":
    main()
