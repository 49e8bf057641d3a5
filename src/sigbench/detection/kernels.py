"""Boxes to dense training maps and probability maps back to boxes: the codec of the heatmap detector.

A box is learnt through its *kernel*, the box shrunk toward its centre as PSENet and DBNet shrink text
polygons: each side moves in by ``d = A (1 - r^2) / L`` (``A`` the area, ``L`` the perimeter, ``r`` the
shrink ratio). Neighbouring signatures, or a signature and the typed name it runs over, are then separate
blobs in the predicted map even where their boxes touch, and the kernel's edge is a stable target where the
box's own edge (the tip of a flourish) is not. The ring between the kernel and the box is ambiguous, so the
loss ignores it.

Decoding inverts that: a connected component of the thresholded map is a kernel; the ``d`` that produced a
kernel of its size is recovered exactly for a rectangle (a quadratic, :func:`expand_offset`) and added back.

Maps are at a ``stride`` of the input: cell ``(i, j)`` covers input pixels ``[j s, (j + 1) s)`` across and
``[i s, (i + 1) s)`` down, and a box covers the cells whose centres lie inside it (at least the one cell
holding its centre, so that a tiny box is not lost). Boxes are xyxy in input pixels, as everywhere in
:mod:`sigbench.detection`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def _check_ratio(ratio: float) -> None:
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"shrink ratio must be in (0, 1], got {ratio}")


def shrink_offset(width: np.ndarray, height: np.ndarray, ratio: float) -> np.ndarray:
    """How far each side of a ``width x height`` box moves in: ``A (1 - r^2) / L`` (PSENet, DBNet)."""
    _check_ratio(ratio)
    width, height = np.asarray(width, dtype=np.float64), np.asarray(height, dtype=np.float64)
    perimeter = 2.0 * (width + height)
    area = width * height
    return np.divide(area * (1.0 - ratio**2), perimeter, out=np.zeros_like(area), where=perimeter > 0)


def expand_offset(width: np.ndarray, height: np.ndarray, ratio: float) -> np.ndarray:
    """The offset ``d`` that :func:`shrink_offset` took from a box whose kernel is ``width x height``.

    With ``k = 1 - r^2`` and the box ``(w + 2d) x (h + 2d)``, ``2d (w + h + 4d) = k (w + 2d)(h + 2d)``, i.e.
    ``(8 - 4k) d^2 + 2 (1 - k)(w + h) d - k w h = 0``; ``d`` is its non-negative root.
    """
    _check_ratio(ratio)
    width, height = np.asarray(width, dtype=np.float64), np.asarray(height, dtype=np.float64)
    k = 1.0 - ratio**2
    a, b, c = 8.0 - 4.0 * k, 2.0 * (1.0 - k) * (width + height), k * width * height
    return (-b + np.sqrt(b * b + 4.0 * a * c)) / (2.0 * a)


def shrink_boxes(boxes: np.ndarray, ratio: float) -> np.ndarray:
    """Each xyxy box's kernel (``ratio`` 1 leaves boxes as they are)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    d = shrink_offset(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1], ratio)[:, None]
    return boxes + np.hstack([d, d, -d, -d])


def expand_boxes(kernels: np.ndarray, ratio: float) -> np.ndarray:
    """The boxes whose kernels are ``kernels`` (the inverse of :func:`shrink_boxes`)."""
    kernels = np.asarray(kernels, dtype=np.float64).reshape(-1, 4)
    d = expand_offset(kernels[:, 2] - kernels[:, 0], kernels[:, 3] - kernels[:, 1], ratio)[:, None]
    return kernels + np.hstack([-d, -d, d, d])


def cell_span(low: float, high: float, stride: int, cells: int) -> tuple[int, int]:
    """Cells ``[first, last)`` whose centres ``(j + 0.5) stride`` lie in ``[low, high)``; the cell holding
    the span's centre when none does; clipped to ``[0, cells)``."""
    first, last = math.ceil(low / stride - 0.5), math.ceil(high / stride - 0.5)
    if last <= first:
        first = math.floor((low + high) / 2 / stride)
        last = first + 1
    return min(max(first, 0), cells), min(max(last, 0), cells)


def rasterise(
    boxes: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    num_classes: int,
    size: tuple[int, int],
    stride: int,
    ratio: float = 0.4,
) -> tuple[np.ndarray, np.ndarray]:
    """The training target and loss mask of one image, both ``num_classes x height x width`` float32.

    ``size`` is the map's ``(height, width)`` in cells. Target: 1 on each box's kernel cells, in its class's
    channel. Mask: 0 on the rest of each box (the ignored ring), 1 elsewhere; where one box's kernel overlaps
    another's ring, the kernel wins.
    """
    height, width = size
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    if len(labels) and not (labels.min() >= 0 and labels.max() < num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got {sorted(set(labels.tolist()))}")
    target = np.zeros((num_classes, height, width), dtype=np.float32)
    mask = np.ones_like(target)

    def cells(box: np.ndarray) -> tuple[slice, slice]:
        x0, x1 = cell_span(box[0], box[2], stride, width)
        y0, y1 = cell_span(box[1], box[3], stride, height)
        return slice(y0, y1), slice(x0, x1)

    for box, label in zip(boxes, labels, strict=True):
        mask[(label, *cells(box))] = 0.0
    for kernel, label in zip(shrink_boxes(boxes, ratio), labels, strict=True):
        where = (label, *cells(kernel))
        target[where] = 1.0
        mask[where] = 1.0
    return target, mask


@dataclass(frozen=True)
class Decoded:
    """Boxes found in one probability map: ``(N, 4)`` xyxy float32 input pixels, scores, 0-based labels."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def decode(
    prob: np.ndarray,
    stride: int,
    ratio: float = 0.4,
    threshold: float = 0.3,
    min_area: float = 0.0,
    image_size: tuple[int, int] | None = None,
    max_detections: int | None = None,
) -> Decoded:
    """Boxes of a ``classes x height x width`` probability map, best score first.

    Each 8-connected component of ``prob >= threshold`` (per class) is a kernel spanning its cells' edges;
    it is expanded by :func:`expand_boxes` and clipped to ``image_size`` (``(height, width)`` in input
    pixels). Its score is the mean probability over the component's cells. Components covering less than
    ``min_area`` input pixels (cells x stride^2) are dropped, as are all but the ``max_detections`` best.
    """
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 3:
        raise ValueError(f"expected a classes x height x width map, got shape {prob.shape}")
    kernels, scores, labels = [], [], []
    for label, channel in enumerate(prob):
        count, components, stats, _ = cv2.connectedComponentsWithStats(
            (channel >= threshold).astype(np.uint8), connectivity=8
        )
        area = stats[1:, cv2.CC_STAT_AREA]
        sums = np.bincount(components.ravel(), weights=channel.ravel(), minlength=count)[1:]
        keep = area * stride**2 >= min_area
        left, top = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
        right, bottom = left + stats[1:, cv2.CC_STAT_WIDTH], top + stats[1:, cv2.CC_STAT_HEIGHT]
        kernels.append(np.stack([left, top, right, bottom], axis=1)[keep] * stride)
        scores.append((sums / np.maximum(area, 1))[keep])
        labels.append(np.full(int(keep.sum()), label, dtype=np.int64))
    boxes = expand_boxes(np.concatenate(kernels) if kernels else np.zeros((0, 4)), ratio)
    if image_size is not None:
        height, width = image_size
        boxes = np.clip(boxes, 0, [width, height, width, height])
    score = np.concatenate(scores) if scores else np.zeros(0)
    label = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    order = np.argsort(-score, kind="stable")[:max_detections]
    return Decoded(boxes[order].astype(np.float32), score[order].astype(np.float32), label[order])
