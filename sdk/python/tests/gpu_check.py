"""Manual check of the GPU code paths on a machine with an NVIDIA GPU and nvidia-ml-py installed.

Not collected by pytest (the name does not start with ``test_``). Run from the
repository root::

    python sdk/python/tests/gpu_check.py

It prints one SystemMonitor sample and the GPU part of capture() as JSON, and
exits with status 1 when no ``system/gpu.0.*`` key appears in the sample (or 2
when pynvml cannot be imported at all).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    try:
        import pynvml  # noqa: F401
    except ImportError as exc:
        print(f"pynvml is not importable (install nvidia-ml-py): {exc}", file=sys.stderr)
        return 2

    from cairn.environment import capture
    from cairn.system import SystemMonitor

    monitor = SystemMonitor(lambda metrics: None)
    try:
        monitor.sample()  # baseline for the rates
        time.sleep(0.5)
        sample = monitor.sample()
    finally:
        monitor.stop()
    captured = capture(argv=[__file__])
    report = {
        "sample": sample,
        "gpus": captured.document.get("gpus"),
        "host": captured.document.get("host"),
    }
    print(json.dumps(report, indent=2, sort_keys=True))
    gpu0 = sorted(k for k in sample if k.startswith("system/gpu.0."))
    if not gpu0:
        print("FAIL: no system/gpu.0.* keys in the sample", file=sys.stderr)
        return 1
    if not captured.document.get("gpus"):
        print("FAIL: capture() listed no GPUs", file=sys.stderr)
        return 1
    print(f"OK: {len(gpu0)} gpu.0 keys: {', '.join(gpu0)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
