"""Colour overlays of a predicted mask against the ground truth, for TensorBoard and ``sigbench-segment``.

One picture answers the question a number cannot -- *where* the model errs: correct ink in green, ink it
invented (false positives) in red, ink it missed (false negatives) in blue, over a faded copy of the page.
"""

from __future__ import annotations

import numpy as np

from sigbench.segmentation.evaluate import binarize

#: RGB colours of true positives, false positives and false negatives.
TP_COLOUR = (0, 170, 0)
FP_COLOUR = (230, 0, 0)
FN_COLOUR = (0, 60, 255)


def _rgb(image: np.ndarray) -> np.ndarray:
    """An H x W (grey) or H x W x 3 uint8 image as RGB."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an H x W or H x W x 3 image, got shape {image.shape}")


def overlay(
    image: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None, fade: float = 0.5
) -> np.ndarray:
    """RGB uint8 overlay: the page faded towards white, prediction coloured by agreement with ``gt``.

    Without ``gt`` every predicted pixel is drawn in the true-positive colour.
    """
    out = _rgb(image).astype(np.float32)
    out = (255.0 - fade * (255.0 - out)).astype(np.uint8)
    p = binarize(pred)
    if p.shape != out.shape[:2]:
        raise ValueError(f"mask size {p.shape} differs from image size {out.shape[:2]}")
    g = binarize(gt) if gt is not None else p
    out[p & g] = TP_COLOUR
    out[p & ~g] = FP_COLOUR
    out[~p & g] = FN_COLOUR
    return out
