"""A straightforward scikit-image/SciPy implementation of the reference preprocessing (notes section 1).

Kept only as the yardstick for the parity tests and ``benchmarks/preprocess.py``; sigbench itself uses
:mod:`sigbench.data.preprocess`.  Needs the ``dev`` extra (scikit-image).
"""

from __future__ import annotations

import numpy as np


def reference_preprocess(
    img: np.ndarray,
    canvas_size: tuple[int, int] = (840, 1360),
    img_size: tuple[int, int] = (170, 242),
    input_size: tuple[int, int] | None = (150, 220),
) -> np.ndarray:
    from scipy import ndimage
    from skimage import filters, transform

    img = img.astype(np.uint8)
    blurred = ndimage.gaussian_filter(img, 2)
    threshold = filters.threshold_otsu(img)
    r, c = np.where(blurred <= threshold)
    r_center = int(r.mean() - r.min())
    c_center = int(c.mean() - c.min())
    cropped = img[r.min() : r.max(), c.min() : c.max()]
    rows, cols = cropped.shape
    max_rows, max_cols = canvas_size
    r_start, c_start = max_rows // 2 - r_center, max_cols // 2 - c_center
    if rows > max_rows:
        r_start, first = 0, (rows - max_rows) // 2
        cropped, rows = cropped[first : first + max_rows, :], max_rows
    else:
        r_start -= max(0, r_start + rows - max_rows)
        r_start = max(r_start, 0)
    if cols > max_cols:
        c_start, first = 0, (cols - max_cols) // 2
        cropped, cols = cropped[:, first : first + max_cols], max_cols
    else:
        c_start -= max(0, c_start + cols - max_cols)
        c_start = max(c_start, 0)
    canvas = np.full((max_rows, max_cols), 255, dtype=np.uint8)
    canvas[r_start : r_start + rows, c_start : c_start + cols] = cropped
    canvas[canvas > threshold] = 255
    inverted = 255 - canvas

    height, width = img_size
    width_ratio, height_ratio = inverted.shape[1] / width, inverted.shape[0] / height
    if width_ratio > height_ratio:
        out_h, out_w = height, int(round(inverted.shape[1] / height_ratio))
    else:
        out_h, out_w = int(round(inverted.shape[0] / width_ratio)), width
    resized = transform.resize(
        inverted, (out_h, out_w), mode="constant", anti_aliasing=True, preserve_range=True
    ).astype(np.uint8)
    if width_ratio > height_ratio:
        start = int(round((out_w - width) / 2.0))
        resized = resized[:, start : start + width]
    else:
        start = int(round((out_h - height) / 2.0))
        resized = resized[start : start + height, :]
    if input_size is None or tuple(input_size) == tuple(img_size):
        return resized
    sy, sx = (resized.shape[0] - input_size[0]) // 2, (resized.shape[1] - input_size[1]) // 2
    return resized[sy : sy + input_size[0], sx : sx + input_size[1]]
