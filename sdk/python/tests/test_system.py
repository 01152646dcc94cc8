"""Tests for cairn.system (the system metrics sampler)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import types
from collections import namedtuple
from collections.abc import Callable

import pytest

from cairn import system
from cairn.system import THREAD_NAME, SystemMonitor

RATE_KEYS = {
    "system/cpu_percent",
    "system/process_cpu_percent",
    "system/disk_read_mb_s",
    "system/disk_write_mb_s",
    "system/net_sent_mb_s",
    "system/net_recv_mb_s",
}
LEVEL_KEYS = {"system/memory_percent", "system/memory_used_mb", "system/process_rss_mb"}
GPU_SUFFIXES = ("utilization_percent", "memory_used_mb", "memory_percent", "temperature_c", "power_w")

on_linux_proc = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux /proc")


@pytest.fixture(autouse=True)
def no_real_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a real NVML (if installed) out of the tests; GPU tests install a fake."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


def burn_cpu(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@on_linux_proc
def test_sample_keys_and_ranges() -> None:
    monitor = SystemMonitor(lambda m: None)
    first = monitor.sample()
    assert LEVEL_KEYS <= set(first)
    assert not RATE_KEYS & set(first)  # the first sample has no rates
    burn_cpu(0.2)
    second = monitor.sample()
    assert LEVEL_KEYS | RATE_KEYS <= set(second)
    assert all(isinstance(v, float) for v in second.values())
    ncpu = os.cpu_count() or 1
    assert 0.0 <= second["system/cpu_percent"] <= 100.0
    assert 0.0 < second["system/process_cpu_percent"] <= 100.0 * ncpu * 1.1
    assert 0.0 < second["system/memory_percent"] <= 100.0
    assert second["system/memory_used_mb"] > 0
    assert second["system/process_rss_mb"] > 1
    for key in ("disk_read_mb_s", "disk_write_mb_s", "net_sent_mb_s", "net_recv_mb_s"):
        assert second[f"system/{key}"] >= 0.0
    assert not [k for k in second if k.startswith("system/gpu.")]


def test_monitor_thread_calls_back_and_stops_promptly() -> None:
    samples: list[dict[str, float]] = []
    monitor = SystemMonitor(samples.append, interval=0.05)
    monitor.start()
    try:
        threads = [t for t in threading.enumerate() if t.name == THREAD_NAME]
        assert threads and threads[0].daemon
        assert wait_for(lambda: len(samples) >= 2, timeout=1.0)
    finally:
        started = time.monotonic()
        monitor.stop()
        assert time.monotonic() - started < 0.5
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME]
    if os.path.exists("/proc/stat"):
        assert RATE_KEYS <= set(samples[0])  # the baseline makes even the first report complete


def test_first_sample_waits_for_interval() -> None:
    samples: list[dict[str, float]] = []
    monitor = SystemMonitor(samples.append, interval=0.5)
    monitor.start()
    time.sleep(0.2)
    assert samples == []
    started = time.monotonic()
    monitor.stop()
    assert time.monotonic() - started < 0.5  # stop wakes the wait


def test_stop_is_idempotent_and_restartable() -> None:
    samples: list[dict[str, float]] = []
    monitor = SystemMonitor(samples.append, interval=0.05)
    monitor.stop()  # before start
    monitor.start()
    monitor.start()  # no second thread
    assert len([t for t in threading.enumerate() if t.name == THREAD_NAME]) == 1
    monitor.stop()
    monitor.stop()
    monitor.start()
    assert wait_for(lambda: len(samples) >= 1, timeout=1.0)
    monitor.stop()


def test_invalid_interval() -> None:
    with pytest.raises(ValueError):
        SystemMonitor(lambda m: None, interval=0)


def test_raising_callback_does_not_kill_thread(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def callback(metrics: dict[str, float]) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    monitor = SystemMonitor(callback, interval=0.05)
    with caplog.at_level(logging.WARNING, logger="cairn"):
        monitor.start()
        try:
            assert wait_for(lambda: len(calls) >= 3, timeout=2.0)
            assert monitor._thread is not None and monitor._thread.is_alive()
        finally:
            monitor.stop()
    warnings = [r for r in caplog.records if "callback raised" in r.getMessage()]
    assert len(warnings) == 1  # logged once at WARNING, later ones at DEBUG


def test_stop_from_callback() -> None:
    done = threading.Event()
    monitor: SystemMonitor

    def callback(metrics: dict[str, float]) -> None:
        monitor.stop()
        done.set()

    monitor = SystemMonitor(callback, interval=0.05)
    monitor.start()
    assert done.wait(1.0)
    assert wait_for(lambda: not [t for t in threading.enumerate() if t.name == THREAD_NAME], timeout=1.0)


@on_linux_proc
def test_failing_probe_is_dropped_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = SystemMonitor(lambda m: None)

    def broken(out: dict[str, float]) -> None:
        out["system/memory_percent"] = 1.0  # partial output of a failing probe is discarded
        raise OSError("unreadable")

    monkeypatch.setattr(monitor, "_probe_memory", broken)
    with caplog.at_level(logging.WARNING, logger="cairn"):
        first = monitor.sample()
        second = monitor.sample()
    for sample in (first, second):
        assert "system/memory_percent" not in sample
        assert "system/process_rss_mb" in sample
    assert len([r for r in caplog.records if "'memory'" in r.getMessage()]) == 1


# --- /proc parsers -------------------------------------------------------------------------------------------------

DISKSTATS = """\
   7       0 loop0 100 0 8000 0 0 0 0 0 0 0 0
   1       0 ram0 100 0 8000 0 0 0 0 0 0 0 0
 259       0 nvme0n1 10 0 2048 5 20 0 4096 7 0 12 12
 259       1 nvme0n1p1 5 0 1024 3 10 0 2048 3 0 6 6
 259       2 nvme0n1p2 5 0 1024 3 10 0 2048 3 0 6 6
   8       0 sda 1 0 10 0 1 0 20 0 0 0 0
   8       1 sda1 1 0 10 0 1 0 20 0 0 0 0
 179       0 mmcblk0 1 0 2 0 1 0 4 0 0 0 0
 179       1 mmcblk0p1 1 0 2 0 1 0 4 0 0 0 0
 253       0 dm-0 9 0 9999 0 9 0 9999 0 0 0 0
   8      16 sdb1 1 0 6 0 1 0 8 0 0 0 0
"""


def test_diskstats_whole_disks_only() -> None:
    read, written = system._diskstats_totals(DISKSTATS)
    # nvme0n1 + sda + mmcblk0 + sdb1 (its parent is not listed, so it counts)
    assert read == (2048 + 10 + 2 + 6) * 512
    assert written == (4096 + 20 + 4 + 8) * 512


NETDEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed
    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0
  eth0: 1000 10 0 0 0 0 0 0 300 3 0 0 0 0 0 0
wlan0:200 2 0 0 0 0 0 0 40 1 0 0 0 0 0 0
"""


def test_netdev_excludes_loopback() -> None:
    sent, received = system._netdev_totals(NETDEV)
    assert received == 1200
    assert sent == 340


# --- psutil code path through a test double --------------------------------------------------------------------------


def fake_psutil() -> types.ModuleType:
    """A psutil stand-in with the attribute shapes of the real module, advancing counters on each call."""
    mod = types.ModuleType("psutil")
    calls = {"n": 0}
    CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice")
    ProcTimes = namedtuple("ProcTimes", "user system children_user children_system")
    Mem = namedtuple("Mem", "total available percent used free")
    Disk = namedtuple("Disk", "read_count write_count read_bytes write_bytes read_time write_time")
    Net = namedtuple("Net", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout")

    def tick() -> int:
        calls["n"] += 1
        return calls["n"]

    def cpu_times() -> tuple[float, ...]:
        n = tick()
        # each call: 30 busy + 70 idle units (+ guest, which must be ignored)
        return CpuTimes(30.0 * n, 0.0, 0.0, 70.0 * n, 0.0, 0.0, 0.0, 0.0, 999.0 * n, 0.0)

    class Process:
        pid = os.getpid()

        def cpu_times(self) -> tuple[float, ...]:
            return ProcTimes(float(time.monotonic()), 0.0, 0.0, 0.0)  # one CPU fully busy

        def memory_info(self) -> types.SimpleNamespace:
            return types.SimpleNamespace(rss=300 * 2**20)

    mod.cpu_times = cpu_times  # type: ignore[attr-defined]
    mod.Process = Process  # type: ignore[attr-defined]
    mod.virtual_memory = lambda: Mem(8 * 2**30, 6 * 2**30, 25.0, 2 * 2**30, 5 * 2**30)  # type: ignore[attr-defined]
    mod.disk_io_counters = lambda perdisk=False: Disk(0, 0, 2**20 * tick(), 0, 0, 0)  # type: ignore[attr-defined]
    mod.net_io_counters = lambda pernic=False: {  # type: ignore[attr-defined]
        "lo": Net(10**9 * tick(), 10**9 * calls["n"], 0, 0, 0, 0, 0, 0),
        "eth0": Net(0, 2**20 * calls["n"], 0, 0, 0, 0, 0, 0),
    }
    return mod


def test_psutil_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", fake_psutil())
    monitor = SystemMonitor(lambda m: None)
    monitor.sample()
    time.sleep(0.05)
    s = monitor.sample()
    assert s["system/cpu_percent"] == pytest.approx(30.0)
    assert s["system/process_cpu_percent"] == pytest.approx(100.0, rel=0.05)
    assert s["system/memory_percent"] == pytest.approx(25.0)
    assert s["system/memory_used_mb"] == pytest.approx(2048.0)
    assert s["system/process_rss_mb"] == pytest.approx(300.0)
    assert s["system/disk_read_mb_s"] > 0 and s["system/disk_write_mb_s"] == 0.0
    assert s["system/net_sent_mb_s"] == 0.0  # only lo sent anything
    assert s["system/net_recv_mb_s"] > 0


# --- GPUs through a fake NVML ----------------------------------------------------------------------------------------


class NVMLError(Exception):
    pass


def fake_nvml(fail_init: bool = False, broken_power_on: int | None = None) -> types.ModuleType:
    """A pynvml stand-in with two GPUs; the CI machine has no NVIDIA hardware."""
    mod = types.ModuleType("pynvml")
    mod.NVMLError = NVMLError  # type: ignore[attr-defined]
    mod.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    state = {"init": 0, "shutdown": 0}
    gpus = [
        {"util": 37, "used": 2 * 2**30, "total": 8 * 2**30, "temp": 55, "power": 123_456},
        {"util": 100, "used": 6 * 2**30, "total": 24 * 2**30, "temp": 81, "power": 300_000},
    ]

    def init() -> None:
        if fail_init:
            raise NVMLError("Driver Not Loaded")
        state["init"] += 1

    def shutdown() -> None:
        state["shutdown"] += 1

    def power(h: int) -> int:
        if h == broken_power_on:
            raise NVMLError("Not Supported")
        return int(gpus[h]["power"])

    def temperature(h: int, sensor: int) -> int:
        assert sensor == 0
        return int(gpus[h]["temp"])

    mod.nvmlInit = init  # type: ignore[attr-defined]
    mod.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    mod.nvmlDeviceGetCount = lambda: len(gpus)  # type: ignore[attr-defined]
    mod.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    mod.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=gpus[h]["util"], memory=0)  # type: ignore[attr-defined]
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        used=gpus[h]["used"], total=gpus[h]["total"], free=gpus[h]["total"] - gpus[h]["used"]
    )
    mod.nvmlDeviceGetTemperature = temperature  # type: ignore[attr-defined]
    mod.nvmlDeviceGetPowerUsage = power  # type: ignore[attr-defined]
    mod.state = state  # type: ignore[attr-defined]
    return mod


def test_gpu_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monitor = SystemMonitor(lambda m: None)
    s = monitor.sample()
    gpu_keys = {k for k in s if k.startswith("system/gpu.")}
    assert gpu_keys == {f"system/gpu.{i}.{suffix}" for i in (0, 1) for suffix in GPU_SUFFIXES}
    assert s["system/gpu.0.utilization_percent"] == 37.0
    assert s["system/gpu.0.memory_used_mb"] == 2048.0
    assert s["system/gpu.0.memory_percent"] == 25.0
    assert s["system/gpu.0.temperature_c"] == 55.0
    assert s["system/gpu.0.power_w"] == pytest.approx(123.456)
    assert s["system/gpu.1.utilization_percent"] == 100.0
    assert s["system/gpu.1.memory_used_mb"] == 6144.0
    assert s["system/gpu.1.memory_percent"] == 25.0
    assert s["system/gpu.1.temperature_c"] == 81.0
    assert s["system/gpu.1.power_w"] == 300.0
    assert all(isinstance(v, float) for v in s.values())
    monitor.sample()
    assert nvml.state == {"init": 1, "shutdown": 0}  # type: ignore[attr-defined]
    monitor.stop()
    assert nvml.state == {"init": 1, "shutdown": 1}  # type: ignore[attr-defined]


def test_gpu_metrics_in_monitor_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    samples: list[dict[str, float]] = []
    monitor = SystemMonitor(samples.append, interval=0.05)
    monitor.start()
    try:
        assert wait_for(lambda: len(samples) >= 1, timeout=1.0)
    finally:
        monitor.stop()
    assert samples[0]["system/gpu.1.temperature_c"] == 81.0


def test_one_gpu_reading_failing_keeps_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(broken_power_on=1))
    s = SystemMonitor(lambda m: None).sample()
    assert "system/gpu.1.power_w" not in s
    assert s["system/gpu.1.utilization_percent"] == 100.0
    assert s["system/gpu.0.power_w"] == pytest.approx(123.456)


def test_nvml_init_failure_gives_no_gpu_keys(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(fail_init=True))
    monitor = SystemMonitor(lambda m: None)
    with caplog.at_level(logging.WARNING, logger="cairn"):
        samples = [monitor.sample(), monitor.sample()]
    for s in samples:
        assert not [k for k in s if k.startswith("system/gpu.")]
    assert not caplog.records  # a machine without a GPU driver is normal, not a warning
    monitor.stop()
