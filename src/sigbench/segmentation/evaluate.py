"""Signature segmentation metrics of AOSSig (protocols.md sec. 9): foreground IoU, F and mean SSIM.

Definitions, kept identical to the published protocol so numbers compare with the paper:

* masks are binarised with ``> 0`` (any non-zero value, in any channel, is foreground);
* per image: fgIoU = TP / (TP + FP + FN), foreground precision P = TP / (TP + FP), recall R = TP / (TP + FN),
  F = 2PR / (P + R + 8e-5) (the reference's ``seg_eval.py`` adds that constant to the denominator;
  ``f_smoothing=0`` gives the plain harmonic mean), and SSIM of the two masks drawn as 0/255 images with a
  7 x 7 window;
* fgIoU, F, precision, recall and SSIM are each averaged over images: F is the mean of the per-image F
  values, as the reference computes it, not the F of the mean precision and recall.

Empty masks. The reference divides by zero when both masks of an image are empty and returns NaN, which then
poisons the average. Here a page with no signature on which nothing is predicted is a *perfect* answer:
fgIoU = precision = recall = 1, and F is that of P = R = 1 (1 with ``f_smoothing=0``). Every other undefined
ratio is 0, as the protocol says: an empty prediction on a page with ink has precision 0 (and recall 0, so F
0); a non-empty prediction on a page without ink has recall 0 (and precision 0). So an image contributes a
perfect score only for the right answer, and no value is ever NaN.

SSIM follows ``skimage.metrics.structural_similarity(gt, pred, win_size=7, data_range=255)`` -- uniform 7 x 7
window, sample covariance (N / (N - 1)), K1 = 0.01, K2 = 0.03, the mean taken over the image without a
3-pixel border -- implemented with OpenCV so that scikit-image stays a test-only dependency.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np

from sigbench.images import DEFAULT_MAX_PIXELS, image_size

#: Per-image scores returned by :func:`mask_scores`, in this order.
IMAGE_KEYS: tuple[str, ...] = ("f_iou", "f_score", "precision", "recall", "ssim")
#: What AOSSig's ``seg_eval.py`` adds to P + R in each image's F: reproduced by default so F compares with the
#: published numbers; 0 gives the textbook F.
AOSSIG_F_SMOOTHING = 8e-5
#: Image file suffixes read as masks.
MASK_SUFFIXES: tuple[str, ...] = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


def binarize(mask: np.ndarray) -> np.ndarray:
    """Boolean foreground of a mask: ``> 0``; for an H x W x C mask, non-zero in any channel."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        return (mask > 0).any(axis=2)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be H x W or H x W x C, got shape {mask.shape}")
    return mask > 0


def ssim(a: np.ndarray, b: np.ndarray, win_size: int = 7, data_range: float = 255.0) -> float:
    """Mean structural similarity of two grey images, as scikit-image computes it by default.

    Uniform ``win_size`` window, sample covariance, constants ``(0.01 R)^2`` and ``(0.03 R)^2``; the local
    SSIM map is averaged without the ``(win_size - 1) // 2`` border, where the window leaves the image.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim needs two H x W images of the same shape, got {a.shape} and {b.shape}")
    if win_size % 2 != 1 or min(a.shape) < win_size:
        raise ValueError(f"win_size must be odd and at most the image side; got {win_size} for {a.shape}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)

    def mean(img: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(img, cv2.CV_64F, (win_size, win_size), borderType=cv2.BORDER_REFLECT)

    count = win_size * win_size
    cov_norm = count / (count - 1.0)
    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    return float(s[pad : s.shape[0] - pad, pad : s.shape[1] - pad].mean())


def mask_scores(
    gt: np.ndarray, pred: np.ndarray, f_smoothing: float = AOSSIG_F_SMOOTHING
) -> dict[str, float]:
    """fgIoU, F, foreground precision / recall and SSIM of one image (module docstring: empty masks).

    ``gt`` and ``pred`` are masks of the same height and width (any dtype; ``> 0`` is foreground);
    ``f_smoothing`` is added to P + R in F's denominator (the reference's 8e-5 by default).
    """
    if f_smoothing < 0:
        raise ValueError(f"f_smoothing must be >= 0, got {f_smoothing}")
    g, p = binarize(gt), binarize(pred)
    if g.shape != p.shape:
        raise ValueError(f"mask sizes differ: ground truth {g.shape}, prediction {p.shape}")
    tp = int(np.count_nonzero(g & p))
    n_gt, n_pred = int(np.count_nonzero(g)), int(np.count_nonzero(p))
    union = n_gt + n_pred - tp
    if union == 0:  # both empty: the right answer on a page without a signature
        f_iou = precision = recall = 1.0
    else:
        f_iou = tp / union
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gt if n_gt else 0.0
    denominator = precision + recall + f_smoothing
    as_image = np.uint8(255)
    return {
        "f_iou": f_iou,
        "f_score": 2 * precision * recall / denominator if denominator > 0 else 0.0,
        "precision": precision,
        "recall": recall,
        "ssim": ssim(g * as_image, p * as_image),
    }


def summarize(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Dataset scores from per-image ones (:func:`mask_scores`): every score is the mean over images.

    Returns ``f_iou``, ``f_score``, ``mssim``, ``precision``, ``recall`` and ``num_images``.
    """
    rows = list(per_image)
    if not rows:
        raise ValueError("no images to evaluate")
    means = {k: float(np.mean([r[k] for r in rows])) for k in IMAGE_KEYS}
    return {
        "f_iou": means["f_iou"],
        "f_score": means["f_score"],
        "mssim": means["ssim"],
        "precision": means["precision"],
        "recall": means["recall"],
        "num_images": len(rows),
    }


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask file as a boolean H x W array (``> 0`` in any channel); a clear error for unreadable files.

    The size is checked from the header first (:func:`sigbench.images.image_size`, ``max_pixels`` default),
    so an oversize file is refused before it is decoded."""
    image_size(path, max_pixels=DEFAULT_MAX_PIXELS)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return binarize(image)


def list_masks(directory: str | os.PathLike) -> dict[str, Path]:
    """Mask files of ``directory`` keyed by stem (two files with one stem is an error: which one counts?)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"mask directory {directory} does not exist")
    masks: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in MASK_SUFFIXES and path.is_file():
            if path.stem in masks:
                raise ValueError(
                    f"{directory}: two masks for {path.stem!r}: {masks[path.stem].name}, {path.name}"
                )
            masks[path.stem] = path
    return masks


def evaluate_masks(
    gt_dir: str | os.PathLike,
    pred_dir: str | os.PathLike,
    missing_as_empty: bool = False,
    f_smoothing: float = AOSSIG_F_SMOOTHING,
) -> dict[str, float]:
    """AOSSig segmentation metric over two folders of masks paired by file stem.

    Returns ``f_iou``, ``f_score``, ``mssim`` (plus ``precision``, ``recall``, ``num_images``). A prediction
    without ground truth is an error (mismatched names would silently skip images); a ground-truth mask
    without prediction is an error too, unless ``missing_as_empty`` counts it as an empty prediction.
    ``f_smoothing`` is the constant in each image's F (see :func:`mask_scores`).
    """
    gt = list_masks(gt_dir)
    pred = list_masks(pred_dir)
    if not gt:
        raise ValueError(f"no masks ({', '.join(MASK_SUFFIXES)}) in {gt_dir}")
    orphans = sorted(set(pred) - set(gt))
    if orphans:
        raise ValueError(f"predictions without ground truth in {gt_dir}: {', '.join(orphans[:5])}")
    absent = sorted(set(gt) - set(pred))
    if absent and not missing_as_empty:
        raise ValueError(
            f"{len(absent)} ground-truth masks have no prediction in {pred_dir} "
            f"(e.g. {', '.join(absent[:5])}); pass missing_as_empty=True to count them as empty predictions"
        )
    rows = []
    for stem, gt_path in gt.items():
        g = read_mask(gt_path)
        p = read_mask(pred[stem]) if stem in pred else np.zeros_like(g)
        if g.shape != p.shape:
            raise ValueError(f"{pred[stem]}: size {p.shape[::-1]} differs from {gt_path} {g.shape[::-1]}")
        rows.append(mask_scores(g, p, f_smoothing))
    return summarize(rows)
