"""Simple image statistics of synthetic vs real genuine signatures, side by side.

Used to set the ranges of the ``western`` style (:mod:`sigbench.data.synthetic.western`): a synthetic
population should cover what real sets show in ink density, shape, stroke width, size and slant, and vary
within a writer about as much as real writers do.  For every set it prints the median and the 10th-90th
percentile range of each statistic over all images, and the mean within-writer standard deviation.

Statistics (ink = not lighter than Otsu's threshold, box = ink bounding box between the 0.5th and 99.5th
percentile of ink coordinates, so a stray speck does not stretch it):

* ``ink``: ink pixels / box area;  ``aspect``: box width / height;  ``box_h``: box height in pixels
  (depends on the scan resolution, so only comparable between sets scanned alike);
* ``width/h``: stroke width (2 x ink area / contour length) over box height (scale-free);
* ``slant``: degrees from vertical of near-vertical stroke edges (gradient-weighted mean; right lean > 0).

    .venv/bin/python scripts/compare_synthetic_real.py [--writers 30] [--samples 6] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from sigbench.data.synthetic import resolve_difficulty, writer_scans
from sigbench.images.decode import read_grey

STATS = ("ink", "aspect", "box_h", "width/h", "slant")
REPO = Path(__file__).resolve().parents[1]
REAL_SETS = {
    "kaggle": "kaggle_sign_data",
    "nisdcc": "sigcomp2009_nisdcc_preview",
    "bhsig": "bhsig260_bengali",
}


def image_stats(grey: np.ndarray) -> dict[str, float]:
    """The statistics of one grey image (dark ink on light paper)."""
    threshold, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = grey <= threshold  # as OpenCV splits: > threshold is paper (a 0/255 image gives threshold 0)
    ys, xs = np.nonzero(ink)
    if ys.size < 20:
        raise ValueError("image has almost no ink")
    y0, y1 = np.percentile(ys, [0.5, 99.5])
    x0, x1 = np.percentile(xs, [0.5, 99.5])
    h, w = max(y1 - y0, 1.0), max(x1 - x0, 1.0)
    mask = ink.astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    width = 2.0 * ys.size / max(perimeter, 1.0)
    smooth = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    magnitude = np.hypot(gx, gy)
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = np.degrees(np.arctan(gy / gx))  # stroke direction's deviation from vertical (y down)
    near_vertical = (magnitude > 0.05) & (np.abs(angle) < 45)
    slant = (
        float(np.average(angle[near_vertical], weights=magnitude[near_vertical]))
        if near_vertical.any()
        else 0.0
    )
    return {"ink": ys.size / (h * w), "aspect": w / h, "box_h": h, "width/h": width / h, "slant": slant}


def real_genuine(folder: Path, writers: int, samples: int) -> dict[str, list[np.ndarray]]:
    """Up to ``samples`` genuine images of the first ``writers`` writers listed in ``folder/manifest.csv``."""
    by_writer: dict[str, list[Path]] = defaultdict(list)
    with open(folder / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["label"] == "genuine":
                by_writer[row["writer"]].append(folder / row["path"])
    chosen = sorted(by_writer, key=int)[:writers]
    return {w: [read_grey(p) for p in sorted(by_writer[w])[:samples]] for w in chosen}


def synthetic_genuine(style: str, writers: int, samples: int, seed: int) -> dict[str, list[np.ndarray]]:
    diff = resolve_difficulty("default")
    return {
        str(w): [s.image for s in writer_scans(seed, w, samples, 0, diff, style=style)]
        for w in range(writers)
    }


def summarise(images: dict[str, list[np.ndarray]]) -> dict[str, tuple[float, float, float, float]]:
    """Per statistic: median, 10th and 90th percentile over images, mean within-writer std."""
    per_writer = {w: [image_stats(img) for img in imgs] for w, imgs in images.items()}
    out = {}
    for key in STATS:
        values = np.array([s[key] for stats in per_writer.values() for s in stats])
        within = np.mean([np.std([s[key] for s in stats]) for stats in per_writer.values() if len(stats) > 1])
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        out[key] = (float(p50), float(p10), float(p90), float(within))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=30)
    parser.add_argument("--samples", type=int, default=6, help="genuine signatures per writer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    sets: dict[str, dict[str, list[np.ndarray]]] = {}
    for style in ("classic", "western"):
        sets[f"synthetic {style}"] = synthetic_genuine(style, args.writers, args.samples, args.seed)
    for name, sub in REAL_SETS.items():
        folder = args.data / sub
        if not (folder / "manifest.csv").exists():
            print(f"({name}: {folder}/manifest.csv not found, skipped)")
            continue
        sets[name] = real_genuine(folder, args.writers, args.samples)
    summaries = {name: summarise(images) for name, images in sets.items()}
    print("median [p10 .. p90] (mean within-writer std) of genuine signatures")
    print(f"{'statistic':<10}" + "".join(f"{name:>34}" for name in summaries))
    for key in STATS:
        cells = []
        for s in summaries.values():
            p50, p10, p90, within = s[key]
            cells.append(f"{p50:8.3g} [{p10:7.3g} ..{p90:7.3g}] ({within:6.2g})")
        print(f"{key:<10}" + "".join(f"{c:>34}" for c in cells))
    counts = ", ".join(f"{name}: {sum(len(v) for v in images.values())}" for name, images in sets.items())
    print(f"images: {counts}")


if __name__ == "__main__":
    main()
