"""``sigbench-synthetic``: write a synthetic signature set as PNG files + manifest (and optionally an npz).

PNG folders let the synthetic writers be inspected by eye or fed to tools that expect image files; the
manifest says which file is which.  Generation itself is :mod:`sigbench.data.synthetic`; this module only
parses arguments, writes files and turns bad arguments into one clear message instead of a traceback.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from sigbench.data.formats import save_npz
from sigbench.data.synthetic import (
    CANVAS_SIZE,
    IMG_SIZE,
    LEVELS,
    STYLES,
    WriterBatch,
    assemble_dataset,
    iter_writers,
    resolve_difficulty,
)

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("path", "writer", "label", "sample", "forger")
IMAGE_KINDS = {
    "raw": ("raw",),
    "preprocessed": ("preprocessed",),
    "both": ("raw", "preprocessed"),
    "none": (),
}


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _difficulty(text: str) -> str:
    try:
        resolve_difficulty(text)
    except (TypeError, ValueError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigbench-synthetic",
        description="Generate synthetic handwritten signatures (genuine + skilled forgeries) as PNG files.",
    )
    parser.add_argument("out", type=Path, help="output folder (created if missing)")
    parser.add_argument("--writers", type=_int_at_least(1), default=10, help="number of writers (default 10)")
    parser.add_argument(
        "--genuine", type=_int_at_least(1), default=12, help="genuine per writer (default 12)"
    )
    parser.add_argument(
        "--forgeries", type=_int_at_least(0), default=6, help="forgeries per writer (default 6)"
    )
    parser.add_argument(
        "--difficulty",
        type=_difficulty,
        default="default",
        help=f"one of {', '.join(LEVELS)} or a number in [0, 1] (default: default)",
    )
    parser.add_argument("--seed", type=_int_at_least(0), default=0, help="population seed (default 0)")
    parser.add_argument(
        "--style",
        choices=STYLES,
        default="classic",
        help="classic (default) or western (Latin-script names, initials, wider hands)",
    )
    parser.add_argument("--first-writer", type=_int_at_least(0), default=0, help="id of the first writer")
    parser.add_argument(
        "--images",
        choices=sorted(IMAGE_KINDS),
        default="raw",
        help="which PNGs to write: raw scans, preprocessed 170x242 images, both, or none (default raw)",
    )
    parser.add_argument("--npz", type=Path, default=None, help="also save the preprocessed set as this npz")
    parser.add_argument(
        "--canvas", type=_int_at_least(1), nargs=2, metavar=("H", "W"), default=list(CANVAS_SIZE)
    )
    parser.add_argument(
        "--img-size", type=_int_at_least(8), nargs=2, metavar=("H", "W"), default=list(IMG_SIZE)
    )
    parser.add_argument(
        "--workers", type=_int_at_least(-1), default=0, help="joblib processes (-1 = all cores)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing manifest in OUT")
    return parser


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def _write_batch(out: Path, batch: WriterBatch, kinds: Sequence[str], rows: list[tuple]) -> None:
    for i, info in enumerate(batch.infos):
        for kind in kinds:
            image = batch.raw[i] if kind == "raw" else batch.images[i]
            rel = f"{kind}/{info.filename}"
            _write_png(out / rel, image)
            label = "forgery" if info.forgery else "genuine"
            rows.append((rel, info.writer_name, label, info.index, info.forger if info.forgery else ""))


def _write_manifest(path: Path, rows: list[tuple]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    kinds = IMAGE_KINDS[args.images]
    if not kinds and args.npz is None:
        parser.error("--images none writes nothing unless --npz is given")
    if args.npz is not None and args.npz.suffix != ".npz":
        parser.error(f"--npz must name a .npz file, got {args.npz}")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        parser.error(f"output {out} exists and is not a folder")
    if (out / MANIFEST).exists() and not args.overwrite:
        parser.error(f"{out / MANIFEST} already exists; pass --overwrite to replace the set")

    want_images = "preprocessed" in kinds or args.npz is not None
    start = time.perf_counter()
    try:
        batches = iter_writers(
            args.writers,
            args.genuine,
            args.forgeries,
            difficulty=args.difficulty,
            seed=args.seed,
            first_writer=args.first_writer,
            canvas_size=tuple(args.canvas),
            img_size=tuple(args.img_size),
            num_workers=args.workers,
            raw="raw" in kinds,
            preprocessed=want_images,
            style=args.style,
        )
    except (TypeError, ValueError) as err:  # argument checks the parser cannot do (e.g. canvas vs scan)
        parser.error(str(err))
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple] = []
    kept: list[WriterBatch] = []
    for batch in batches:
        _write_batch(out, batch, kinds, rows)
        if args.npz is not None:  # keep only what the npz needs, not the raw scans
            kept.append(WriterBatch(batch.writer_id, batch.infos, None, batch.images))
    if kinds:
        _write_manifest(out / MANIFEST, rows)
    if args.npz is not None:
        origin = f"synthetic(seed={args.seed}, writers from {args.first_writer})"
        save_npz(assemble_dataset(kept, origin=origin), args.npz)
    total = args.writers * (args.genuine + args.forgeries)
    elapsed = time.perf_counter() - start
    where = [str(out / MANIFEST)] if kinds else []
    where += [str(args.npz)] if args.npz is not None else []
    print(f"{total} signatures of {args.writers} writers in {elapsed:.1f} s -> {', '.join(where)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
