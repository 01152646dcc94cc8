"""Capture what is needed to reproduce a run: source, interpreter, machine and environment.

capture() gathers the git state of the working directory, the Python
interpreter, the host (CPU, memory, GPUs), the command line, the installed
distributions and the environment variables (secrets redacted). It returns run
tags, a JSON-serialisable document for ``environment.json`` and the
uncommitted diff. Every probe is guarded: a missing git binary, a directory
that is not a repository, a missing optional module or an unreadable /proc
file only leaves the matching fields out, and capture() never raises.

Layout of the document (keys absent when unknown)::

    {
      "version": 1,
      "captured_at": "2025-01-01T00:00:00Z",
      "git": {"root", "commit", "branch", "remote_name", "remote", "dirty",
              "script", "diff_bytes", "diff_truncated", "untracked",
              "untracked_count", "untracked_truncated"},
      "python": {"version", "implementation", "executable", "prefix",
                 "base_prefix", "virtualenv", "build"},
      "host": {"hostname", "user", "platform", "system", "release", "machine",
               "cpu_model", "cpu_count", "memory_total_bytes"},
      "gpus": [{"index", "name", "memory_total_bytes", "driver_version"}],
      "command": {"line", "argv", "script"},
      "cwd": "/abs/dir",
      "distributions": {"name": "version", ...},
      "environment": {"NAME": "value or [REDACTED]", ...}
    }

The "git" section is absent when cwd is not inside a work tree or git cannot
run. "git.diff_bytes" is the size of the full diff and "git.diff_truncated"
tells whether Captured.diff was cut to diff_limit bytes; both are present only
when there are tracked changes.
"""

from __future__ import annotations

import getpass
import importlib
import importlib.metadata
import logging
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .redact import redact_mapping, strip_url_credentials

__all__ = ["Captured", "capture", "GIT_TIMEOUT_S", "MAX_TAG_LENGTH", "MAX_UNTRACKED"]

logger = logging.getLogger("cairn")

GIT_TIMEOUT_S = 2.0
"""Timeout for each git command, in seconds."""

MAX_TAG_LENGTH = 5000
"""Longest tag value produced; longer values are truncated."""

MAX_UNTRACKED = 1000
"""Most untracked file names listed in the document."""

DOCUMENT_VERSION = 1

_T = TypeVar("_T")


@dataclass
class Captured:
    """The result of capture().

    tags: run tags to set (string values, each at most MAX_TAG_LENGTH chars).
    document: the content of environment.json (JSON-serialisable).
    diff: ``git diff HEAD`` text of tracked changes (binary files shown only
    as "Binary files differ"), cut to diff_limit bytes; None when there are no
    tracked changes, no commit or no repository.
    """

    tags: dict[str, str] = field(default_factory=dict)
    document: dict[str, object] = field(default_factory=dict)
    diff: str | None = None


def capture(cwd: str | None = None, *, diff_limit: int = 1_000_000, argv: list[str] | None = None) -> Captured:
    """Capture the reproducibility information of the current process.

    cwd is the directory whose git state is recorded and against which a
    relative argv[0] is resolved (default: the current directory). argv
    defaults to sys.argv. diff_limit caps the diff in bytes (UTF-8). Never
    raises.
    """
    work_dir = os.path.abspath(cwd) if cwd is not None else _safe(os.getcwd, "cwd", "")
    args = [str(a) for a in (sys.argv if argv is None else argv)]
    script = _script_path(args, work_dir)

    document: dict[str, object] = {
        "version": DOCUMENT_VERSION,
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    diff: str | None = None

    git_info: dict[str, object] | None = None
    if work_dir:
        no_git: tuple[dict[str, object] | None, str | None] = (None, None)
        git_info, diff = _safe(lambda: _git_info(work_dir, script, diff_limit), "git", no_git)
    if git_info is not None:
        document["git"] = git_info

    empty: dict[str, object] = {}
    python_info = _safe(_python_info, "python", empty)
    host_info = _safe(_host_info, "host", empty)
    no_gpus: list[dict[str, object]] = []
    gpus = _safe(_gpu_info, "gpus", no_gpus)
    command_line = _safe(lambda: shlex.join(args), "command", " ".join(args))
    command: dict[str, object] = {"line": command_line, "argv": args}
    if script is not None:
        command["script"] = script

    document["python"] = python_info
    document["host"] = host_info
    document["gpus"] = gpus
    document["command"] = command
    if work_dir:
        document["cwd"] = work_dir
    no_distributions: dict[str, str] = {}
    document["distributions"] = _safe(_distributions, "distributions", no_distributions)
    document["environment"] = _safe(lambda: redact_mapping(dict(os.environ)), "environment", empty)

    tags: dict[str, str] = {}

    def put(key: str, value: object) -> None:
        if value is None or value == "":
            return
        text = str(value)
        if len(text) > MAX_TAG_LENGTH:
            text = text[: MAX_TAG_LENGTH - 3] + "..."
        tags[key] = text

    if git_info is not None:
        put("cairn.git.commit", git_info.get("commit"))
        put("cairn.git.branch", git_info.get("branch"))
        put("cairn.git.remote", git_info.get("remote"))
        if "dirty" in git_info:
            put("cairn.git.dirty", "true" if git_info["dirty"] else "false")
        put("mlflow.source.git.commit", git_info.get("commit"))
        put("mlflow.source.git.branch", git_info.get("branch"))
        put("mlflow.source.git.repoURL", git_info.get("remote"))
    if python_info.get("version"):
        put("cairn.python", f"{python_info.get('implementation', 'Python')} {python_info['version']}")
    put("cairn.platform", host_info.get("platform"))
    put("cairn.host", host_info.get("hostname"))
    put("cairn.command", command_line)
    put("cairn.cwd", work_dir)
    put("mlflow.source.name", script)
    put("mlflow.source.type", "LOCAL")
    put("mlflow.user", host_info.get("user"))

    return Captured(tags=tags, document=document, diff=diff)


def _safe(fn: Callable[[], _T], what: str, default: _T) -> _T:
    try:
        return fn()
    except Exception as exc:  # a probe must never break capture()
        logger.debug("cairn: could not capture %s: %s", what, exc)
        return default


def _script_path(args: list[str], work_dir: str) -> str | None:
    """Return the absolute path of the script from argv[0], or None for -c, - or an empty argv[0]."""
    if not args:
        return None
    first = args[0]
    if first in ("", "-", "-c", "-m"):
        return None
    return os.path.normpath(os.path.join(work_dir, first)) if work_dir else os.path.abspath(first)


# --- git -------------------------------------------------------------------------------------------------------------


def _run_git(args: list[str], cwd: str) -> bytes | None:
    """Run git with args in cwd; return stdout, or None on any failure."""
    env = dict(os.environ)
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        logger.debug("cairn: git %s failed: %s", " ".join(args), exc)
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout


def _git_text(args: list[str], cwd: str) -> str | None:
    out = _run_git(args, cwd)
    if out is None:
        return None
    text = out.decode("utf-8", errors="replace").strip()
    return text or None


def _git_info(work_dir: str, script: str | None, diff_limit: int) -> tuple[dict[str, object] | None, str | None]:
    root = _git_text(["rev-parse", "--show-toplevel"], work_dir)
    if root is None:
        return None, None
    info: dict[str, object] = {"root": root}

    commit = _git_text(["rev-parse", "--verify", "-q", "HEAD"], work_dir)
    if commit is not None:
        info["commit"] = commit
    # symbolic-ref fails when HEAD is detached; then the branch stays None.
    info["branch"] = _git_text(["symbolic-ref", "--short", "-q", "HEAD"], work_dir)

    remotes_text = _git_text(["remote"], work_dir)
    if remotes_text:
        remotes = remotes_text.splitlines()
        name = "origin" if "origin" in remotes else remotes[0]
        url = _git_text(["remote", "get-url", name], work_dir)
        if url is not None:
            info["remote_name"] = name
            info["remote"] = strip_url_credentials(url)

    if script is not None:
        rel = _relative_to(script, root)
        if rel is not None:
            info["script"] = rel

    status = _run_git(["status", "--porcelain=v1", "-z", "--untracked-files=normal"], work_dir)
    tracked_changes = False
    if status is not None:
        tracked_changes, untracked = _parse_status(status)
        info["dirty"] = tracked_changes or bool(untracked)
        info["untracked_count"] = len(untracked)
        info["untracked"] = untracked[:MAX_UNTRACKED]
        info["untracked_truncated"] = len(untracked) > MAX_UNTRACKED

    diff: str | None = None
    if commit is not None and (tracked_changes or status is None):
        raw = _run_git(["diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv"], work_dir)
        if raw:
            limit = max(0, diff_limit)
            info["diff_bytes"] = len(raw)
            info["diff_truncated"] = len(raw) > limit
            # Cutting may split a multi-byte character; drop the partial tail.
            diff = raw[:limit].decode("utf-8", errors="ignore" if len(raw) > limit else "replace")
            if status is None:
                info["dirty"] = True
    return info, diff


def _parse_status(raw: bytes) -> tuple[bool, list[str]]:
    """Parse ``git status --porcelain=v1 -z``; return (tracked changes?, untracked paths)."""
    entries = raw.decode("utf-8", errors="replace").split("\0")
    tracked = False
    untracked: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            untracked.append(path)
        elif code != "!!":
            tracked = True
            if code[0] in "RC":
                i += 1  # a rename or copy is followed by its source path
    return tracked, untracked


def _relative_to(path: str, root: str) -> str | None:
    try:
        real_path = os.path.realpath(path)
        real_root = os.path.realpath(root)
        if os.path.commonpath([real_path, real_root]) != real_root:
            return None
        return os.path.relpath(real_path, real_root)
    except ValueError:
        return None


# --- interpreter and host --------------------------------------------------------------------------------------------


def _python_info() -> dict[str, object]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "virtualenv": sys.prefix != sys.base_prefix,
        "build": sys.version,
    }


def _host_info() -> dict[str, object]:
    info: dict[str, object] = {}
    probes: dict[str, Callable[[], object]] = {
        "hostname": socket.gethostname,
        "user": getpass.getuser,
        "platform": platform.platform,
        "system": platform.system,
        "release": platform.release,
        "machine": platform.machine,
        "cpu_model": _cpu_model,
        "cpu_count": os.cpu_count,
        "memory_total_bytes": _memory_total,
    }
    for key, probe in probes.items():
        value = _safe(probe, key, None)
        if value is not None and value != "":
            info[key] = value
    return info


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name, sep, value = line.partition(":")
                if sep and name.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_total() -> int | None:
    psutil = _optional_module("psutil")
    if psutil is not None:
        try:
            return int(psutil.virtual_memory().total)
        except Exception:
            pass
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                match = re.match(r"MemTotal:\s+(\d+)\s*kB", line)
                if match:
                    return int(match.group(1)) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def _optional_module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install raising something else
        return None


def _text(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _gpu_info() -> list[dict[str, object]]:
    """List the NVIDIA GPUs through NVML; an empty list when pynvml is absent or NVML cannot start."""
    nvml = _optional_module("pynvml")
    if nvml is None:
        return []
    try:
        nvml.nvmlInit()
    except Exception as exc:
        logger.debug("cairn: NVML unavailable: %s", exc)
        return []
    gpus: list[dict[str, object]] = []
    try:
        driver: str | None
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
        except Exception:
            driver = None
        for index in range(int(nvml.nvmlDeviceGetCount())):
            entry: dict[str, object] = {"index": index}
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
            except Exception as exc:
                logger.debug("cairn: NVML device %d unavailable: %s", index, exc)
                continue
            try:
                entry["name"] = _text(nvml.nvmlDeviceGetName(handle))
            except Exception:
                pass
            try:
                entry["memory_total_bytes"] = int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
            except Exception:
                pass
            if driver is not None:
                entry["driver_version"] = driver
            gpus.append(entry)
    except Exception as exc:
        logger.debug("cairn: NVML query failed: %s", exc)
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    return gpus


def _distributions() -> dict[str, str]:
    """Installed distributions as {name: version}, sorted by normalised name; the first found on sys.path wins."""
    found: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:
            continue
        if not name:
            continue
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        if canonical not in found:
            found[canonical] = (name, version or "")
    return {name: version for _, (name, version) in sorted(found.items())}
