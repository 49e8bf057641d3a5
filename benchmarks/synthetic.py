"""Throughput of the synthetic signature generator, in images per second.

Times the raw-scan side alone (trajectory + rendering, one process) and whole preprocessed sets through
``generate_dataset`` with each requested worker count.  The design target is a 100-writer x (12 genuine +
6 forgeries) set in well under a minute on two cores.

    .venv/bin/python benchmarks/synthetic.py [--writers 100] [--genuine 12] [--forgeries 6] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import os
import time

from sigbench.data.synthetic import generate_dataset, resolve_difficulty, writer_scans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=100)
    parser.add_argument("--genuine", type=int, default=12)
    parser.add_argument("--forgeries", type=int, default=6)
    parser.add_argument("--difficulty", default="default")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    per_writer = args.genuine + args.forgeries
    total = args.writers * per_writer
    print(f"synthetic generator: {args.writers} writers x {per_writer} samples = {total} images")
    print(f"  cpus: {os.cpu_count()}, difficulty: {args.difficulty}")

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
            f"  generate_dataset ({label:>10}): {total / elapsed:7.1f} images/s  {elapsed:6.1f} s for the set"
        )


if __name__ == "__main__":
    main()
