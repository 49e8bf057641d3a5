"""Throughput and memory of the synthetic signature generator.

1. Raw scans alone (trajectory + rendering, one process), in images per second.
2. Whole preprocessed sets through ``generate_dataset`` (one in-memory array) with each worker count.
3. Memory-mapped populations through ``generate_population`` (GPDS-synthetic scale: workers write their
   writers' rows into a preallocated ``x.npy``) with each worker count: writers/s, writers/s per core, and
   the parent's peak memory (RSS growth, from ``/proc/self/status`` VmHWM reset per run, and tracemalloc's
   peak of Python allocations) next to the size of the array it wrote.  With 2+ workers the parent stays
   flat whatever the population size (no pixels pass through it); joblib runs ``n_jobs=1`` in the calling
   process, so the 1-worker row shows the rendering working set and one job's dirty memmap pages.

    .venv/bin/python benchmarks/synthetic.py [--writers 100] [--genuine 12] [--forgeries 6] [--workers 0 2]
        [--population-writers 200] [--population-genuine 24] [--population-forgeries 30] [--style western]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from sigbench.data.synthetic import (
    IMG_SIZE,
    generate_dataset,
    generate_population,
    resolve_difficulty,
    writer_scans,
)


def _status_kib(key: str) -> int | None:
    """A memory figure of this process from /proc (Linux); ``None`` elsewhere."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))
    except (OSError, StopIteration):
        return None


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is this run's own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def population_run(writers: int, genuine: int, forgeries: int, workers: int, style: str) -> None:
    cores = 1 if workers == 0 else (os.cpu_count() or 1) if workers < 0 else workers
    array_mib = writers * (genuine + forgeries) * IMG_SIZE[0] * IMG_SIZE[1] / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        reset = _reset_peak_rss()
        rss_before = _status_kib("VmRSS")
        tracemalloc.start()
        start = time.perf_counter()
        generate_population(Path(tmp) / "pop", writers, genuine, forgeries, num_workers=workers, style=style)
        elapsed = time.perf_counter() - start
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        hwm = _status_kib("VmHWM")
    rss = f"{(hwm - rss_before) / 1024:6.1f} MiB" if reset and hwm and rss_before else "   n/a"
    label = "in-process" if workers == 0 else f"{workers} workers"
    rate = writers / elapsed
    print(
        f"  generate_population ({label:>10}): {rate:6.2f} writers/s, {rate / cores:6.2f} per core, "
        f"parent peak RSS growth {rss}, tracemalloc peak {traced_peak / 2**20:6.1f} MiB "
        f"(array written: {array_mib:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=100)
    parser.add_argument("--genuine", type=int, default=12)
    parser.add_argument("--forgeries", type=int, default=6)
    parser.add_argument("--difficulty", default="default")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--population-writers", type=int, default=40)
    parser.add_argument("--population-genuine", type=int, default=24)
    parser.add_argument("--population-forgeries", type=int, default=30)
    parser.add_argument("--population-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--style", default="western")
    parser.add_argument("--skip-sets", action="store_true", help="only the memory-mapped population part")
    args = parser.parse_args()
    print(f"  cpus: {os.cpu_count()}, difficulty: {args.difficulty}")
    if not args.skip_sets:
        per_writer = args.genuine + args.forgeries
        total = args.writers * per_writer
        print(f"synthetic generator: {args.writers} writers x {per_writer} samples = {total} images")
        diff = resolve_difficulty(args.difficulty)
        raw_writers = max(1, args.writers // 10)
        start = time.perf_counter()
        for wid in range(raw_writers):
            writer_scans(0, wid, args.genuine, args.forgeries, diff)
        elapsed = time.perf_counter() - start
        n = raw_writers * per_writer
        rate = f"{n / elapsed:7.1f} images/s  ({1e3 * elapsed / n:.1f} ms/image)"
        print(f"  raw scans only (1 process, {n} images): {rate}")

        for workers in args.workers:
            start = time.perf_counter()
            ds = generate_dataset(
                args.writers, args.genuine, args.forgeries, difficulty=args.difficulty, num_workers=workers
            )
            elapsed = time.perf_counter() - start
            assert len(ds) == total
            label = "in-process" if workers == 0 else f"{workers} workers"
            print(
                f"  generate_dataset ({label:>10}): {total / elapsed:7.1f} images/s  "
                f"{elapsed:6.1f} s for the set"
            )
    per_writer = args.population_genuine + args.population_forgeries
    print(
        f"memory-mapped population ({args.style}): {args.population_writers} writers x {per_writer} samples "
        f"at {IMG_SIZE[0]} x {IMG_SIZE[1]}"
    )
    for workers in args.population_workers:
        population_run(
            args.population_writers, args.population_genuine, args.population_forgeries, workers, args.style
        )


if __name__ == "__main__":
    main()
