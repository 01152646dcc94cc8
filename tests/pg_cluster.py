"""A throwaway PostgreSQL cluster for the Python suites (the e2e suite and the SDK's), started from
the machine's PostgreSQL binaries (Debian's ``/usr/lib/postgresql/<version>/bin``, or the folder
``CAIRN_PG_BIN`` names) on a free loopback port, durability off, removed at exit.

``CAIRN_TEST_STORE=postgres`` makes the suites' servers run with ``--store`` on a fresh database of
this cluster instead of the embedded store. Run as root, the cluster runs as the ``postgres`` user.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def wanted() -> bool:
    """Whether the suites should run their servers on PostgreSQL."""
    return os.environ.get("CAIRN_TEST_STORE", "").strip().lower() == "postgres"


def _bin_dir() -> Path:
    if os.environ.get("CAIRN_PG_BIN"):
        return Path(os.environ["CAIRN_PG_BIN"])
    found = sorted(
        (int(p.name), p / "bin")
        for p in Path("/usr/lib/postgresql").glob("*")
        if p.name.isdigit() and (p / "bin" / "initdb").exists()
    )
    if not found:
        raise RuntimeError("no PostgreSQL under /usr/lib/postgresql/*/bin; set CAIRN_PG_BIN")
    return found[-1][1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.as_postgres = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="cairn-pg-"))
        self.data = self.base / "data"
        self.data.mkdir()
        self.port = 0
        self._names = itertools.count()
        if self.as_postgres:
            self._run(["chown", "-R", "postgres:postgres", str(self.base)], tool=False)
        self._run(["initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        error: Exception | None = None
        for _ in range(5):
            self.port = _free_port()
            try:
                self.start()
                break
            except RuntimeError as e:
                error = e
        else:
            raise RuntimeError(f"PostgreSQL did not start: {error}")
        atexit.register(self.remove)

    def _run(self, argv: list[str], tool: bool = True) -> str:
        if tool:
            argv = [str(self.bin / argv[0]), *argv[1:]]
            if self.as_postgres:
                argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
        )
        log = str(self.data / "server.log")
        self._run(["pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", log, "-o", options, "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run(["pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop"])

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def fresh_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"cairn_{os.getpid()}_{next(self._names)}"
        self._run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", f"CREATE DATABASE {name}"])
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)


_shared: Cluster | None = None


def shared() -> Cluster:
    """The cluster of this test process, started on first use."""
    global _shared
    if _shared is None:
        _shared = Cluster()
    return _shared


def store_args() -> list[str]:
    """``--store URL`` of a fresh database when the suites run on PostgreSQL, else nothing."""
    return ["--store", shared().fresh_database()] if wanted() else []
