#!/usr/bin/env python3
"""Artifact benchmark: Cairn's uploads and downloads against the disk's own speed and MLflow's server.

Run through ``bench/artifacts/run`` (it builds the binaries and picks the venv). In order:

1. the disk: ``dd`` sequential write (``conv=fdatasync``) and read (after dropping the page cache)
   of a file as large as the test file, in the same work folder, both through the page cache and
   with ``O_DIRECT``; the faster of the two is the disk's speed the transfers are held to (on the
   reference VM the page-cache path swings between a quarter of the raw disk's speed and all of it);
2. hashing: ``cairn-hash-bench speed`` (BLAKE3 vs SHA-256, one thread, 1 GiB in memory);
3. Cairn, a fresh server (and data folder) per part: (a) the official mlflow client's
   ``log_artifact`` / ``download_artifacts`` of the test file, (b) the native path
   (``cairn artifacts upload|download``, or the native routes driven from Python), each with the
   server's RSS sampled every 100 ms, (d) deduplication: the same file uploaded to a second run;
   each download goes to a file in the work folder (the client writes the same disk the
   server reads, so the disk's read+write speed bounds it) and, with ``--remote-dir``, to another
   filesystem, standing for a client on another machine;
4. MLflow's own server with the same client calls.

Every download is checked against the source's BLAKE3 digest and size. Sizes are in bytes; MB/s
means 10^6 bytes a second. The results are printed, nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MB = 1e6
BLOCK = 16 << 20  # dd's block size; file sizes are whole blocks
CLIENT_FILE = "payload.bin"


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# the mlflow client, in a process of its own per transfer (``--worker``)
# --------------------------------------------------------------------------------------------
def worker(spec: dict) -> None:
    """One ``log_artifact`` or ``download_artifacts`` call; prints a JSON line with its duration
    and which of the client's paths it took (multipart upload, ranged parallel download)."""
    from mlflow.store.artifact import http_artifact_repo
    from mlflow.tracking import MlflowClient

    used = {"multipart_upload": False, "multipart_download": False, "parts": 0}
    cls = http_artifact_repo.HttpArtifactRepository
    orig_upload, orig_download, orig_part = cls._try_multipart_upload, cls._multipart_download, cls._upload_part

    def try_multipart_upload(self, *args, **kwargs):
        used["multipart_upload"] = True
        used["threads"] = self.max_workers
        return orig_upload(self, *args, **kwargs)

    def multipart_download(self, *args, **kwargs):
        used["multipart_download"] = True
        used["threads"] = self.max_workers
        used["chunk_size"] = kwargs.get("chunk_size")
        return orig_download(self, *args, **kwargs)

    def upload_part(*args, **kwargs):
        used["parts"] += 1
        return orig_part(*args, **kwargs)

    cls._try_multipart_upload = try_multipart_upload
    cls._multipart_download = multipart_download
    cls._upload_part = staticmethod(upload_part)

    client = MlflowClient()
    t0 = time.perf_counter()
    if spec["op"] == "upload":
        client.log_artifact(spec["run_id"], spec["file"])
        out = {}
    else:
        path = client.download_artifacts(spec["run_id"], spec["name"], spec["dst"])
        out = {"path": path}
    out["seconds"] = time.perf_counter() - t0
    out.update(used)
    print("RESULT " + json.dumps(out), flush=True)


# --------------------------------------------------------------------------------------------
# machine helpers
# --------------------------------------------------------------------------------------------
def run_cmd(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def drop_caches() -> bool:
    """sync, then drop the page cache (root only); False when the kernel refused."""
    subprocess.run(["sync"], check=False)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def warm(path: str) -> float:
    """Reads a file to nowhere so it sits in the page cache; returns the seconds it took."""
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(BLOCK):
            pass
    return time.perf_counter() - t0


def fsync_tree(path: str) -> None:
    """fsync every file below path (what a durable upload would still owe the disk), then the
    folders; unlike sync(1) this leaves other processes' dirty pages alone."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            fd = os.open(root, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        except OSError:
            pass


def du(path: str) -> int:
    """Bytes allocated on disk below path (``du -s -B1``)."""
    out = run_cmd(["du", "-s", "-B1", path]).stdout.split()
    return int(out[0]) if out else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU seconds of these processes (/proc/PID/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the client side of a transfer)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """VmRSS of a process (and, with ``tree``, its descendants, summed) every ``interval`` s."""

    def __init__(self, pid: int, tree: bool, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.tree, self.interval = pid, tree, interval
        self.stop_ev = threading.Event()
        self.base = self.sample()
        self.peak = self.base
        self.samples = 1

    def sample(self) -> int:
        pids = proc_tree(self.pid) if self.tree else [self.pid]
        return sum(rss_kb(p) for p in pids)

    def run(self) -> None:
        while not self.stop_ev.wait(self.interval):
            self.peak = max(self.peak, self.sample())
            self.samples += 1

    def finish(self) -> dict:
        self.stop_ev.set()
        self.join()
        self.peak = max(self.peak, self.sample())
        return {
            "rss_base_mb": self.base / 1024,
            "rss_peak_mb": self.peak / 1024,
            "rss_growth_mb": (self.peak - self.base) / 1024,
            "rss_samples": self.samples,
        }


class DiskWatch(threading.Thread):
    """The least free space seen on the work folder's filesystem (every 0.5 s)."""

    def __init__(self, path: str):
        super().__init__(daemon=True)
        self.path = path
        self.start_free = shutil.disk_usage(path).free
        self.min_free = self.start_free
        self.stop_ev = threading.Event()

    def run(self) -> None:
        while not self.stop_ev.wait(0.5):
            try:
                self.min_free = min(self.min_free, shutil.disk_usage(self.path).free)
            except OSError:
                pass


def make_file(path: str, size: int, seed: int) -> float:
    """``size`` bytes of incompressible data, every 16 MiB block different: one random block,
    each block XOR-ed with a 64-bit word of its own (numpy; fast even on a busy machine).
    Returns seconds including fdatasync."""
    import numpy as np

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    base = np.frombuffer(rng.bytes(BLOCK), dtype=np.uint64)
    words = rng.integers(1, 2**63, size=size // BLOCK + 1, dtype=np.uint64)
    with open(path, "wb") as f:
        left, k = size, 0
        while left > 0:
            block = (base ^ words[k]).tobytes()
            n = min(left, BLOCK)
            f.write(block[:n])
            left -= n
            k += 1
        f.flush()
        os.fdatasync(f.fileno())
    return time.perf_counter() - t0


def dd(args: list[str]) -> tuple[int, float]:
    """Runs dd; returns (bytes, seconds) from its summary line."""
    p = run_cmd(["dd", *args], env=dict(os.environ, LC_ALL="C"))
    if p.returncode != 0:
        raise RuntimeError(f"dd {' '.join(args)} failed: {p.stderr.strip()}")
    m = re.search(r"^(\d+) bytes.*copied, ([\d.e+-]+) s", p.stderr, re.M)
    if not m:
        raise RuntimeError(f"could not read dd's summary: {p.stderr.strip()}")
    return int(m.group(1)), float(m.group(2))


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------
class Server:
    def __init__(self, kind: str, cmd: list[str], url: str, folder: str, log_path: str):
        self.kind, self.cmd, self.url, self.folder, self.log_path = kind, cmd, url, folder, log_path
        self.proc: subprocess.Popen | None = None
        self.startup_s = None
        self.experiment_id: str | None = None

    def start(self, timeout: float = 180) -> None:
        import requests

        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            self.cmd, stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder
        )
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with code {self.proc.returncode}: {self.tail()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    self.startup_s = time.perf_counter() - t0
                    time.sleep(1.0)  # let it settle before the baseline RSS
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} server did not answer /health within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.logf.close()

    def tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def problems(self) -> list[str]:
        """ERROR/WARN/panic lines of the server's log (Cairn's tracing format; MLflow's too)."""
        try:
            with open(self.log_path, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            return []
        pat = re.compile(r"\b(ERROR|WARN|WARNING|panicked|Traceback)\b")
        return [line.rstrip() for line in lines if pat.search(line)]

    def create_run(self, name: str) -> str:
        import requests

        rest = self.url + "/api/2.0/mlflow/"
        if self.experiment_id is None:
            r = requests.post(rest + "experiments/create", json={"name": "artifact-bench"}, timeout=30)
            r.raise_for_status()
            self.experiment_id = r.json()["experiment_id"]
        exp = self.experiment_id
        r = requests.post(
            rest + "runs/create",
            json={"experiment_id": exp, "run_name": name, "start_time": int(time.time() * 1000)},
            timeout=30,
        )
        r.raise_for_status()
        return r.json()["run"]["info"]["run_id"]


# --------------------------------------------------------------------------------------------
# the bench
# --------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.cairn_bin = os.environ.get("CAIRN_BIN") or os.path.join(REPO, "target", "release", "cairn")
        self.hash_bin = os.environ.get("HASH_BIN") or os.path.join(REPO, "target", "release", "cairn-hash-bench")
        self.size = max(1, round(args.size_gb * 1e9 / BLOCK)) * BLOCK
        self.dedup_size = max(1, round(args.dedup_gb * 1e9 / BLOCK)) * BLOCK
        self.res: dict = {}
        self.problems: list[str] = []
        self.servers: list[Server] = []
        self.cache_drop_ok = None
        self.native_mode = None
        self.remote_dir = None

    # ------------------------------------------------------------------ helpers
    def problem(self, what: str) -> None:
        self.problems.append(what)
        log(f"   !! {what}")

    def blake3_file(self, path: str) -> dict:
        p = run_cmd([self.hash_bin, "--json", "file", path])
        if p.returncode != 0:
            raise RuntimeError(f"{self.hash_bin} file {path}: {p.stderr.strip()}")
        return json.loads(p.stdout)

    def check_download(self, label: str, path: str, cmd: str) -> bool:
        """Size and BLAKE3 of a downloaded file against the source's."""
        if not os.path.exists(path):
            self.problem(f"{label}: the download left no file at {path} (command: {cmd})")
            return False
        size = os.path.getsize(path)
        if size != self.size:
            self.problem(f"{label}: downloaded {size} bytes, the file has {self.size} (command: {cmd})")
            return False
        got = self.blake3_file(path)["digest"]
        if got != self.src_digest:
            self.problem(f"{label}: downloaded bytes differ: {got}, uploaded {self.src_digest} (command: {cmd})")
            return False
        return True

    def cairn_server(self, name: str) -> Server:
        folder = os.path.join(self.work, f"cairn-{name}")
        os.makedirs(folder)
        port = free_port()
        data = os.path.join(folder, "data")
        cmd = [self.cairn_bin, "server", "--host", "127.0.0.1", "--port", str(port), "--data", data]
        server = Server("cairn", cmd, f"http://127.0.0.1:{port}", folder, os.path.join(folder, "server.log"))
        server.data = data
        self.servers.append(server)
        log(f"   server: {' '.join(cmd)}")
        server.start()
        return server

    def mlflow_server(self) -> Server:
        folder = os.path.join(self.work, "mlflow")
        os.makedirs(folder)
        port = free_port()
        mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
        cmd = [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder}/mlflow.db",
            "--artifacts-destination",
            f"{folder}/art",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(self.args.mlflow_workers),
        ]
        server = Server("mlflow", cmd, f"http://127.0.0.1:{port}", folder, os.path.join(folder, "server.log"))
        server.data = folder
        self.servers.append(server)
        log(f"   server: {' '.join(cmd)}")
        server.start()
        return server

    def finish_server(self, server: Server, label: str) -> None:
        if not server.alive():
            self.problem(
                f"{label}: the server exited during the bench (code {server.proc.returncode}): {server.tail()}"
            )
        server.stop()
        lines = server.problems()
        if lines:
            shown = "\n      ".join(lines[:10])
            more = f"\n      ... {len(lines) - 10} more" if len(lines) > 10 else ""
            log(f"   {label}: {len(lines)} ERROR/WARN line(s) in the server's log:\n      {shown}{more}")
            if server.kind == "cairn":
                self.problem(f"{label}: {len(lines)} ERROR/WARN line(s) in Cairn's log, first: {lines[0][:300]}")
        if not self.args.keep:
            shutil.rmtree(server.folder, ignore_errors=True)

    def transfer(self, label: str, server: Server, direction: str, fn, cmd: str) -> dict:
        """Times fn() with the page cache prepared for ``direction`` and the server's RSS sampled.

        upload: everything flushed (sync), then the source read once so it is in the page cache
        (the bytes then only cost the server's side of the disk). download: sync and the page
        cache dropped, so the server reads the stored bytes from disk, like dd's read."""
        subprocess.run(["sync"], check=False)
        if direction == "upload":
            warm(self.src)
        else:
            drop_caches()
        tree = server.kind == "mlflow"
        sampler = Sampler(server.proc.pid, tree=tree)
        sampler.start()
        server_cpu0 = cpu_seconds(proc_tree(server.proc.pid) if tree else [server.proc.pid])
        client_cpu0 = own_cpu_seconds()
        t0 = time.perf_counter()
        err = None
        extra = {}
        try:
            extra = fn() or {}
        except Exception as e:  # noqa: BLE001 - reported with the command, the bench goes on
            err = f"{type(e).__name__}: {e}"
        seconds = time.perf_counter() - t0
        server_cpu = cpu_seconds(proc_tree(server.proc.pid) if tree else [server.proc.pid]) - server_cpu0
        client_cpu = own_cpu_seconds() - client_cpu0
        rss = sampler.finish()
        # what the upload still owes the disk: fsync of the server's files (not timed for downloads)
        sync_s = 0.0
        if direction == "upload":
            t1 = time.perf_counter()
            fsync_tree(server.data)
            sync_s = time.perf_counter() - t1
        out = {
            "seconds": extra.pop("seconds", seconds),
            "wall_s": seconds,
            "sync_s": sync_s,
            "server_cpu_s": server_cpu,
            "client_cpu_s": client_cpu,
            **rss,
            **extra,
        }
        out["mb_s"] = self.size / MB / out["seconds"]
        out["mb_s_sync"] = self.size / MB / (out["seconds"] + sync_s)
        if err:
            out["error"] = err
            self.problem(f"{label}: {err[:600]} (command: {cmd}; server: {' '.join(server.cmd)})")
        else:
            durable = f" ({out['mb_s_sync']:.0f} MB/s with an fsync of the stored files after it)" if sync_s else ""
            log(
                f"   {label}: {out['seconds']:.2f} s, {out['mb_s']:.0f} MB/s{durable}; server RSS "
                f"{rss['rss_base_mb']:.0f} MB → peak {rss['rss_peak_mb']:.0f} MB (+{rss['rss_growth_mb']:.0f}); "
                f"CPU s: server {server_cpu:.1f}, client {client_cpu:.1f}"
            )
        return out

    # ------------------------------------------------------------------ mlflow client
    def mlflow_call(self, server: Server, spec: dict) -> dict:
        env = dict(
            os.environ,
            MLFLOW_TRACKING_URI=server.url,
            MLFLOW_HTTP_REQUEST_MAX_RETRIES=str(self.args.client_retries),
            MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1",
            MLFLOW_HTTP_REQUEST_TIMEOUT="3600",
        )
        if self.args.mpu_min_mb is not None:
            env["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(int(self.args.mpu_min_mb * 1024 * 1024))
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
        timeout = 600 + self.size / (2 * MB)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        found = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
        if p.returncode != 0 or not found:
            tail = (p.stderr.strip().splitlines() or ["(no output)"])[-5:]
            raise RuntimeError(f"mlflow client exited with {p.returncode}: " + " | ".join(tail))
        return json.loads(found[-1][len("RESULT ") :])

    def mlflow_upload(self, server: Server, run_id: str) -> dict:
        return self.mlflow_call(server, {"op": "upload", "run_id": run_id, "file": self.src})

    def mlflow_download(self, server: Server, run_id: str, dst: str) -> dict:
        out = self.mlflow_call(server, {"op": "download", "run_id": run_id, "name": CLIENT_FILE, "dst": dst})
        return out

    def client_pair(self, server: Server, label: str) -> dict:
        """log_artifact then download_artifacts of the source through the official client."""
        out = {}
        run_id = server.create_run(f"mlflow-client-{label}")
        cmd_up = f"MlflowClient().log_artifact({run_id!r}, {self.src!r})"
        up = self.transfer(
            f"{label} mlflow-client upload", server, "upload", lambda: self.mlflow_upload(server, run_id), cmd_up
        )
        out["upload"] = up
        if "error" in up:
            return out
        self.downloads(
            out,
            f"{label} mlflow-client download",
            server,
            lambda folder: self.mlflow_download(server, run_id, folder),
            lambda folder: f"MlflowClient().download_artifacts({run_id!r}, {CLIENT_FILE!r}, {folder!r})",
        )
        # The server alone: one plain GET with the bytes thrown away, so neither a Python client
        # nor the disk's write speed bounds the number.
        url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{server.experiment_id}/{run_id}/artifacts/{CLIENT_FILE}"
        cmd_raw = f"curl -s -o /dev/null {url}"
        out["raw_get"] = self.transfer(
            f"{label} raw GET (curl to /dev/null)", server, "download", lambda: self.curl_get(url), cmd_raw
        )
        return out

    def downloads(self, out: dict, label: str, server: Server, fetch, cmd) -> None:
        """The downloads of the test file: into the work folder (``out["download"]``), then, with
        ``--remote-dir``, into that folder (``out["download_remote"]``). ``fetch(folder)`` downloads the file
        into folder (under its own name); ``cmd(folder)`` is that as a command, for reports."""
        targets = [("download", self.work, "")]
        if self.remote_dir:
            targets.append(("download_remote", self.remote_dir, f" to {self.remote_dir}"))
        for key, base, where in targets:
            folder = tempfile.mkdtemp(prefix="dl-", dir=base)
            try:
                t = self.transfer(label + where, server, "download", lambda f=folder: fetch(f), cmd(folder))
                if "error" not in t:
                    t["verified"] = self.check_download(label + where, os.path.join(folder, CLIENT_FILE), cmd(folder))
                out[key] = t
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            if "error" in t:
                return

    def curl_get(self, url: str) -> dict:
        p = run_cmd(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", url])
        if p.returncode != 0 or int(p.stdout.strip() or 0) != self.size:
            raise RuntimeError(f"curl exited {p.returncode}, {p.stdout.strip()} bytes: {p.stderr.strip()[:300]}")
        return {}

    # ------------------------------------------------------------------ native path
    def detect_native(self) -> str:
        want = self.args.native
        if want in ("cli", "auto"):
            p = run_cmd([self.cairn_bin, "artifacts", "upload", "--help"])
            if p.returncode == 0 and "--server" in p.stdout:
                return "cli"
            if want == "cli":
                raise SystemExit(f"`{self.cairn_bin} artifacts upload --help` failed: the CLI is not available")
        return "python"

    def cli_env(self) -> dict:
        return dict(os.environ, XDG_CACHE_HOME=os.path.join(self.work, "xdg-cache"))

    def cli(self, args: list[str]) -> dict:
        cmd = [self.cairn_bin, "artifacts", *args]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.cli_env())
        seconds = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"exit {p.returncode}: {(p.stderr or p.stdout).strip()[-600:]}")
        return {"seconds": seconds, "output": (p.stdout + p.stderr).strip()[-400:]}

    def cli_upload_args(self, server: Server, run_id: str, path: str, name: str) -> list[str]:
        args = ["upload", run_id, path, "--path", name, "--server", server.url]
        if self.args.parallel:
            args += ["--parallel", str(self.args.parallel)]
        return args

    def native_upload_cmd(self, server: Server, run_id: str, path: str, name: str) -> str:
        """The upload as a command line (for reports)."""
        if self.native_mode == "cli":
            return f"{self.cairn_bin} artifacts " + " ".join(self.cli_upload_args(server, run_id, path, name))
        return f"POST {server.url}/api/v1/runs/{run_id}/uploads {{path: {name}, size, digest}} + parts of {path}"

    def do_native_upload(self, server: Server, run_id: str, path: str, name: str, digest: str | None) -> dict:
        if self.native_mode == "cli":
            return self.cli(self.cli_upload_args(server, run_id, path, name))
        return py_upload(server.url, run_id, path, name, self.args.parallel or 4, self.hash_bin, digest)

    def do_native_download(self, server: Server, run_id: str, name: str, dst: str) -> dict:
        if self.native_mode == "cli":
            return self.cli(["download", run_id, name, "--output", dst, "--server", server.url])
        return py_download(server.url, run_id, name, dst)

    def native_pair(self, server: Server) -> dict:
        out = {}
        run_id = server.create_run("native")
        cmd_up = self.native_upload_cmd(server, run_id, self.src, CLIENT_FILE)
        up = self.transfer(
            "cairn native upload",
            server,
            "upload",
            lambda: self.do_native_upload(server, run_id, self.src, CLIENT_FILE, None),
            cmd_up,
        )
        out["upload"] = up
        if "error" in up:
            return out

        def cmd_down(folder: str) -> str:
            dst = os.path.join(folder, CLIENT_FILE)
            if self.native_mode == "cli":
                return (
                    f"{self.cairn_bin} artifacts download {run_id} {CLIENT_FILE} --output {dst} --server {server.url}"
                )
            return f"GET {server.url}/api/v1/runs/{run_id}/files/{CLIENT_FILE} > {dst}"

        self.downloads(
            out,
            "cairn native download",
            server,
            lambda folder: self.do_native_download(server, run_id, CLIENT_FILE, os.path.join(folder, CLIENT_FILE)),
            cmd_down,
        )
        return out

    def dedup(self) -> dict:
        import requests

        out = {"bytes": self.dedup_size}
        path = os.path.join(self.work, "dedup.bin")
        make_file(path, self.dedup_size, seed=self.args.seed + 1)
        digest = self.blake3_file(path)["digest"]
        server = self.cairn_server("dedup")
        try:
            run_a = server.create_run("dedup-a")
            cmd = self.native_upload_cmd(server, run_a, path, "dedup.bin")
            try:
                first = self.do_native_upload(server, run_a, path, "dedup.bin", digest)
            except Exception as e:  # noqa: BLE001
                self.problem(f"dedup: first upload failed: {e} (command: {cmd})")
                return out
            out["first_s"] = first["seconds"]
            log(f"   dedup: first upload of {self.dedup_size / MB:.0f} MB: {first['seconds']:.2f} s")
            subprocess.run(["sync"], check=False)
            blobs = os.path.join(server.data, "artifacts")
            before_all, before_blobs = du(server.data), du(blobs)
            times, runs = [], []
            sampler = Sampler(server.proc.pid, tree=False)
            sampler.start()
            for k in range(self.args.dedup_repeats):
                run_b = server.create_run(f"dedup-b{k}")
                runs.append(run_b)
                cmd = self.native_upload_cmd(server, run_b, path, "dedup.bin")
                try:
                    r = self.do_native_upload(server, run_b, path, "dedup.bin", digest)
                except Exception as e:  # noqa: BLE001
                    self.problem(f"dedup: repeated upload failed: {e} (command: {cmd})")
                    sampler.finish()
                    return out
                times.append(r["seconds"])
                if r.get("sent_bytes"):
                    out["sent_bytes"] = r["sent_bytes"]
            out.update({f"second_{k}": v for k, v in sampler.finish().items()})
            subprocess.run(["sync"], check=False)
            after_all, after_blobs = du(server.data), du(blobs)
            out["second_s"] = statistics.median(times)
            out["second_s_all"] = times
            out["added_bytes"] = after_all - before_all
            out["added_blob_bytes"] = after_blobs - before_blobs
            # every repeat recorded the file, with the right size and digest
            for run_b in runs:
                r = requests.get(f"{server.url}/api/v1/runs/{run_b}/artifacts", timeout=30)
                files = {f["path"]: f for f in r.json().get("files", [])} if r.ok else {}
                f = files.get("dedup.bin")
                if not f or f.get("size") != self.dedup_size or f.get("digest") != digest:
                    self.problem(
                        f"dedup: run {run_b} does not list dedup.bin with size {self.dedup_size} and digest "
                        f"{digest}: GET /api/v1/runs/{run_b}/artifacts answered {r.status_code} {r.text[:300]}"
                    )
            r = requests.get(f"{server.url}/api/v1/blobs/{digest}", timeout=30)
            if r.ok:
                out["references"] = r.json().get("references")
            hashes = [self.blake3_file(path)["seconds"] for _ in range(3)]
            out["hash_s"] = statistics.median(hashes)
            log(
                f"   dedup: repeated upload {out['second_s']:.2f} s (median of {len(times)}), "
                f"data dir +{out['added_bytes']} B (blobs +{out['added_blob_bytes']} B), "
                f"BLAKE3 of the file alone {out['hash_s']:.2f} s, blob references {out.get('references')}"
            )
            if out["added_blob_bytes"] > 0:
                self.problem(f"dedup: the blob store grew by {out['added_blob_bytes']} bytes on a repeated upload")
        finally:
            self.finish_server(server, "cairn dedup")
            os.remove(path)
        return out

    # ------------------------------------------------------------------ the phases
    def run(self) -> int:
        a = self.args
        base = a.dir or tempfile.gettempdir()
        os.makedirs(base, exist_ok=True)
        need = 3 * self.size + self.dedup_size + (1 << 30)
        free = shutil.disk_usage(base).free
        if free < need and not a.force:
            log(f"need about {need / 1e9:.1f} GB free in {base}, there are {free / 1e9:.1f} GB (--force to try anyway)")
            return 2
        if a.remote_dir:
            room = shutil.disk_usage(a.remote_dir).free if os.path.isdir(a.remote_dir) else 0
            if room >= self.size + (256 << 20):
                self.remote_dir = a.remote_dir
            else:
                log(f"   {a.remote_dir}: {room / 1e9:.1f} GB free, too little: downloads go to the work folder only")
        self.work = tempfile.mkdtemp(prefix="cairn-artifact-bench-", dir=base)
        disk = DiskWatch(self.work)
        disk.start()
        self.header(base)
        try:
            self.phases()
        finally:
            for s in self.servers:
                s.stop()
            disk.stop_ev.set()
            disk.join()
            self.res["disk_peak_gb"] = (disk.start_free - disk.min_free) / 1e9
            if a.keep:
                log(f"kept {self.work}")
            else:
                shutil.rmtree(self.work, ignore_errors=True)
        self.table()
        return 1 if self.problems else 0

    def header(self, base: str) -> None:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?"
        )
        commit = run_cmd(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run_cmd(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
        fs = run_cmd(["df", "-T", "-h", base]).stdout.strip().splitlines()[-1].split()
        mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
        self.res["machine"] = (
            f"{cpu}, {os.cpu_count()} cores, {mem / 1024 / 1024:.0f} GiB RAM, load {os.getloadavg()[0]:.2f} "
            f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
        )
        self.res["where"] = f"{self.work} on {fs[0]} ({fs[1]}, {fs[4]} free)" if len(fs) > 4 else self.work
        self.res["when"] = (
            f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, commit {commit}"
            f"{' + uncommitted changes' if dirty else ''}, {platform.python_version()}"
        )
        log(f"== artifact bench: {self.size} B file ({self.size / 1e9:.2f} GB), dedup file {self.dedup_size} B")
        log(f"   {self.res['machine']}")
        log(f"   {self.res['where']}")
        log(f"   {self.res['when']}; server {self.cairn_bin}")

    def phases(self) -> None:
        a = self.args
        # 1. the disk
        log("== 1. disk baseline (dd, 16 MiB blocks)")
        f = os.path.join(self.work, "dd.bin")
        writes, reads, copies, dwrites, dreads, dcopies = [], [], [], [], [], []
        count = f"count={self.size // BLOCK}"
        for _ in range(a.dd_repeats):
            n, s = dd(["if=/dev/zero", f"of={f}", f"bs={BLOCK}", count, "conv=fdatasync"])
            writes.append(n / MB / s)
            self.cache_drop_ok = drop_caches()
            n, s = dd([f"if={f}", "of=/dev/null", f"bs={BLOCK}"])
            reads.append(n / MB / s)
            # the raw disk, without the page cache (what Cairn's O_DIRECT writes are up against)
            os.remove(f)
            n, s = dd(["if=/dev/zero", f"of={f}", f"bs={BLOCK}", count, "oflag=direct", "conv=fdatasync"])
            dwrites.append(n / MB / s)
            drop_caches()
            n, s = dd([f"if={f}", "of=/dev/null", f"bs={BLOCK}", "iflag=direct"])
            dreads.append(n / MB / s)
            # what a download to a file on the same disk does: read the bytes and write them again
            # (no fsync: downloads do not sync either)
            drop_caches()
            copy = f + ".copy"
            n, s = dd([f"if={f}", f"of={copy}", f"bs={BLOCK}"])
            copies.append(n / MB / s)
            os.remove(copy)
            drop_caches()
            n, s = dd([f"if={f}", f"of={copy}", f"bs={BLOCK}", "iflag=direct", "oflag=direct"])
            dcopies.append(n / MB / s)
            os.remove(f)
            os.remove(copy)
        self.res["dd_write"], self.res["dd_read"] = statistics.median(writes), statistics.median(reads)
        self.res["dd_copy"] = statistics.median(copies)
        self.res["dd_copy_direct"] = statistics.median(dcopies)
        self.res["disk_copy"] = max(self.res["dd_copy"], self.res["dd_copy_direct"])
        self.res["dd_write_direct"], self.res["dd_read_direct"] = statistics.median(dwrites), statistics.median(dreads)
        self.res["disk_write"] = max(self.res["dd_write"], self.res["dd_write_direct"])
        self.res["disk_read"] = max(self.res["dd_read"], self.res["dd_read_direct"])
        log(
            f"   write {self.res['dd_write']:.0f} MB/s, read {self.res['dd_read']:.0f} MB/s, "
            f"copy {self.res['dd_copy']:.0f} MB/s; O_DIRECT write {self.res['dd_write_direct']:.0f} MB/s, "
            f"read {self.res['dd_read_direct']:.0f} MB/s, copy {self.res['dd_copy_direct']:.0f} MB/s"
            f"{'' if self.cache_drop_ok else ' (page cache NOT dropped: the read is from memory)'}"
            f"{f' (median of {a.dd_repeats})' if a.dd_repeats > 1 else ''}"
        )
        if not self.cache_drop_ok:
            self.problem(
                "could not write /proc/sys/vm/drop_caches: dd's read and the downloads read from the page cache"
            )

        # 2. hashing
        log("== 2. hashing (cairn-hash-bench speed: 1 GiB in memory, one thread, median of 5)")
        p = run_cmd([self.hash_bin, "--json", "speed", "--size-mib", str(a.hash_mib), "--repeats", "5"])
        if p.returncode != 0:
            self.problem(f"{self.hash_bin} speed failed: {p.stderr.strip()}")
        else:
            self.res["hash"] = json.loads(p.stdout)
            h = self.res["hash"]
            log(
                f"   BLAKE3 {h['blake3_gb_s']:.2f} GB/s, SHA-256 {h['sha256_gb_s']:.2f} GB/s "
                f"({h['ratio']:.2f}x; CPU: {' '.join(h['cpu_features'])})"
            )

        # the test file
        self.src = os.path.join(self.work, CLIENT_FILE)
        log(f"== test file: {self.size / 1e9:.2f} GB of incompressible bytes")
        gen_s = make_file(self.src, self.size, seed=a.seed)
        h = self.blake3_file(self.src)
        self.src_digest = h["digest"]
        self.res["src_hash_s"] = h["seconds"]
        log(f"   written in {gen_s:.1f} s; {self.src_digest}, hashed in {h['seconds']:.2f} s (page cache)")

        # 3. Cairn
        log("== 3a. Cairn, official mlflow client")
        server = self.cairn_server("client")
        try:
            self.res["cairn_client"] = self.client_pair(server, "cairn")
        finally:
            self.finish_server(server, "cairn (mlflow client)")
        self.native_mode = self.detect_native()
        how = (
            "`cairn artifacts upload|download`"
            if self.native_mode == "cli"
            else "Python: /api/v1 uploads in parts + GET (the CLI is not available)"
        )
        log(f"== 3b. Cairn, native path: {how}")
        self.res["native_mode"] = self.native_mode
        server = self.cairn_server("native")
        try:
            self.res["cairn_native"] = self.native_pair(server)
        finally:
            self.finish_server(server, "cairn (native)")
        log("== 3d. Cairn, deduplication")
        self.res["dedup"] = self.dedup()

        # 4. MLflow
        if a.skip_mlflow:
            log("== 4. MLflow: skipped (--skip-mlflow)")
        else:
            log(f"== 4. MLflow's server (--workers {a.mlflow_workers}), official mlflow client")
            server = self.mlflow_server()
            try:
                self.res["mlflow"] = self.client_pair(server, "mlflow")
            finally:
                self.finish_server(server, "mlflow")
        os.remove(self.src)

    # ------------------------------------------------------------------ the table
    def table(self) -> None:
        r = self.res
        rows: list[tuple[str, str, str, str]] = []

        def fmt(v, f="{:.0f}"):
            return "—" if v is None else f.format(v)

        def verdict(ok: bool | None) -> str:
            return "—" if ok is None else ("PASS" if ok else "MISS")

        dw, dr, dc = r.get("dd_write"), r.get("dd_read"), r.get("dd_copy")
        rows.append(("disk: dd write, conv=fdatasync", f"{fmt(dw)} MB/s", "", ""))
        rows.append(("disk: dd read" + ("" if self.cache_drop_ok else " (page cache!)"), f"{fmt(dr)} MB/s", "", ""))
        rows.append(("disk: dd write, oflag=direct conv=fdatasync", f"{fmt(r.get('dd_write_direct'))} MB/s", "", ""))
        rows.append(("disk: dd read, iflag=direct", f"{fmt(r.get('dd_read_direct'))} MB/s", "", ""))
        rows.append(("disk: dd copy, read + write (what a download does)", f"{fmt(dc)} MB/s", "", ""))
        rows.append(("disk: dd copy, iflag=direct oflag=direct", f"{fmt(r.get('dd_copy_direct'))} MB/s", "", ""))
        dc = r.get("disk_copy", dc)
        # the transfers are held to the faster of the two ways dd goes
        dw, dr = r.get("disk_write"), r.get("disk_read")
        h = r.get("hash")
        if h:
            rows.append(
                ("BLAKE3, 1 thread, 1 GiB in memory", f"{h['blake3_gb_s']:.2f} GB/s", f"{h['ratio']:.2f}× SHA-256", "")
            )
            rows.append(
                (
                    "SHA-256, 1 thread" + (" (SHA-NI)" if "sha-ni" in h["cpu_features"] else ""),
                    f"{h['sha256_gb_s']:.2f} GB/s",
                    "",
                    "",
                )
            )
        remote = f" to {self.remote_dir}" if self.remote_dir else ""

        def transfer_rows(prefix: str, pair: dict | None, bar: bool) -> None:
            if not pair:
                return
            # (key, what, reference, its name, whether the bar is judged on this row)
            kinds = (
                ("upload", "upload", dw, "disk write", bar),
                ("download", "download to the work folder's disk", dr, "disk read", bar and not remote),
                ("download_remote", f"download{remote}", dr, "disk read", bar),
            )
            for key, what, ref, ref_name, judged in kinds:
                t = pair.get(key)
                if not t:
                    continue
                if "error" in t:
                    rows.append((f"{prefix} {what}", "ERR", t["error"][:80], ""))
                    continue
                how = ""
                if "multipart_upload" in t and key == "upload":
                    how = f" (multipart, {t['parts']} parts)" if t["multipart_upload"] else " (one PUT)"
                if "multipart_download" in t and key != "upload":
                    how = " (ranged parallel GETs)" if t["multipart_download"] else " (one GET)"
                ratio = t["mb_s"] / ref if ref else None
                bad = "" if t.get("verified", True) else " WRONG BYTES"
                rows.append(
                    (
                        f"{prefix} {what}{how}",
                        f"{t['mb_s']:.0f} MB/s ({t['seconds']:.1f} s){bad}",
                        f"{fmt(ratio and ratio * 100)}% of {ref_name}"
                        + (f"; {t['mb_s_sync']:.0f} MB/s incl. fsync" if key == "upload" else "")
                        + (f"; {t['mb_s'] / dc * 100:.0f}% of dd copy" if key == "download" and dc else ""),
                        verdict(ratio >= 0.8 if (judged and ratio is not None) else None) + " (≥80%)" * judged,
                    )
                )
                rows.append(
                    (
                        f"{prefix} {what}: server RSS; CPU",
                        f"{t['rss_base_mb']:.0f} MB → +{t['rss_growth_mb']:.0f} MB",
                        f"CPU s: server {t['server_cpu_s']:.1f}, client {t['client_cpu_s']:.1f} (whole process)",
                        (verdict(t["rss_growth_mb"] <= 100) + " (≤100 MB)") if bar else "",
                    )
                )

        transfer_rows("Cairn, mlflow client:", r.get("cairn_client"), True)
        native = "`cairn artifacts`" if r.get("native_mode") == "cli" else "native API from Python"
        transfer_rows(f"Cairn, {native}:", r.get("cairn_native"), True)
        d = r.get("dedup") or {}
        if "second_s" in d:
            rows.append(
                (
                    f"dedup: first upload of {d['bytes'] / MB:.0f} MB",
                    f"{d['first_s']:.2f} s",
                    f"{d['bytes'] / MB / d['first_s']:.0f} MB/s",
                    "",
                )
            )
            rows.append(
                (
                    "dedup: same file to another run",
                    f"{d['second_s']:.2f} s",
                    f"median of {len(d['second_s_all'])}; BLAKE3 of the file alone {d['hash_s']:.2f} s",
                    "",
                )
            )
            rows.append(
                (
                    "dedup: bytes added to the data dir",
                    f"{d['added_bytes']} B",
                    f"blob store +{d['added_blob_bytes']} B; blob references {d.get('references')}",
                    verdict(d["added_blob_bytes"] <= 0) + " (0 blob bytes)",
                )
            )
        transfer_rows("MLflow, mlflow client:", r.get("mlflow"), False)
        cc, ml = r.get("cairn_client") or {}, r.get("mlflow") or {}
        for key, what in (
            ("upload", "upload"),
            ("download", "download to the work folder's disk"),
            ("download_remote", f"download{remote}"),
        ):
            a, b = cc.get(key), ml.get(key)
            if a and b and "error" not in a and "error" not in b:
                ratio = a["mb_s"] / b["mb_s"]
                judged = key == ("download_remote" if remote else "download")
                rows.append(
                    (
                        f"Cairn / MLflow, {what} (same client calls)",
                        f"{ratio:.1f}×",
                        "",
                        (verdict(ratio >= 5) + " (≥5×)") if judged else "",
                    )
                )
        for name, key in (("Cairn", "cairn_client"), ("MLflow", "mlflow")):
            t = (r.get(key) or {}).get("raw_get")
            if t and "error" not in t:
                rows.append(
                    (
                        f"{name}, one plain GET, bytes discarded (curl)",
                        f"{t['mb_s']:.0f} MB/s ({t['seconds']:.1f} s)",
                        f"{fmt(dr and t['mb_s'] / dr * 100)}% of dd read; server RSS +{t['rss_growth_mb']:.0f} MB",
                        "",
                    )
                )
        a, b = cc.get("raw_get"), ml.get("raw_get")
        if a and b and "error" not in a and "error" not in b:
            rows.append(("Cairn / MLflow, one plain GET (the servers alone)", f"{a['mb_s'] / b['mb_s']:.1f}×", "", ""))
        if r.get("disk_peak_gb") is not None:
            rows.append(("disk space used at the peak (whole filesystem)", f"{r['disk_peak_gb']:.1f} GB", "", ""))

        log("")
        log(f"## Artifacts: {self.size / 1e9:.2f} GB file ({self.size} B), dedup {self.dedup_size / 1e9:.2f} GB")
        log("")
        log(f"{r.get('machine', '')}; {r.get('when', '')}")
        log(f"{r.get('where', '')}")
        log("")
        log("| measure | value | compared | bar |")
        log("|---|---|---|---|")
        for row in rows:
            log("| " + " | ".join(row) + " |")
        if self.problems:
            log("")
            log(f"{len(self.problems)} problem(s):")
            for p in self.problems:
                log(f"- {p}")


# --------------------------------------------------------------------------------------------
# the native API from Python (used when `cairn artifacts` is not available)
# --------------------------------------------------------------------------------------------
def py_upload(url: str, run_id: str, path: str, name: str, parallel: int, hash_bin: str, digest: str | None) -> dict:
    """POST uploads {path, size[, digest]} → parts PUT in parallel → complete. With a digest the
    server may answer that it has the bytes already (nothing is sent). The digest is computed
    here (cairn-hash-bench, timed as part of the upload) only when not given."""
    import requests

    size = os.path.getsize(path)
    if digest is None and hash_bin:
        p = run_cmd([hash_bin, "--json", "file", path])
        if p.returncode == 0:
            digest = json.loads(p.stdout)["digest"]
    body = {"path": name, "size": size}
    if digest:
        body["digest"] = digest
    r = requests.post(f"{url}/api/v1/runs/{run_id}/uploads", json=body, timeout=60)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"POST /api/v1/runs/{run_id}/uploads answered {r.status_code}: {r.text[:300]}")
    j = r.json()
    if j.get("stored"):
        return {"stored": True, "sent_bytes": 0}
    upload_id, part_size, parts = j["upload_id"], j["part_size"], j["parts"]
    local = threading.local()
    fd = os.open(path, os.O_RDONLY)

    def put(number: int) -> int:
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        offset = (number - 1) * part_size
        data = os.pread(fd, min(part_size, size - offset), offset)
        r = s.put(f"{url}/api/v1/uploads/{upload_id}/parts/{number}", data=data, timeout=600)
        if r.status_code != 200:
            raise RuntimeError(f"PUT part {number} answered {r.status_code}: {r.text[:300]}")
        return len(data)

    try:
        with cf.ThreadPoolExecutor(parallel) as ex:
            sent = sum(ex.map(put, range(1, parts + 1)))
    finally:
        os.close(fd)
    r = requests.post(f"{url}/api/v1/uploads/{upload_id}/complete", json={}, timeout=600)
    if r.status_code != 200:
        raise RuntimeError(f"POST /api/v1/uploads/{upload_id}/complete answered {r.status_code}: {r.text[:300]}")
    return {"stored": False, "sent_bytes": sent}


def py_download(url: str, run_id: str, name: str, dst: str) -> dict:
    import requests

    with requests.get(f"{url}/api/v1/runs/{run_id}/files/{name}", stream=True, timeout=600) as r:
        if r.status_code != 200:
            raise RuntimeError(f"GET /api/v1/runs/{run_id}/files/{name} answered {r.status_code}: {r.text[:300]}")
        with open(dst, "wb") as f:
            for chunk in r.iter_content(chunk_size=1 << 20):
                f.write(chunk)
    return {}


# --------------------------------------------------------------------------------------------
def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
        return 0
    ap = argparse.ArgumentParser(
        description="Artifact benchmark: dd baseline, BLAKE3 vs SHA-256, Cairn (mlflow client and native "
        "path, RSS, dedup) and MLflow's server. Run through bench/artifacts/run.",
    )
    ap.add_argument("--size-gb", type=float, default=10.0, help="test file size in GB (10^9 bytes; default 10)")
    ap.add_argument("--dedup-gb", type=float, default=1.0, help="dedup test file size in GB (default 1)")
    ap.add_argument("--skip-mlflow", action="store_true", help="do not measure MLflow's own server")
    ap.add_argument("--dir", help="where the work folder goes (default: the system temp dir, /tmp)")
    ap.add_argument(
        "--remote-dir",
        default="",
        help="a second download target off the work folder's disk, standing for a client on another "
        "machine (e.g. /dev/shm; default none: on the reference VM writing into tmpfs cost the client "
        "more CPU than writing the disk did)",
    )
    ap.add_argument(
        "--native",
        choices=["auto", "cli", "python"],
        default="auto",
        help="native path: `cairn artifacts` (cli), the routes from Python, or cli when available",
    )
    ap.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="parts in flight for the native upload (default: the CLI's own, 4 for Python)",
    )
    ap.add_argument(
        "--mpu-min-mb",
        type=float,
        default=None,
        help="set MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE (MiB) for the client (default: its 500 MiB)",
    )
    ap.add_argument(
        "--client-retries",
        type=int,
        default=0,
        help="MLFLOW_HTTP_REQUEST_MAX_RETRIES (default 0: a failing request shows instead of being retried)",
    )
    ap.add_argument("--mlflow-workers", type=int, default=1, help="mlflow server --workers (default 1)")
    ap.add_argument("--dd-repeats", type=int, default=1, help="dd write+read passes (median; default 1)")
    ap.add_argument("--dedup-repeats", type=int, default=3, help="repeated uploads of the dedup file (median)")
    ap.add_argument("--hash-mib", type=int, default=1024, help="hash-speed buffer in MiB (default 1024)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the work folder and server logs")
    ap.add_argument("--force", action="store_true", help="run even when the free-space check fails")
    args = ap.parse_args()
    for path, what in ((os.environ.get("CAIRN_BIN"), "CAIRN_BIN"), (os.environ.get("HASH_BIN"), "HASH_BIN")):
        if path and not os.access(path, os.X_OK):
            ap.error(f"{what}={path} is not an executable")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
