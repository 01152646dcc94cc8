#!/usr/bin/env python3
"""Writing a large file through the page cache vs with ``O_DIRECT``: the measurement behind the
local blob store's choice (ARCHITECTURE.md, "Decisions").

Writes ``--size-mb`` of random bytes into a preallocated file in ``--block-mb`` writes, then
``fdatasync``, alternately buffered and with ``O_DIRECT`` (page-aligned buffers), and prints each
trial's speed and the system CPU time it took, then the medians. Linux only; the folder must be on
a filesystem that takes ``O_DIRECT`` (ext4, xfs).

    python3 bench/artifacts/direct_io.py --dir /var/tmp --size-mb 3000 --trials 3
"""

from __future__ import annotations

import argparse
import mmap
import os
import resource
import statistics
import tempfile
import time


def write_file(path: str, size: int, block: int, direct: bool, sources: list[mmap.mmap]) -> tuple[float, float]:
    """Writes `size` bytes in `block`-byte writes; returns (seconds, system CPU seconds)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0)
    fd = os.open(path, flags, 0o644)
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        os.posix_fallocate(fd, 0, size)
        offset = 0
        while offset < size:
            os.pwrite(fd, sources[(offset // block) % len(sources)], offset)
            offset += block
        os.fdatasync(fd)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        os.close(fd)
        os.unlink(path)
    return seconds, after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the test file goes")
    parser.add_argument("--size-mb", type=int, default=3000, help="file size in MiB")
    parser.add_argument("--block-mb", type=int, default=8, help="bytes per write, in MiB")
    parser.add_argument("--trials", type=int, default=3, help="trials of each mode")
    args = parser.parse_args()
    block = args.block_mb << 20
    size = (args.size_mb << 20) // block * block
    sources = []
    for _ in range(4):
        buffer = mmap.mmap(-1, block)  # page-aligned, as O_DIRECT needs
        buffer.write(os.urandom(block))
        sources.append(buffer)
    path = os.path.join(args.dir, f"cairn-direct-io-{os.getpid()}.bin")
    results: dict[str, list[tuple[float, float]]] = {"page cache": [], "O_DIRECT": []}
    for trial in range(args.trials):
        for mode, direct in (("page cache", False), ("O_DIRECT", True)):
            seconds, system = write_file(path, size, block, direct, sources)
            results[mode].append((seconds, system))
            print(f"trial {trial + 1} {mode:10s} {size / 1e6 / seconds:7.0f} MB/s  system CPU {system:5.2f} s")
    print(f"\n{size / 1e6:.0f} MB in {args.block_mb} MiB writes, medians of {args.trials}:")
    for mode, trials in results.items():
        speed = statistics.median(size / 1e6 / s for s, _ in trials)
        system = statistics.median(c for _, c in trials)
        print(f"  {mode:10s} {speed:7.0f} MB/s  system CPU {system:5.2f} s")


if __name__ == "__main__":
    main()
