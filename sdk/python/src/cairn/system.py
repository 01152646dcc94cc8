"""Background sampler of system metrics (CPU, memory, disk, network, NVIDIA GPUs).

SystemMonitor samples the machine every ``interval`` seconds on a daemon
thread and hands each sample to a callback as ``{key: float}``. psutil is used
when it can be imported; otherwise Linux's /proc is read directly; on other
systems without psutil only what the standard library offers is reported (the
process CPU time). GPUs are read through NVML (the ``pynvml`` module of the
nvidia-ml-py distribution) when it imports and initialises.

Keys and units (MB means 2**20 bytes):

    system/cpu_percent              whole machine, 0 to 100
    system/process_cpu_percent      this process, percent of one CPU (0 to 100 * CPU count)
    system/memory_percent           (total - available) / total, 0 to 100
    system/memory_used_mb           total - available
    system/process_rss_mb           resident set size of this process
    system/disk_read_mb_s           whole disks, partitions and loop/ram/zram/dm/md devices left out
    system/disk_write_mb_s
    system/net_sent_mb_s            all interfaces except the loopback
    system/net_recv_mb_s
    system/gpu.{i}.utilization_percent
    system/gpu.{i}.memory_used_mb
    system/gpu.{i}.memory_percent
    system/gpu.{i}.temperature_c
    system/gpu.{i}.power_w

CPU percentages and the MB/s rates are computed over the time since the
previous sample, so the first sample of a monitor omits them. The monitor's
thread takes an unreported baseline sample as soon as it starts, so every
sample it reports (the first one ``interval`` seconds after start()) has them.

A probe that raises is left out of that sample and tried again on the next
one; its first failure is logged at WARNING on the ``cairn`` logger. An error
raised by the callback is logged too (the first at WARNING, later ones at
DEBUG) and the thread goes on.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SystemMonitor", "THREAD_NAME"]

logger = logging.getLogger("cairn")

THREAD_NAME = "cairn-system-metrics"
"""Name of the sampling thread."""

_MB = 1024.0 * 1024.0
_DISKSTATS_SECTOR = 512  # /proc/diskstats always counts 512-byte sectors
_VIRTUAL_DISK_PREFIXES = ("loop", "ram", "zram", "dm-", "md")
_PARTITION_SUFFIX = re.compile(r"p?\d+")


def _optional_module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install raising something else
        return None


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read()


class SystemMonitor:
    """Sample system metrics periodically and pass them to a callback.

    log receives one dict per sample; it is called on the monitor's thread.
    interval is the time between samples in seconds. The thread is a daemon
    named "cairn-system-metrics", so it never keeps the interpreter alive.
    """

    def __init__(self, log: Callable[[dict[str, float]], None], interval: float = 10.0) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval!r}")
        self._log = log
        self._interval = float(interval)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._psutil: Any | None = _optional_module("psutil")
        self._process: Any | None = None
        self._previous: dict[str, tuple[float, float]] = {}
        self._warned: set[str] = set()
        self._callback_failures = 0
        # NVML state: None = not tried yet, False = unavailable, otherwise (module, [(index, handle)]).
        self._nvml: tuple[Any, list[tuple[int, Any]]] | bool | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sampling thread; the first reported sample comes after ``interval`` seconds.

        Calling start() on a running monitor does nothing.
        """
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop_event,), name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waking it from its wait, and join it; then release NVML.

        Safe to call more than once, before start(), or from the callback itself
        (then the thread ends after the callback returns). A callback that is
        stuck is waited for at most 5 seconds.
        """
        self._stop_event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
            if thread.is_alive():
                logger.warning("cairn: system metrics thread did not stop within 5 s")
                return
        self._thread = None
        with self._lock:
            self._shutdown_nvml()

    def _run(self, stop_event: threading.Event) -> None:
        try:
            self._collect()  # baseline for the rates; not reported
        except Exception:  # pragma: no cover - _collect guards each probe
            logger.warning("cairn: system metrics baseline failed", exc_info=True)
        while not stop_event.wait(self._interval):
            try:
                metrics = self.sample()
            except Exception:  # pragma: no cover - sample() guards each probe
                logger.warning("cairn: system metrics sample failed", exc_info=True)
                continue
            if not metrics:
                continue
            try:
                self._log(metrics)
            except Exception:
                self._callback_failures += 1
                if self._callback_failures == 1:
                    logger.warning(
                        "cairn: system metrics callback raised; later failures are logged at DEBUG", exc_info=True
                    )
                else:
                    logger.debug("cairn: system metrics callback raised", exc_info=True)

    # --- sampling --------------------------------------------------------------------------------------------------

    def sample(self) -> dict[str, float]:
        """Take one sample now and return it; rates cover the time since the previous sample.

        Thread-safe: it may be called directly while the thread runs (the two
        then share the previous-sample state used for the rates).
        """
        return self._collect()

    def _collect(self) -> dict[str, float]:
        out: dict[str, float] = {}
        probes: tuple[tuple[str, Callable[[dict[str, float]], None]], ...] = (
            ("cpu", self._probe_cpu),
            ("process_cpu", self._probe_process_cpu),
            ("memory", self._probe_memory),
            ("process_memory", self._probe_process_memory),
            ("disk", self._probe_disk),
            ("network", self._probe_network),
            ("gpu", self._probe_gpu),
        )
        with self._lock:
            for name, probe in probes:
                part: dict[str, float] = {}
                try:
                    probe(part)
                except Exception as exc:
                    if name not in self._warned:
                        self._warned.add(name)
                        logger.warning("cairn: system metric probe %r failed and is skipped: %s", name, exc)
                    continue
                out.update(part)
        return out

    def _delta(self, name: str, value: float, now: float) -> tuple[float, float] | None:
        """Store (value, now) under name; return (value change, seconds) since the previous call, or None."""
        previous = self._previous.get(name)
        self._previous[name] = (value, now)
        if previous is None:
            return None
        elapsed = now - previous[1]
        if elapsed <= 0:
            return None
        return value - previous[0], elapsed

    def _rate_mb_s(self, out: dict[str, float], key: str, name: str, total_bytes: float, now: float) -> None:
        delta = self._delta(name, total_bytes, now)
        if delta is not None:
            # A counter that went backwards (device removed, wrap-around) reads as 0.
            out[key] = max(0.0, delta[0]) / _MB / delta[1]

    # --- CPU -------------------------------------------------------------------------------------------------------

    def _cpu_times(self) -> tuple[float, float] | None:
        """Return (busy, total) CPU time of the whole machine, in any consistent unit."""
        if self._psutil is not None:
            times = self._psutil.cpu_times()
            fields = times._asdict()
            total = sum(float(v) for k, v in fields.items() if k not in ("guest", "guest_nice"))
            idle = float(fields.get("idle", 0.0)) + float(fields.get("iowait", 0.0))
            return total - idle, total
        if os.path.exists("/proc/stat"):
            for line in _read("/proc/stat").splitlines():
                if line.startswith("cpu "):
                    values = [float(v) for v in line.split()[1:]]
                    # user nice system idle iowait irq softirq steal [guest guest_nice]; guest is inside user.
                    total = sum(values[:8])
                    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
                    return total - idle, total
            raise ValueError("no aggregate cpu line in /proc/stat")
        return None

    def _probe_cpu(self, out: dict[str, float]) -> None:
        times = self._cpu_times()
        if times is None:
            return
        busy, total = times
        previous = self._previous.get("cpu")
        self._previous["cpu"] = (busy, total)
        if previous is None or total - previous[1] <= 0:
            return
        percent = 100.0 * (busy - previous[0]) / (total - previous[1])
        out["system/cpu_percent"] = min(100.0, max(0.0, percent))

    def _probe_process_cpu(self, out: dict[str, float]) -> None:
        if self._psutil is not None:
            times = self._process_handle().cpu_times()
            used = float(times.user) + float(times.system)
        else:
            times = os.times()
            used = times.user + times.system
        delta = self._delta("process_cpu", used, time.monotonic())
        if delta is not None:
            out["system/process_cpu_percent"] = max(0.0, 100.0 * delta[0] / delta[1])

    def _process_handle(self) -> Any:
        if self._process is None or self._process.pid != os.getpid():
            self._process = self._psutil.Process() if self._psutil is not None else None
        return self._process

    # --- memory ----------------------------------------------------------------------------------------------------

    def _probe_memory(self, out: dict[str, float]) -> None:
        if self._psutil is not None:
            vm = self._psutil.virtual_memory()
            total, available = float(vm.total), float(vm.available)
        elif os.path.exists("/proc/meminfo"):
            info: dict[str, float] = {}
            for line in _read("/proc/meminfo").splitlines():
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts:
                    info[name.strip()] = float(parts[0]) * 1024.0  # values are in kB
            total = info["MemTotal"]
            if "MemAvailable" in info:
                available = info["MemAvailable"]
            else:  # kernels before 3.14
                available = info.get("MemFree", 0.0) + info.get("Buffers", 0.0) + info.get("Cached", 0.0)
        else:
            return
        if total <= 0:
            return
        used = max(0.0, total - available)
        out["system/memory_percent"] = 100.0 * used / total
        out["system/memory_used_mb"] = used / _MB

    def _probe_process_memory(self, out: dict[str, float]) -> None:
        if self._psutil is not None:
            rss = float(self._process_handle().memory_info().rss)
        elif os.path.exists("/proc/self/statm"):
            fields = _read("/proc/self/statm").split()
            rss = float(fields[1]) * os.sysconf("SC_PAGE_SIZE")
        else:
            return
        out["system/process_rss_mb"] = rss / _MB

    # --- disk and network --------------------------------------------------------------------------------------------

    def _probe_disk(self, out: dict[str, float]) -> None:
        now = time.monotonic()
        if self._psutil is not None:
            # psutil leaves partitions out of its totals on Linux.
            counters = self._psutil.disk_io_counters(perdisk=False)
            if counters is None:
                return
            read, written = float(counters.read_bytes), float(counters.write_bytes)
        elif os.path.exists("/proc/diskstats"):
            read, written = _diskstats_totals(_read("/proc/diskstats"))
        else:
            return
        self._rate_mb_s(out, "system/disk_read_mb_s", "disk.read", read, now)
        self._rate_mb_s(out, "system/disk_write_mb_s", "disk.write", written, now)

    def _probe_network(self, out: dict[str, float]) -> None:
        now = time.monotonic()
        if self._psutil is not None:
            per_nic = self._psutil.net_io_counters(pernic=True) or {}
            sent = sum(float(c.bytes_sent) for nic, c in per_nic.items() if nic != "lo")
            received = sum(float(c.bytes_recv) for nic, c in per_nic.items() if nic != "lo")
        elif os.path.exists("/proc/net/dev"):
            sent, received = _netdev_totals(_read("/proc/net/dev"))
        else:
            return
        self._rate_mb_s(out, "system/net_sent_mb_s", "net.sent", sent, now)
        self._rate_mb_s(out, "system/net_recv_mb_s", "net.recv", received, now)

    # --- GPU -------------------------------------------------------------------------------------------------------

    def _nvml_devices(self) -> tuple[Any, list[tuple[int, Any]]] | None:
        if self._nvml is None:
            self._nvml = False
            nvml = _optional_module("pynvml")
            if nvml is None:
                return None
            try:
                nvml.nvmlInit()
            except Exception as exc:
                logger.debug("cairn: NVML unavailable, no GPU metrics: %s", exc)
                return None
            handles: list[tuple[int, Any]] = []
            try:
                count = int(nvml.nvmlDeviceGetCount())
            except Exception as exc:
                logger.debug("cairn: NVML device count failed: %s", exc)
                count = 0
            for index in range(count):
                try:
                    handles.append((index, nvml.nvmlDeviceGetHandleByIndex(index)))
                except Exception as exc:
                    logger.debug("cairn: NVML device %d unavailable: %s", index, exc)
            self._nvml = (nvml, handles)
        if isinstance(self._nvml, tuple):
            return self._nvml
        return None

    def _shutdown_nvml(self) -> None:
        state = self._nvml
        self._nvml = None
        if isinstance(state, tuple):
            try:
                state[0].nvmlShutdown()
            except Exception as exc:
                logger.debug("cairn: NVML shutdown failed: %s", exc)

    def _probe_gpu(self, out: dict[str, float]) -> None:
        devices = self._nvml_devices()
        if devices is None:
            return
        nvml, handles = devices
        for index, handle in handles:
            prefix = f"system/gpu.{index}."
            try:
                out[prefix + "utilization_percent"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:
                pass
            try:
                memory = _gpu_memory(nvml, handle)
                out[prefix + "memory_used_mb"] = float(memory.used) / _MB
                if float(memory.total) > 0:
                    out[prefix + "memory_percent"] = 100.0 * float(memory.used) / float(memory.total)
            except Exception:
                pass
            try:
                sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
                out[prefix + "temperature_c"] = float(nvml.nvmlDeviceGetTemperature(handle, sensor))
            except Exception:
                pass
            try:
                out[prefix + "power_w"] = float(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0  # milliwatts
            except Exception:
                pass


def _diskstats_totals(text: str) -> tuple[float, float]:
    """Sum bytes read and written over the whole disks listed in /proc/diskstats.

    Loop, RAM, zram, device-mapper and md devices are left out (virtual, or
    stacked on disks already counted), and so is every partition whose parent
    disk is listed (sda1 under sda, nvme0n1p1 under nvme0n1, mmcblk0p1 under
    mmcblk0).
    """
    rows: dict[str, tuple[float, float]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        name = fields[2]
        if name.startswith(_VIRTUAL_DISK_PREFIXES):
            continue
        rows[name] = (float(fields[5]) * _DISKSTATS_SECTOR, float(fields[9]) * _DISKSTATS_SECTOR)
    read = written = 0.0
    for name, (r, w) in rows.items():
        if any(
            name != parent and name.startswith(parent) and _PARTITION_SUFFIX.fullmatch(name[len(parent) :])
            for parent in rows
        ):
            continue
        read += r
        written += w
    return read, written


def _netdev_totals(text: str) -> tuple[float, float]:
    """Sum bytes sent and received over the interfaces of /proc/net/dev, the loopback left out."""
    sent = received = 0.0
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep:
            continue  # the two header lines have no colon
        name = name.strip()
        fields = rest.split()
        if name == "lo" or len(fields) < 9:
            continue
        received += float(fields[0])
        sent += float(fields[8])
    return sent, received


def _gpu_memory(nvml: Any, handle: Any) -> Any:
    """Memory in use as ``nvidia-smi`` shows it: the v2 query leaves out memory the driver
    reserves for itself (hundreds of MB on recent GPUs); older bindings and drivers fall
    back to v1."""
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is not None:
        try:
            return nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
        except Exception:  # noqa: BLE001 — driver without v2
            pass
    return nvml.nvmlDeviceGetMemoryInfo(handle)
