"""Scores of a detector on real pages split into a tuning and a reported half (docs/detection_real.md).

Reads the per-page txt files ``sigbench-detect`` wrote for each half (run it with ``score_threshold=0`` or
any value: the txt keeps every detection), chooses the score threshold that maximises F@0.5 on the tuning
half only, and prints, for both halves, F@0.5 / F@0.75 at 0.5 and at the chosen threshold, and mAP50
(threshold-free). ``--figure`` renders a few reported pages: ground truth green, detections kept red.

    .venv/bin/python scripts/detection_real_report.py --tune outputs/eval/x/tune \
        --report outputs/eval/x/report --gt ../shared/data/tobacco800_dev/gedi \
        --pages ../shared/data/tobacco800_dev/pages [--figure f.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from sigbench.atomic import atomic_write_bytes
from sigbench.detection.evaluate import average_precision_50, evaluate_pages
from sigbench.detection.groundtruth import read_ground_truth
from sigbench.documents.formats import Annotation, read_quads
from sigbench.images import read_rgb

THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)


def load(pred_dir: Path, truth: dict[str, list[Annotation]]) -> tuple[dict, dict]:
    stems = sorted(p.stem for p in pred_dir.glob("*.txt"))
    return {s: truth[s] for s in stems}, {s: read_quads(pred_dir / f"{s}.txt") for s in stems}


def scores(truth: dict, pred: dict, threshold: float) -> dict[str, float]:
    f50 = evaluate_pages(truth, pred, iou=0.5, score_threshold=threshold)
    f75 = evaluate_pages(truth, pred, iou=0.75, score_threshold=threshold)
    return {
        "P@0.5": f50["precision"],
        "R@0.5": f50["recall"],
        "F@0.5": f50["fmeasure"],
        "F@0.75": f75["fmeasure"],
    }


def figure(path: Path, pages: Path, truth: dict, pred: dict, threshold: float, count: int = 4) -> None:
    """``count`` reported pages with a signature, side by side, 420 px high each."""
    tiles = []
    for stem in [s for s in sorted(truth) if truth[s]][:count]:
        image = read_rgb(next(pages.glob(f"{stem}.*")))[:, :, ::-1].copy()
        width = max(4, image.shape[1] // 300)
        for boxes, colour in (
            (truth[stem], (0, 170, 0)),
            ([a for a in pred[stem] if a.confidence >= threshold], (0, 0, 230)),
        ):
            for a in boxes:
                x0, y0, x1, y1 = (int(v) for v in a.bounds())
                cv2.rectangle(image, (x0, y0), (x1, y1), colour, width)
        scale = 420 / image.shape[0]
        tiles.append(cv2.resize(image, (round(image.shape[1] * scale), 420), interpolation=cv2.INTER_AREA))
    ok, encoded = cv2.imencode(".png", np.hstack(tiles))
    if not ok:
        raise ValueError(f"{path}: could not encode the figure")
    atomic_write_bytes(path, encoded.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--gt", type=Path, required=True)
    parser.add_argument("--pages", type=Path, default=None)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    truth = read_ground_truth(args.gt)
    halves = {"tune": load(args.tune, truth), "report": load(args.report, truth)}
    tune_truth, tune_pred = halves["tune"]
    best = max(THRESHOLDS, key=lambda t: scores(tune_truth, tune_pred, float(t))["F@0.5"])
    print(f"score threshold chosen on the tuning half: {best:.2f}")
    for name, (half_truth, half_pred) in halves.items():
        n_gt = sum(len(v) for v in half_truth.values())
        ap = average_precision_50(half_truth, half_pred)
        print(f"{name}: {len(half_truth)} pages, {n_gt} signatures, mAP50 {ap:.3f}")
        for threshold in (0.5, float(best)):
            result = scores(half_truth, half_pred, threshold)
            print(f"  threshold {threshold:.2f}: " + "  ".join(f"{k} {v:.3f}" for k, v in result.items()))
    if args.figure is not None:
        figure(args.figure, args.pages, *halves["report"], float(best))


if __name__ == "__main__":
    main()
