"""Throughput of ``sigbench-synth``: synthesised document pages per second, written to disk.

Times :func:`sigbench.documents.synthesize.synthesize_dataset` (templates, fusion, capture, JPEG/PNG/txt,
COCO and YOLO exports) at the requested page size with each worker count. Each worker discovers the fonts
once (about 1-3 s), so short runs understate the steady rate.

    .venv/bin/python benchmarks/synth.py [--pages 40] [--page-size default] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sigbench.documents.synthesize import synthesize_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--page-size", default="default", help="default | a4_300dpi")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    print(f"sigbench-synth: {args.pages} pages, page size {args.page_size}, cpus: {os.cpu_count()}")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            synthesize_dataset(
                Path(tmp) / "set",
                num_pages=args.pages,
                page_size=args.page_size,
                num_workers=workers,
                progress=False,
            )
            elapsed = time.perf_counter() - start
        label = "in-process" if workers == 0 else f"{workers} workers"
        print(
            f"  {label:>10}: {args.pages / elapsed:6.2f} pages/s  ({1e3 * elapsed / args.pages:.0f} ms/page)"
        )


if __name__ == "__main__":
    main()
