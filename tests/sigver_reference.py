"""The SigNet preprocessing as the reference (luizgh/sigver ``preprocess_signature``) computes it.

An independent yardstick for ``sigbench.data.preprocess``: it makes the same scikit-image calls with the same
arguments as the reference (notes section 1), with no attempt at speed, so that the parity tests and
``benchmarks/preprocess.py`` compare sigbench's fast path to what the reference returns.  Needs the ``dev``
extra (scikit-image).
"""

from __future__ import annotations

import numpy as np


def sigver_normalize(img: np.ndarray, canvas_size: tuple[int, int]) -> np.ndarray:
    """Steps 2-5: ink = sigma-2 blur <= the raw scan's Otsu level; centred crop; background to 255."""
    from skimage import filters

    blurred = filters.gaussian(img, 2, preserve_range=True)  # scikit-image defaults: mode 'nearest', 4 sigma
    threshold = filters.threshold_otsu(img)
    rows, cols = np.nonzero(~(blurred > threshold))
    r_center = int(rows.mean() - rows.min())
    c_center = int(cols.mean() - cols.min())
    crop = img[rows.min() : rows.max(), cols.min() : cols.max()]  # last ink row / column excluded, as there

    canvas_h, canvas_w = canvas_size
    starts = []
    for axis, (length, size, center) in enumerate(
        zip(crop.shape, canvas_size, (r_center, c_center), strict=True)
    ):
        if length > size:  # larger than the canvas: keep the middle, flush with the canvas start
            first = (length - size) // 2
            crop = np.take(crop, np.arange(first, first + size), axis=axis)
            starts.append(0)
        else:  # centre of mass mid-canvas, pushed back inside when it would run past either end
            start = size // 2 - center
            start -= max(0, start + length - size)
            starts.append(max(0, start))
    canvas = np.full((canvas_h, canvas_w), 255, dtype=np.uint8)
    canvas[starts[0] : starts[0] + crop.shape[0], starts[1] : starts[1] + crop.shape[1]] = crop
    canvas[canvas > threshold] = 255
    return canvas


def sigver_resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Step 7: scikit-image anti-aliased resize to cover ``size`` (truncated to uint8), middle kept."""
    from skimage import transform

    height, width = size
    width_ratio = img.shape[1] / width
    height_ratio = img.shape[0] / height
    wide = width_ratio > height_ratio
    out_shape = (
        (height, round(img.shape[1] / height_ratio)) if wide else (round(img.shape[0] / width_ratio), width)
    )
    resized = transform.resize(img, out_shape, mode="constant", anti_aliasing=True, preserve_range=True)
    resized = resized.astype(np.uint8)
    if wide:
        start = round((out_shape[1] - width) / 2.0)
        return resized[:, start : start + width]
    start = round((out_shape[0] - height) / 2.0)
    return resized[start : start + height, :]


def sigver_preprocess(
    img: np.ndarray,
    canvas_size: tuple[int, int] = (840, 1360),
    img_size: tuple[int, int] = (170, 242),
    input_size: tuple[int, int] | None = (150, 220),
) -> np.ndarray:
    """Normalise, invert, resize, then the centre ``input_size`` crop (none when it equals ``img_size``)."""
    resized = sigver_resize(255 - sigver_normalize(img.astype(np.uint8), canvas_size), img_size)
    if input_size is None or tuple(input_size) == tuple(img_size):
        return resized
    top = (resized.shape[0] - input_size[0]) // 2
    left = (resized.shape[1] - input_size[1]) // 2
    return resized[top : top + input_size[0], left : left + input_size[1]]
