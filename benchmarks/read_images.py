"""Cost of reading images through :mod:`sigbench.images`, against a bare ``cv2.imread``, in ms per file.

The reader does more than OpenCV's (header size check, EXIF, transparency, 16-bit scaling), and the folder
tools decode every input once more before the run (:func:`sigbench.images.check_inputs`), so that an
unreadable file stops the run before any output. This prints what both cost on generated files of a few
kinds and sizes: a page scan (RGB JPEG), a signature crop (grey PNG), a transparent PNG, a 16-bit TIFF.

    .venv/bin/python benchmarks/read_images.py [--repeat 5] [--page 2480 3508]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from sigbench.images import check_inputs, read_rgb


def make_files(folder: Path, page: tuple[int, int]) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    width, height = page
    scan = rng.integers(200, 256, (height, width, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (170, 242), dtype=np.uint8)
    files = {
        "page scan, RGB JPEG": folder / "page.jpg",
        "signature crop, grey PNG": folder / "crop.png",
        "page, RGBA PNG": folder / "rgba.png",
        "page, 16-bit colour TIFF": folder / "deep.tif",
    }
    Image.fromarray(scan).save(files["page scan, RGB JPEG"], quality=90)
    Image.fromarray(crop).save(files["signature crop, grey PNG"])
    alpha = rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([scan, alpha], axis=2), "RGBA").save(files["page, RGBA PNG"])
    cv2.imwrite(str(files["page, 16-bit colour TIFF"]), scan.astype(np.uint16) * 257)
    return files


def best_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--page", type=int, nargs=2, default=[2480, 3508], help="page width height (A4 300 dpi)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), tuple(args.page))
        print(f"best of {args.repeat}, ms per file (page {args.page[0]} x {args.page[1]})")
        print(f"  {'file':<28} {'cv2.imread':>10} {'read_rgb':>10} {'ratio':>6} {'check':>8}")
        for label, path in files.items():
            bare = best_ms(lambda p=path: cv2.imread(str(p), cv2.IMREAD_UNCHANGED), args.repeat)
            ours = best_ms(lambda p=path: read_rgb(p), args.repeat)
            check = best_ms(lambda p=path: check_inputs([p]), args.repeat)
            print(f"  {label:<28} {bare:10.1f} {ours:10.1f} {ours / bare:6.2f} {check:8.1f}")


if __name__ == "__main__":
    main()
