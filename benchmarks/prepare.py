"""Throughput of ``prepare_dataset`` on the shared BHSig260 Bengali scans: 1 worker vs 2 (or more).

The whole prepare is timed (scan, md5 hashing, pool start-up, preprocessing at the Bengali canvas
770 x 1100, saving the npz), since that is what a user waits for. ``workers=N`` uses N spawned processes
with one OpenCV thread each, so the ratio of 2 to 1 is the parallel speed-up on 2 cores; ``workers=0``
(in the calling process, no pool) can be added for comparison. All runs must
produce identical arrays. CPU ms per image (this process plus its workers) separates the cost of the work
from the wait for cores that other jobs hold. A subset of writers is linked (not copied) into a temporary
folder; each worker's start-up (~0.5 s of imports) weighs less on larger subsets.

    .venv/bin/python benchmarks/prepare.py [--writers 10] [--workers 0 1 2] [--repeat 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

import numpy as np

from sigbench.data.datasets import create_adapter
from sigbench.data.formats import load_dataset
from sigbench.data.prepare import PrepareReport, prepare_dataset

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bhsig260_bengali"


def link_writers(data: Path, writers: int, into: Path) -> Path:
    """The first ``writers`` writer folders (numeric order) as symlinks under ``into``."""
    folders = sorted(
        (p for p in data.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    if writers > 0:
        folders = folders[:writers]
    root = into / "subset"
    root.mkdir()
    for folder in folders:
        (root / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
    return root


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_once(root: Path, out: Path, workers: int) -> PrepareReport:
    return prepare_dataset(create_adapter("bhsig260_bengali", root), out, workers=workers, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--writers", type=int, default=10, help="writers to use (0 = all 100)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; the fastest counts")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"BHSig260 Bengali data not found at {args.data} (pass --data)")

    print(
        f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (outside load skews the figures)"
    )
    best: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = link_writers(args.data, args.writers, Path(tmp))
        reference = None
        for _ in range(args.repeat):  # interleaved, so a burst of outside load hits every setting alike
            for workers in args.workers:
                cpu_before = cpu_seconds()
                report = run_once(root, Path(tmp) / f"w{workers}.npz", workers)
                cpu_ms = 1e3 * (cpu_seconds() - cpu_before) / report.samples
                x = load_dataset(Path(tmp) / f"w{workers}.npz").x
                if reference is None:
                    reference = np.array(x)
                elif not np.array_equal(reference, x):
                    raise SystemExit(
                        f"workers={workers} produced different images than workers={args.workers[0]}"
                    )
                rate = report.samples / report.seconds
                best[workers] = max(best.get(workers, 0.0), rate)
                print(
                    f"workers={workers}: {report.files_found} files ({report.duplicates_removed} duplicates),"
                    f" {report.samples} prepared in {report.seconds:.2f} s -> {rate:.1f} images/s"
                    f" ({cpu_ms:.1f} CPU ms per image)"
                )
    print("best of", args.repeat, "runs:")
    for workers in args.workers:
        print(f"  workers={workers}: {best[workers]:.1f} images/s")
    base = args.workers[0]
    for workers in args.workers[1:]:
        print(f"speed-up workers={workers} vs workers={base}: {best[workers] / best[base]:.2f}x")


if __name__ == "__main__":
    main()
