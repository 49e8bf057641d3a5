"""Signature detection metric of AOSSig (ICDAR 2015 incidental-text style), protocols.md sec. 9.

Definitions, kept deliberately identical to the published protocol so numbers compare with the paper:

* predictions with ``score < score_threshold`` are dropped (a missing score counts as 1.0);
* overlap is polygon IoU of the quads;
* matching is greedy in ground-truth order, then prediction order -- *not* Hungarian and *not* by score --
  and a pair matches only when both are unmatched and IoU is strictly greater than the threshold;
* precision, recall and F are micro-averaged: matches, predictions and ground truths are summed over the
  whole dataset before dividing, so pages with many signatures weigh more.

The metric is class-agnostic: AOSSig has one class; multi-class (SignVer) evaluation filters per label first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from sigbench.documents.formats import Annotation, read_quads


def _contour(annotation: Annotation) -> np.ndarray:
    """The quad as an OpenCV float32 contour, made convex with a consistent orientation.

    ``intersectConvexConvex`` is only defined for convex polygons; the hull is a no-op for the usual convex
    quads and a conservative stand-in for the rare bow-tie a detector may emit.
    """
    return cv2.convexHull(annotation.as_array().astype(np.float32))


def polygon_iou(a: Annotation, b: Annotation) -> float:
    """Intersection over union of two quads (0 when either is degenerate)."""
    ca, cb = _contour(a), _contour(b)
    area_a, area_b = cv2.contourArea(ca), cv2.contourArea(cb)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(ca, cb)
    inter = max(0.0, float(inter))
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def match_page(gt: Sequence[Annotation], pred: Sequence[Annotation], iou: float = 0.5) -> int:
    """Number of greedy one-to-one matches on one page (predictions must already be score-filtered)."""
    pred_used = [False] * len(pred)
    matched = 0
    for g in gt:
        for j, p in enumerate(pred):
            if not pred_used[j] and polygon_iou(g, p) > iou:
                pred_used[j] = True
                matched += 1
                break
    return matched


def prf(matched: int, num_gt: int, num_pred: int) -> dict[str, float]:
    """Precision, recall and F from dataset totals; each is 0 where its denominator is 0."""
    precision = matched / num_pred if num_pred else 0.0
    recall = matched / num_gt if num_gt else 0.0
    total = precision + recall
    fmeasure = 2 * precision * recall / total if total > 0 else 0.0
    return {"precision": precision, "recall": recall, "fmeasure": fmeasure}


def evaluate_pages(
    gt: Mapping[str, Sequence[Annotation]],
    pred: Mapping[str, Sequence[Annotation]],
    iou: float = 0.5,
    score_threshold: float = 0.5,
) -> dict[str, float]:
    """Micro-averaged detection P/R/F over pages paired by key.

    A ground-truth page without predictions contributes only misses; a prediction page without ground truth
    is an error, because it almost always means mismatched file names that would silently deflate precision.
    """
    orphans = sorted(set(pred) - set(gt))
    if orphans:
        raise ValueError(f"predictions for pages without ground truth: {', '.join(orphans[:5])}")
    matched = num_gt = num_pred = 0
    for name, gt_page in gt.items():
        kept = [p for p in pred.get(name, ()) if p.confidence >= score_threshold]
        matched += match_page(gt_page, kept, iou)
        num_gt += len(gt_page)
        num_pred += len(kept)
    return {**prf(matched, num_gt, num_pred), "matched": matched, "num_gt": num_gt, "num_pred": num_pred}


def _read_dir(directory: str | os.PathLike) -> dict[str, list[Annotation]]:
    """All ``*.txt`` label files of ``directory`` keyed by file name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"annotation directory {directory} does not exist")
    return {path.name: read_quads(path) for path in sorted(directory.glob("*.txt"))}


def evaluate_quads(
    gt_dir: str | os.PathLike,
    pred_dir: str | os.PathLike,
    iou: float = 0.5,
    score_threshold: float = 0.5,
) -> dict[str, float]:
    """AOSSig detection metric over two directories of label txt files paired by file name.

    Returns ``precision``, ``recall``, ``fmeasure`` plus the totals ``matched``, ``num_gt``, ``num_pred``
    (kept predictions). The paper reports ``iou=0.5`` and ``iou=0.75``: call once per threshold.
    """
    gt = _read_dir(gt_dir)
    pred = _read_dir(pred_dir)
    orphans = sorted(set(pred) - set(gt))
    if orphans:
        raise ValueError(f"prediction files without ground truth in {gt_dir}: {', '.join(orphans[:5])}")
    return evaluate_pages(gt, pred, iou=iou, score_threshold=score_threshold)


def average_precision_50(
    gt: Mapping[str, Sequence[Annotation]], pred: Mapping[str, Sequence[Annotation]]
) -> float:
    """COCO-style mAP at IoU 0.5 (torchmetrics, pycocotools backend) over pages paired by key.

    Uses every prediction whatever its score (AP integrates over thresholds) and the axis-aligned bounds of
    the quads, as detectors trained on COCO / Tobacco800 boxes are scored in the literature. Class-agnostic
    like the AOSSig metric. Imported lazily: the F-measure path needs no torch.
    """
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    def boxes(annotations: Sequence[Annotation]) -> torch.Tensor:
        return torch.tensor([a.bounds() for a in annotations], dtype=torch.float32).reshape(-1, 4)

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", iou_thresholds=[0.5])
    preds, targets = [], []
    for name, gt_page in gt.items():
        found = list(pred.get(name, ()))
        scores = torch.tensor([a.confidence for a in found], dtype=torch.float32)
        zeros = torch.zeros(len(found), dtype=torch.int64)
        preds.append({"boxes": boxes(found), "scores": scores, "labels": zeros})
        targets.append({"boxes": boxes(gt_page), "labels": torch.zeros(len(gt_page), dtype=torch.int64)})
    metric.update(preds, targets)
    return max(0.0, float(metric.compute()["map_50"]))  # torchmetrics says -1 when there is no ground truth
