#!/usr/bin/env python3
"""Writing and reading a large file through the page cache vs with ``O_DIRECT``: the measurement
behind the local blob store's choices (ARCHITECTURE.md, "Decisions").

Writes ``--size-mb`` of random bytes into a preallocated file in ``--block-mb`` writes, then
``fdatasync``, alternately buffered and with ``O_DIRECT`` (page-aligned buffers); then reads such a
file back in ``--block-mb`` reads, alternately through the page cache and with ``O_DIRECT``, the
cache dropped before each read (needs root; without it the buffered reads come from memory, and
the output says so). Prints each trial's speed and the system CPU time it took, then the medians.
Linux only; the folder must be on a filesystem that takes ``O_DIRECT`` (ext4, xfs).

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

from bench_artifacts import drop_caches  # this folder is on sys.path when the script runs


def write_file(
    path: str, size: int, block: int, direct: bool, sources: list[mmap.mmap], keep: bool = False
) -> tuple[float, float]:
    """Writes `size` bytes in `block`-byte writes; returns (seconds, system CPU seconds). The file
    is removed afterwards unless `keep`."""
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
        if not keep:
            os.unlink(path)
    return seconds, after.ru_stime - before.ru_stime


def read_file(path: str, size: int, block: int, direct: bool, buffer: mmap.mmap) -> tuple[float, float]:
    """Reads the file in `block`-byte reads into `buffer`; returns (seconds, system CPU seconds)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        offset = 0
        while offset < size:
            read = os.preadv(fd, [buffer], offset)
            if read <= 0:
                raise RuntimeError(f"the file ended at {offset} bytes")
            offset += read
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        os.close(fd)
    return seconds, after.ru_stime - before.ru_stime


def report(title: str, size: int, trials: int, results: dict[str, list[tuple[float, float]]]) -> None:
    print(f"\n{title}, medians of {trials}:")
    for mode, measured in results.items():
        speed = statistics.median(size / 1e6 / s for s, _ in measured)
        system = statistics.median(c for _, c in measured)
        print(f"  {mode:10s} {speed:7.0f} MB/s  system CPU {system:5.2f} s")


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
            print(f"trial {trial + 1} {mode:10s} write {size / 1e6 / seconds:7.0f} MB/s  system CPU {system:5.2f} s")
    reads: dict[str, list[tuple[float, float]]] = {"page cache": [], "O_DIRECT": []}
    write_file(path, size, block, True, sources, keep=True)  # the file the reads read
    try:
        for trial in range(args.trials):
            for mode, direct in (("page cache", False), ("O_DIRECT", True)):
                dropped = drop_caches()
                seconds, system = read_file(path, size, block, direct, sources[0])
                reads[mode].append((seconds, system))
                cached = "" if dropped or direct else "  (page cache NOT dropped: read from memory)"
                speed = size / 1e6 / seconds
                print(f"trial {trial + 1} {mode:10s} read {speed:7.0f} MB/s  system CPU {system:5.2f} s{cached}")
    finally:
        os.unlink(path)
    report(f"{size / 1e6:.0f} MB in {args.block_mb} MiB writes", size, args.trials, results)
    report(f"{size / 1e6:.0f} MB in {args.block_mb} MiB reads", size, args.trials, reads)


if __name__ == "__main__":
    main()
