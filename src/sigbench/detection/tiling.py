"""Page geometry for detection: resizing by the long side, overlapping tiles, and merging tile predictions.

A 300-dpi A4 scan is about 2480 x 3508 pixels; shrunk to a detector's usual 800-1333 px a signature becomes a
few thin strokes, which is when detectors return only low-score boxes. Tiling keeps the full resolution:
the page is cut into overlapping ``tile x tile`` windows, each detected alone, and the predictions merged.

Merging is not plain NMS: a signature crossing a tile border appears as two *partial* boxes whose IoU with
each other (or with the full box from a tile that saw it whole) can be far below 0.5. Boxes cut by an inner
tile edge are therefore merged into the union of everything they mostly overlap (intersection over the
smaller box), while uncut boxes go through ordinary greedy NMS.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torchvision.ops import box_iou

WHITE = 255


def resize_long_side(image: np.ndarray, long_side: int | None) -> tuple[np.ndarray, float]:
    """``image`` scaled so that its longer side is ``long_side`` (area filter when shrinking); and the scale.

    ``None`` keeps the page as it is (scale 1), e.g. before tiling a full-resolution scan.
    """
    if long_side is None:
        return image, 1.0
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation), scale


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap`` shared."""
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap must be in [0, tile={tile}), got {overlap}")
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def tile_origins(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``(x0, y0)`` of every tile, row by row."""
    return [(x, y) for y in axis_starts(height, tile, overlap) for x in axis_starts(width, tile, overlap)]


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad with white paper on the right/bottom up to ``height x width`` (pages smaller than one tile)."""
    pad_h, pad_w = max(0, height - image.shape[0]), max(0, width - image.shape[1])
    if not pad_h and not pad_w:
        return image
    return cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(WHITE, WHITE, WHITE))


def crop_tile(image: np.ndarray, x0: int, y0: int, tile: int) -> np.ndarray:
    """The ``tile x tile`` window at ``(x0, y0)``, padded white where the page is smaller."""
    return pad_to(image[y0 : y0 + tile, x0 : x0 + tile], tile, tile)


def clip_boxes(
    boxes: np.ndarray, labels: np.ndarray, x0: int, y0: int, tile: int, min_visibility: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in the tile at ``(x0, y0)``'s coordinates, clipped to it; those keeping less than
    ``min_visibility`` of their area (or under 1 px wide/high) are dropped, like albumentations does."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    shifted = boxes - np.array([x0, y0, x0, y0], dtype=np.float32)
    clipped = np.clip(shifted, 0, tile)
    area = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    visible = np.divide(w * h, area, out=np.zeros_like(area), where=area > 0)
    keep = (w >= 1) & (h >= 1) & (visible >= min_visibility)
    return clipped[keep], np.asarray(labels)[keep]


def _cut_by_inner_edge(
    boxes: torch.Tensor, origins: torch.Tensor, tile: int, page: tuple[int, int], margin: float
) -> torch.Tensor:
    """Which boxes (page coordinates) touch an edge of their tile that is not an edge of the page."""
    height, width = page
    left, top = origins[:, 0], origins[:, 1]
    right, bottom = left + tile, top + tile
    return (
        ((boxes[:, 0] <= left + margin) & (left > 0))
        | ((boxes[:, 1] <= top + margin) & (top > 0))
        | ((boxes[:, 2] >= right - margin) & (right < width))
        | ((boxes[:, 3] >= bottom - margin) & (bottom < height))
    )


def _intersection_over_smaller(boxes: torch.Tensor) -> torch.Tensor:
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    area = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1)
    smaller = torch.minimum(area[:, None], area[None, :]).clamp(min=1e-6)
    return inter / smaller


def merge_tile_detections(
    detections: list[dict[str, torch.Tensor]],
    origins: list[tuple[int, int]],
    tile: int,
    page: tuple[int, int],
    iou: float = 0.5,
    containment: float = 0.6,
    margin: float = 2.0,
) -> dict[str, torch.Tensor]:
    """One page's detections from its tiles' (tile coordinates in, page coordinates out).

    Greedy in score order, per class: the best remaining box absorbs every other box with IoU > ``iou``
    (NMS); if it or any of those is cut by an inner tile edge, it also absorbs boxes overlapping it by more
    than ``containment`` of the smaller one's area, and the kept box becomes the union of the group.
    ``page`` is ``(height, width)``.
    """
    offsets = [torch.tensor([x, y, x, y], dtype=torch.float32) for x, y in origins]
    parts = [d["boxes"].float().cpu() + off for d, off in zip(detections, offsets, strict=True)]
    boxes = torch.cat(parts) if parts else torch.zeros((0, 4))
    scores = torch.cat([d["scores"].float().cpu() for d in detections]) if detections else torch.zeros(0)
    labels = (
        torch.cat([d["labels"].cpu() for d in detections]) if detections else torch.zeros(0, dtype=torch.long)
    )
    counts = [len(d["boxes"]) for d in detections]
    box_origins = torch.tensor(
        np.repeat(np.asarray(origins, dtype=np.float32).reshape(-1, 2), counts, axis=0)
    )
    cut = _cut_by_inner_edge(boxes, box_origins.reshape(-1, 2), tile, page, margin)
    order = torch.argsort(scores, descending=True, stable=True)
    boxes, scores, labels, cut = boxes[order], scores[order], labels[order], cut[order]
    overlap_iou, overlap_small = box_iou(boxes, boxes), _intersection_over_smaller(boxes)
    alive = torch.ones(len(boxes), dtype=torch.bool)
    out_boxes, out_scores, out_labels = [], [], []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        same = alive & (labels == labels[i])
        group = same & (overlap_iou[i] > iou)
        fragments = same & (cut | cut[i]) & (overlap_small[i] > containment)
        group |= fragments
        group[i] = True
        merged = boxes[i]
        if bool((cut & group).any()):
            members = boxes[group]
            merged = torch.cat([members[:, :2].min(dim=0).values, members[:, 2:].max(dim=0).values])
        alive &= ~group
        out_boxes.append(merged)
        out_scores.append(scores[i])
        out_labels.append(labels[i])
    if not out_boxes:
        return {
            "boxes": torch.zeros((0, 4)),
            "scores": torch.zeros(0),
            "labels": torch.zeros(0, dtype=torch.long),
        }
    return {
        "boxes": torch.stack(out_boxes),
        "scores": torch.stack(out_scores),
        "labels": torch.stack(out_labels),
    }
