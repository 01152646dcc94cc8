#!/usr/bin/env python3
"""Uploads to S3-backed artifacts: parts through the Cairn server vs straight to the bucket at
presigned part URLs (``cairn artifacts upload --direct``).

Starts an S3-compatible server (s3s-fs, the one the tests use: ``$CAIRN_S3S_FS`` or the cache path
``scripts/lib.sh``'s ``ensure_s3s_fs`` installs it to) and ``cairn server --artifacts s3://...``
on loopback, then uploads ``--trials`` fresh random files of ``--size-mb`` each way, alternating,
with the page cache dropped before each (needs root; otherwise the output says so). For each
upload it prints the wall time (the command's own hashing included), the speed, and the CPU
seconds of the Cairn server, of s3s-fs and of the client; then the medians and the ratios.
Everything runs on this one machine, so the bucket's disk, the client and both servers share its
cores and disk: the numbers compare the two paths here, not a real network.

    python3 bench/artifacts/s3_direct.py --size-mb 2000 --trials 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

from bench_artifacts import cpu_seconds, drop_caches, free_port, proc_tree  # this folder is on sys.path

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
S3S_FS_VERSION = "0.14.1"
ACCESS, SECRET, BUCKET = "bench-access", "bench-secret", "cairn"
BLOCK = 16 << 20


def s3s_fs_binary() -> str:
    path = os.environ.get("CAIRN_S3S_FS") or os.path.expanduser(f"~/.cache/cairn/s3s-fs-{S3S_FS_VERSION}/bin/s3s-fs")
    if not os.path.isfile(path):
        raise SystemExit(
            f"s3s-fs not found at {path}: run `source scripts/lib.sh && ensure_s3s_fs` first (or set CAIRN_S3S_FS)"
        )
    return path


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (s3s-fs refuses anonymous requests)
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s")


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def make_file(path: str, size: int) -> None:
    """``size`` random bytes (one random block, each copy XOR-ed differently: no two files or
    blocks alike)."""
    block = bytearray(os.urandom(BLOCK))
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block[:8] = os.urandom(8)
            n = min(left, BLOCK)
            f.write(block[:n])
            left -= n
        f.flush()
        os.fdatasync(f.fileno())


def line(label: str, row: dict) -> str:
    return (
        f"  {label:<20} {row['seconds']:6.2f} s  {row['mb_s']:7.0f} MB/s   CPU s: server {row['server_cpu']:5.2f}"
        f"  s3s-fs {row['s3_cpu']:5.2f}  client {row['client_cpu']:5.2f}"
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=4, help="parts in flight (cairn artifacts upload --parallel)")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one under /var/tmp)")
    parser.add_argument("--cairn", default=os.environ.get("CAIRN_BIN") or os.path.join(REPO, "target/release/cairn"))
    args = parser.parse_args()
    if not os.path.isfile(args.cairn):
        raise SystemExit(f"{args.cairn} not found: build it (cargo build --release -p cairn) or pass --cairn")
    work = tempfile.mkdtemp(prefix="cairn-s3-direct-", dir=args.dir or "/var/tmp")
    procs: list[subprocess.Popen] = []
    try:
        s3_port, cairn_port = free_port(), free_port()
        os.makedirs(os.path.join(work, "s3", BUCKET))
        s3 = subprocess.Popen(
            [s3s_fs_binary(), "--host", "127.0.0.1", "--port", str(s3_port), "--access-key", ACCESS,
             "--secret-key", SECRET, os.path.join(work, "s3")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"),
        )  # fmt: skip
        procs.append(s3)
        endpoint = f"http://127.0.0.1:{s3_port}"
        wait_http(endpoint)
        env = dict(
            os.environ,
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID=ACCESS,
            AWS_SECRET_ACCESS_KEY=SECRET,
            AWS_REGION="us-east-1",
            AWS_ALLOW_HTTP="true",
        )
        server = subprocess.Popen(
            [args.cairn, "server", "--host", "127.0.0.1", "--port", str(cairn_port), "--data",
             os.path.join(work, "data"), "--artifacts", f"s3://{BUCKET}/bench"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "server.log"), "w"), env=env,
        )  # fmt: skip
        procs.append(server)
        url = f"http://127.0.0.1:{cairn_port}"
        wait_http(url + "/health")
        experiment = post(url + "/api/2.0/mlflow/experiments/create", {"name": "s3-direct-bench"})
        run = post(url + "/api/2.0/mlflow/runs/create", {"experiment_id": experiment["experiment_id"]})
        run_id = run["run"]["info"]["run_id"]
        size = args.size_mb * 1_000_000
        print(f"{args.size_mb} MB files, {args.trials} trials each way, --parallel {args.parallel}; "
              f"s3s-fs {S3S_FS_VERSION} at {endpoint}; {args.cairn}")  # fmt: skip
        cached = False
        results: dict[str, list[dict]] = {"through the server": [], "straight to storage": []}
        for trial in range(args.trials):
            for label in results:
                path = os.path.join(work, "upload.bin")
                make_file(path, size)
                cached = not drop_caches() or cached
                cmd = [args.cairn, "artifacts", "upload", run_id, path, "--path", f"{trial}-{label[:3]}.bin",
                       "--parallel", str(args.parallel), "--server", url]  # fmt: skip
                if label == "straight to storage":
                    cmd.append("--direct")
                server_cpu = cpu_seconds(proc_tree(server.pid))
                s3_cpu = cpu_seconds([s3.pid])
                client_cpu = children_cpu()
                start = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, XDG_CACHE_HOME=work))
                seconds = time.perf_counter() - start
                if done.returncode != 0:
                    raise SystemExit(f"upload failed: {done.stderr.strip()}")
                row = {
                    "seconds": seconds,
                    "mb_s": size / 1e6 / seconds,
                    "server_cpu": cpu_seconds(proc_tree(server.pid)) - server_cpu,
                    "s3_cpu": cpu_seconds([s3.pid]) - s3_cpu,
                    "client_cpu": children_cpu() - client_cpu,
                }
                results[label].append(row)
                print(line(label, row))
                os.unlink(path)
        if cached:
            print("  (the page cache could not be dropped: not root; files were read from memory)")
        print("medians:")
        medians = {}
        for label, rows in results.items():
            medians[label] = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
            print(line(label, medians[label]))
        via, direct = medians["through the server"], medians["straight to storage"]
        print(f"straight ÷ through: speed {direct['mb_s'] / via['mb_s']:.2f}×, "
              f"server CPU {direct['server_cpu'] / max(via['server_cpu'], 1e-9):.2f}×")  # fmt: skip
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
