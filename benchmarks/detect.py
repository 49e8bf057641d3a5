"""Throughput of document synthesis and of detection inference, in pages per second.

Synthesis: :func:`sigbench.documents.synthesize.synthesize_dataset` in-process and with joblib workers
(the output is identical for any worker count). Detection: :func:`sigbench.detection.infer.detect_pages`
on the synthesised pages, one page per forward pass vs batches, with a randomly initialised detector (or
``--ckpt``, a trained sigbench detection checkpoint); pre- and post-processing included, file writing not.

    .venv/bin/python benchmarks/detect.py [--pages 24] [--workers 0 2] [--long-side 512] [--batch 4]
        [--architecture fasterrcnn --backbone mobilenet_v3_large] [--ckpt last.ckpt] [--device cpu]
        [--levels 6] [--tile-size 640 --tile-overlap 192]

``--levels 6`` times the bilevel business pages (:mod:`sigbench.documents.business`); ``--tile-size``
runs the detector on overlapping tiles of the resized page (merged by ``merge_tile_detections``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from sigbench.detection.infer import detect_pages
from sigbench.detection.models import build_detector
from sigbench.documents.synthesize import synthesize_dataset
from sigbench.images import read_rgb


def synthesis(out: Path, pages: int, workers: list[int], levels: list[int]) -> Path:
    """Print pages/s per worker count; returns the last set written (the pages for the detection part)."""
    rates = {}
    for count in workers:
        target = out / f"w{count}"
        start = time.perf_counter()
        synthesize_dataset(target, num_pages=pages, levels=levels, seed=0, num_workers=count, progress=False)
        elapsed = time.perf_counter() - start
        rates[count] = pages / elapsed
        label = "in-process" if count == 0 else f"{count} workers"
        print(f"  synthesize_dataset ({label:>10}): {rates[count]:6.2f} pages/s  ({elapsed:5.1f} s)")
    if len(rates) > 1:
        first, last = workers[0], workers[-1]
        print(f"  speed-up {last} vs {first}: x{rates[last] / rates[first]:.2f}")
    return target


def detection(args: argparse.Namespace, root: Path) -> None:
    images = [read_rgb(p) for p in sorted(root.glob("L*/data/*/*.jpg"))]
    device = torch.device(args.device)
    if args.ckpt:
        from sigbench.runner.build import load_task

        detector = load_task(args.ckpt)[0].detector
    else:
        detector = build_detector(
            args.architecture, ["signature"], args.backbone, min_size=args.long_side, max_size=args.long_side
        )
    detector = detector.to(device).eval()
    shape = {"long_side": args.long_side, "tile_size": args.tile_size, "tile_overlap": args.tile_overlap}
    detect_pages(detector, images[:2], batch_size=2, device=device, **shape)  # warm-up
    rates = {}
    for batch in (1, args.batch):
        start = time.perf_counter()
        detect_pages(detector, images, batch_size=batch, device=device, **shape)
        elapsed = time.perf_counter() - start
        rates[batch] = len(images) / elapsed
        print(f"  detect_pages (batch {batch:>2}): {rates[batch]:6.2f} pages/s  ({elapsed:5.1f} s)")
    print(f"  batched vs one by one: x{rates[args.batch] / rates[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--long-side", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--architecture", default="fasterrcnn")
    parser.add_argument("--backbone", default="mobilenet_v3_large")
    parser.add_argument("--ckpt", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--tile-size", type=int, default=None)
    parser.add_argument("--tile-overlap", type=int, default=192)
    args = parser.parse_args()
    print(
        f"document synthesis: {args.pages} pages (long side 1000), levels {args.levels}, "
        f"cpus: {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = synthesis(Path(tmp), args.pages, args.workers, args.levels)
        model = args.ckpt or f"{args.architecture} / {args.backbone}, untrained"
        tiles = f", tiles {args.tile_size} (overlap {args.tile_overlap})" if args.tile_size else ""
        print(
            f"detection inference: {args.pages} pages, long side {args.long_side}{tiles}, {model}, "
            f"{args.device}"
        )
        detection(args, root)


if __name__ == "__main__":
    main()
