"""Signature normalisation of the SigNet family (Hafemann et al. 2017; sigver ``preprocess_signature``).

The algorithm is the reference one (notes section 1): Otsu threshold on the raw scan, a sigma-2 blur used only
to find the ink, crop to the ink's bounding box, paste centred on its centre of mass onto a per-dataset
canvas, drop background above the threshold, invert, resize to *cover* ``img_size`` and centre-crop.

On grey scans the output equals the reference's pixel for pixel (tests/test_preprocess.py compares it with a
scikit-image implementation on generated scans), yet it runs several times faster: the ink blur runs in
float32 with OpenCV and only the pixels it leaves within a hair of the threshold are recomputed as SciPy
does, and the anti-aliased resize prefilters only the box of the canvas that holds the signature (the rest
is zero) before the same ``scipy.ndimage.zoom`` the reference ends with.  Beyond the reference it accepts
bilevel scans (whose Otsu threshold sits at the dark level, so the blurred ink never falls below it: there
the threshold moves to the midpoint of the two Otsu classes), colour / alpha / palette input, and fails on
blank images with an error that names the file.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage, sparse

from sigbench.images import ImageReadError, read_grey

DEFAULT_CANVAS = (840, 1360)
DEFAULT_IMG_SIZE = (170, 242)
DEFAULT_INPUT_SIZE = (150, 220)
INK_BLUR_SIGMA = 2.0
_SCIPY_TRUNCATE = 4.0  # scipy.ndimage's default kernel extent, in sigmas


class BlankImageError(ValueError):
    """Raised when a scan holds no ink to normalise."""


def gray_histogram(img: np.ndarray) -> np.ndarray:
    """256-bin integer histogram of a uint8 image (OpenCV's, several times faster than ``np.bincount``)."""
    hist = cv2.calcHist([np.ascontiguousarray(img)], [0], None, [256], [0, 256]).ravel()
    return np.rint(hist).astype(np.int64)


def otsu_threshold(img: np.ndarray, hist: np.ndarray | None = None) -> int:
    """Otsu's threshold as scikit-image's ``threshold_otsu`` computes it on a uint8 image.

    Bins are the integer levels between the image's min and max, counts are integers and the class means
    and between-class variance are evaluated in the same order, so ties resolve alike; the returned level
    ``t`` is the last level of the dark class (pixels ``<= t``), the first maximiser of the variance.
    """
    hist = gray_histogram(img) if hist is None else hist
    present = np.flatnonzero(hist)
    lo, hi = int(present[0]), int(present[-1])
    if lo == hi:
        return lo
    counts = hist[lo : hi + 1]
    levels = np.arange(lo, hi + 1)
    weight1 = np.cumsum(counts)
    weight2 = np.cumsum(counts[::-1])[::-1]
    mean1 = np.cumsum(counts * levels) / weight1
    mean2 = (np.cumsum((counts * levels)[::-1]) / weight2[::-1])[::-1]
    variance = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    return lo + int(np.argmax(variance))


def to_grayscale(img: np.ndarray) -> np.ndarray:
    """Any array a loader may hand us -> 2-D uint8, dark ink on light paper.

    3 channels are taken as RGB, 4 as RGBA composited over white paper (transparent = paper), booleans as
    bilevel, 16-bit and float images are scaled to 8 bits.
    """
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        scale = 255.0 if img.max(initial=0) <= 1.0 else 1.0
        img = np.clip(img * scale, 0, 255).astype(np.uint8)
    else:
        img = img.astype(np.uint8, copy=False)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        rgb = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        img = np.rint(rgb).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale or H x W x 1/3/4 image, got shape {img.shape}")
    return img


def load_grayscale(path: str | Path) -> np.ndarray:
    """An image file as 2-D uint8 grey, read by :func:`sigbench.images.read_grey` as every tool reads it
    (upright, transparency on white, 16 bits scaled); an unreadable file is an ``OSError`` naming it."""
    try:
        return read_grey(path)
    except ImageReadError as err:
        raise OSError(str(err)) from err


def _class_midpoint(hist: np.ndarray, threshold: int) -> int:
    """Halfway between the mean grey of the dark class (``<= threshold``) and the light class."""
    levels = np.arange(256, dtype=np.float64)
    dark, light = hist[: threshold + 1], hist[threshold + 1 :]
    return int(
        (dark @ levels[: threshold + 1] / dark.sum() + light @ levels[threshold + 1 :] / light.sum()) / 2
    )


def gaussian_taps(sigma: float, truncate: float = _SCIPY_TRUNCATE) -> np.ndarray:
    """The 1-D kernel of ``scipy.ndimage.gaussian_filter``: radius ``int(truncate * sigma + 0.5)``, sum 1."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 / (sigma * sigma) * offsets**2)
    return taps / taps.sum()


_INK_TAPS = gaussian_taps(INK_BLUR_SIGMA)
_INK_RADIUS = _INK_TAPS.size // 2
# float32 blur errors stay below 1e-3 grey levels on 0-255 data (about 2 x 17 roundings of 255 * 6e-8):
# beyond this band the fast blur's side of the threshold is certain, inside it the pixel is recomputed.
_INK_BAND = 5e-3
# float64 blur + zoom errors stay below 1e-10: an output this close to an integer may truncate either way.
_RESIZE_BAND = 1e-7
_TILE = 64  # exact recomputation runs on tiles of this size around the undecided pixels


def _reference_ink_blur(gray: np.ndarray) -> np.ndarray:
    """scikit-image's ``gaussian(img, 2, preserve_range=True)`` (float64, 'nearest' borders), bit for bit."""
    return ndimage.gaussian_filter(gray.astype(np.float64), INK_BLUR_SIGMA, mode="nearest")


def _ink_mask(gray: np.ndarray, threshold: int) -> tuple[np.ndarray, int, int]:
    """The reference's ink, ``blurred <= threshold``, as a window of the scan and that window's offset.

    A weighted mean can only fall to the threshold within the kernel radius of a raw pixel that does, so
    the blur runs on that window (plus the radius it reads) instead of the whole scan, in float32 with
    OpenCV.  Its result decides every pixel whose blurred value is clearly off the threshold; the few within
    ``_INK_BAND`` of it (flat regions at the threshold level, where float rounding picks the side, and the
    odd pixel that lands there by chance) are recomputed with SciPy exactly as the reference blurs, on the
    tiles that hold them plus the kernel radius.
    """
    dark = gray <= threshold
    rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 0), bool), 0, 0
    r = _INK_RADIUS
    top, bottom, left, right = _grow((rows[0], rows[-1] + 1, cols[0], cols[-1] + 1), (r, r), gray.shape)
    # what the blur of that window reads
    rtop, rbottom, rleft, rright = _grow((top, bottom, left, right), (r, r), gray.shape)
    kernel = _INK_TAPS.astype(np.float32)
    blurred = cv2.sepFilter2D(
        np.ascontiguousarray(gray[rtop:rbottom, rleft:rright]),
        cv2.CV_32F,
        kernel,
        kernel,
        borderType=cv2.BORDER_REPLICATE,  # = 'nearest'; exact at the scan's edges, unread elsewhere
    )[top - rtop : bottom - rtop, left - rleft : right - rleft]
    ink = blurred <= threshold
    unsure = cv2.inRange(blurred, threshold - _INK_BAND, threshold + _INK_BAND)  # uint8, 255 = unsure
    for t, b, lft, rgt in _tiles_holding(unsure):
        box = (top + t, top + b, left + lft, left + rgt)
        exact = _exact_on_box(_reference_ink_blur, gray, box, (r, r))
        ink[t:b, lft:rgt] = np.where(unsure[t:b, lft:rgt], exact <= threshold, ink[t:b, lft:rgt])
    return ink, int(top), int(left)


def _grow(
    box: tuple[int, int, int, int], margin: tuple[int, int], shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` grown by ``margin`` (rows, columns) each side, clipped to ``shape``."""
    top, bottom, left, right = box
    return (
        max(int(top) - margin[0], 0),
        min(int(bottom) + margin[0], shape[0]),
        max(int(left) - margin[1], 0),
        min(int(right) + margin[1], shape[1]),
    )


def _tiles_holding(mask: np.ndarray, tile: int = _TILE) -> list[tuple[int, int, int, int]]:
    """Boxes ``(top, bottom, left, right)`` covering every True of ``mask``: runs of ``tile``-sized tiles.

    Undecided pixels are few and scattered; recomputing one bounding box around all of them would often
    mean the whole image, so each row of tiles gets one box per run of adjacent tiles that hold any.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return []
    h, w = mask.shape
    per_row = w // tile + 2  # one spare tile column, so runs never wrap onto the next row
    keys = np.unique(ys // tile * per_row + xs // tile)
    tile_rows, tile_cols = np.divmod(keys, per_row)
    starts = np.flatnonzero(
        np.diff(keys, prepend=-2) != 1
    )  # a run breaks where the next tile is not adjacent
    stops = np.append(starts[1:], keys.size) - 1
    return [
        (
            int(tile_rows[a]) * tile,
            min(int(tile_rows[a] + 1) * tile, h),
            int(tile_cols[a]) * tile,
            min(int(tile_cols[b] + 1) * tile, w),
        )
        for a, b in zip(starts, stops, strict=True)
    ]


def _exact_on_box(filter_fn, img: np.ndarray, box: tuple[int, int, int, int], radius: tuple[int, int]):
    """``filter_fn(img)[box]`` computed on the box plus the filter's radius only.

    A separable filter's value at a pixel reads only pixels within its radius on each axis, in the same
    order wherever the pixel sits, so filtering the grown box gives the whole-image values on the box:
    where the grown box meets the image's edge the filter's own border rule applies as it would on the
    whole image, and elsewhere the rows / columns it invents lie beyond what the box reads.
    """
    top, bottom, left, right = _grow(box, radius, img.shape)
    out = filter_fn(img[top:bottom, left:right])
    return out[box[0] - top : box[1] - top, box[2] - left : box[3] - left]


def center_on_canvas(gray: np.ndarray, canvas_size: tuple[int, int], name: str | None = None) -> np.ndarray:
    """Steps 2-5: find the ink, crop it, centre its centre of mass on a white canvas, drop the background."""
    hist = gray_histogram(gray)
    threshold = otsu_threshold(gray, hist)
    ink, top, left = _ink_mask(gray, threshold)
    levels = np.count_nonzero(hist)
    if levels > 1 and (not ink.any() or levels == 2):
        # Beyond the reference: on bilevel scans (and flat, unsmoothed ink) Otsu lands on the ink level, so
        # the blurred strokes never (or only where they cross) fall below it and the signature is lost;
        # split halfway between the two Otsu classes instead.
        threshold = _class_midpoint(hist, threshold)
        ink, top, left = _ink_mask(gray, threshold)
    if levels > 1 and not ink.any():
        # Beyond the reference: a pen stroke thinner and fainter than the blur (a one-pixel line on textured
        # paper) is averaged away above the threshold while its own pixels stand clearly below it; the
        # reference would call the signature blank, so take the unblurred pixels instead.
        ink, top, left = _raw_ink_mask(gray, threshold)
    row_counts = ink.sum(axis=1, dtype=np.int64)
    total = int(row_counts.sum())
    if total == 0 or total == gray.size:
        label = f"image {name}" if name else "image"
        raise BlankImageError(f"{label} has no ink to normalise (no pixel separates from the background)")
    col_counts = ink.sum(axis=0, dtype=np.int64)
    rows = np.flatnonzero(row_counts)
    cols = np.flatnonzero(col_counts)
    rmin, rmax, cmin, cmax = rows[0] + top, rows[-1] + top, cols[0] + left, cols[-1] + left
    # the reference's int(r.mean() - r.min()): the integer sums are exact in float64 and the one division is
    # correctly rounded in both, so the truncation sees the same float
    r_center = int(np.dot(row_counts, np.arange(top, top + ink.shape[0])) / total - rmin)
    c_center = int(np.dot(col_counts, np.arange(left, left + ink.shape[1])) / total - cmin)
    cropped = gray[rmin:rmax, cmin:cmax]  # the reference excludes the last ink row and column

    max_rows, max_cols = canvas_size
    r_start, cropped = _place(cropped, r_center, max_rows, axis=0)
    c_start, cropped = _place(cropped, c_center, max_cols, axis=1)
    canvas = np.full((max_rows, max_cols), 255, dtype=np.uint8)
    canvas[r_start : r_start + cropped.shape[0], c_start : c_start + cropped.shape[1]] = cropped
    canvas[canvas > threshold] = 255
    return canvas


def _raw_ink_mask(gray: np.ndarray, threshold: int) -> tuple[np.ndarray, int, int]:
    """``gray <= threshold`` without the blur, as the window holding it and that window's offset."""
    dark = gray <= threshold
    rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 0), bool), 0, 0
    top, left = int(rows[0]), int(cols[0])
    return dark[top : rows[-1] + 1, left : cols[-1] + 1], top, left


def _place(cropped: np.ndarray, center: int, size: int, axis: int) -> tuple[int, np.ndarray]:
    """Start offset on one axis putting ``center`` mid-canvas, shifted back inside; centre-crop if too big."""
    length = cropped.shape[axis]
    if length > size:
        first = (length - size) // 2
        return 0, cropped[first : first + size] if axis == 0 else cropped[:, first : first + size]
    start = size // 2 - center
    overflow = start + length - size
    if overflow > 0:
        start -= overflow
    return max(start, 0), cropped


def antialiased_resize(img: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """scikit-image's ``resize(img, out_shape, mode="constant", anti_aliasing=True, preserve_range=True)``.

    The reference prefilters with a Gaussian of sigma ``(factor - 1) / 2`` per axis, then ``zoom``s with
    order 1 on pixel areas, both in float64 with scikit-image's translation of ``mode="constant"``
    ('grid-constant': zeros beyond the edge, interpolated into when enlarging), and clips to the input's
    range.  The caller truncates to uint8, so the result must match the reference's to the last bit only
    where it lies on an integer.  Here both steps are folded into one sparse banded operator per axis and
    applied to the box of the canvas that holds the signature (zero elsewhere), so only the input pixels an
    output reads are touched.  Outputs within ``_RESIZE_BAND`` of a positive integer (flat or saturated ink)
    are then recomputed exactly as the reference does: SciPy's prefilter on the tiles they read, and SciPy's
    ``zoom``.
    """
    factors = np.divide(img.shape, out_shape)
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    if rows.size == 0:
        return np.zeros(out_shape, dtype=np.float64)
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    along_rows = _axis_operator(img.shape[0], out_shape[0])[:, top:bottom]
    along_cols = _axis_operator(img.shape[1], out_shape[1])[:, left:right]
    out = np.asarray((along_cols @ (along_rows @ img[top:bottom, left:right].astype(np.float64)).T).T)
    near = (np.abs(out - np.rint(out)) <= _RESIZE_BAND) & (out > 0.5)
    if near.any():
        sigma = np.maximum(0, (factors - 1) / 2)
        radius = tuple(int(_SCIPY_TRUNCATE * s + 0.5) for s in sigma)
        filtered = np.zeros(img.shape, dtype=np.float64)  # exact where the near outputs read, zero elsewhere
        read_rows, read_cols = (_zoom_reads(n, f) for n, f in zip(img.shape, factors, strict=True))
        out_rows, out_cols = np.nonzero(near)
        need = np.zeros(img.shape, bool)
        need[read_rows[out_rows][:, :, None], read_cols[out_cols][:, None, :]] = True
        for box in _tiles_holding(need):
            filtered[box[0] : box[1], box[2] : box[3]] = _exact_on_box(
                lambda patch: _reference_prefilter(patch, sigma), img, box, radius
            )
        out[near] = _zoom_like_reference(filtered, factors)[near]
    # scikit-image clips to the input's range, widened to take in cval (0) when the output reaches it
    low, high = int(img.min()), int(img.max())
    if low > 0 and out.min() <= 0:
        low = 0
    return np.clip(out, low, high, out=out)


@functools.lru_cache(maxsize=64)
def _axis_operator(n_in: int, n_out: int) -> sparse.csc_matrix:
    """Sparse ``n_out x n_in`` matrix: the reference's prefilter then order-1 zoom along one axis.

    Blur with SciPy's Gaussian taps (sigma ``(factor - 1) / 2``, zeros beyond the edge), then sample at
    ``(o + 0.5) * factor - 0.5`` mixing the two neighbours, a neighbour beyond the edge reading zero.
    Equal to the reference up to float rounding; stored by columns so that the columns of the signature's
    box are cheap to take.
    """
    factor = n_in / n_out
    sigma = max(0.0, (factor - 1.0) / 2.0)
    if int(_SCIPY_TRUNCATE * sigma + 0.5) > 0:
        taps = gaussian_taps(sigma)
        radius = taps.size // 2
        offsets = [k for k in range(-radius, radius + 1) if abs(k) < n_in]
        diagonals = [np.full(n_in - abs(k), taps[k + radius]) for k in offsets]
        blur = sparse.diags(diagonals, offsets, shape=(n_in, n_in), format="csr")
    else:
        blur = sparse.identity(n_in, format="csr")
    coord = (np.arange(n_out) + 0.5) * factor - 0.5
    low = np.floor(coord)
    weight = coord - low
    neighbours = low.astype(np.int64)[:, None] + np.array([0, 1])
    weights = np.stack([1.0 - weight, weight], axis=1)
    inside = (neighbours >= 0) & (neighbours < n_in)
    out_index = np.repeat(np.arange(n_out), 2).reshape(n_out, 2)
    zoom = sparse.csr_matrix((weights[inside], (out_index[inside], neighbours[inside])), shape=(n_out, n_in))
    return (zoom @ blur).tocsc()


def _reference_prefilter(img: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """scikit-image's anti-aliasing prefilter in ``resize``: SciPy's Gaussian, float64, 'grid-constant'."""
    return ndimage.gaussian_filter(img.astype(np.float64), sigma, mode="grid-constant", cval=0)


def _zoom_like_reference(filtered: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """The interpolation step of scikit-image's ``resize``: SciPy's order-1 ``zoom`` on pixel areas."""
    return ndimage.zoom(filtered, 1 / factors, order=1, mode="grid-constant", cval=0, grid_mode=True)


def _zoom_reads(n_in: int, factor: float) -> np.ndarray:
    """Per output index along an axis, the input indices an order-1 zoom reads (2, plus a spare each side).

    Output ``o`` samples input coordinate ``(o + 0.5) * factor - 0.5`` and reads its two neighbours.
    """
    n_out = int(round(n_in / factor))
    low = np.floor((np.arange(n_out) + 0.5) * factor - 0.5).astype(np.int64)
    return np.clip(low[:, None] + np.arange(-1, 3)[None, :], 0, n_in - 1)


def resize_cover(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Step 7: resize (anti-aliased, range preserved, truncated to uint8) to cover ``size``, centre-crop."""
    height, width = size
    width_ratio = img.shape[1] / width
    height_ratio = img.shape[0] / height
    if width_ratio > height_ratio:
        out_h, out_w = height, int(round(img.shape[1] / height_ratio))
    else:
        out_h, out_w = int(round(img.shape[0] / width_ratio)), width
    resized = antialiased_resize(img, (out_h, out_w)).astype(np.uint8)
    if width_ratio > height_ratio:
        start = int(round((out_w - width) / 2.0))
        return resized[:, start : start + width]
    start = int(round((out_h - height) / 2.0))
    return resized[start : start + height, :]


def crop_center(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre crop of the last two axes to ``size`` (H, W)."""
    start_y = (img.shape[-2] - size[0]) // 2
    start_x = (img.shape[-1] - size[1]) // 2
    return img[..., start_y : start_y + size[0], start_x : start_x + size[1]]


def preprocess_signature(
    img: np.ndarray,
    canvas_size: tuple[int, int] = DEFAULT_CANVAS,
    img_size: tuple[int, int] = DEFAULT_IMG_SIZE,
    input_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE,
    name: str | None = None,
) -> np.ndarray:
    """Normalise a raw scan into the SigNet input: uint8, ink bright on a black background.

    Args:
        img: the scan (grayscale, bilevel, RGB, RGBA; dark ink on light paper).
        canvas_size: (H, W) of the per-dataset canvas the signature is centred on.
        img_size: (H, W) the canvas is resized to cover (170 x 242 in the SigNet papers).
        input_size: (H, W) centre crop taken from that, or ``None`` to return the ``img_size`` image.
        name: shown in error messages (e.g. the file name).
    """
    gray = to_grayscale(img)
    if gray.size == 0:
        raise BlankImageError(f"image {name or ''} is empty (shape {gray.shape})".replace("  ", " "))
    canvas = center_on_canvas(gray, tuple(canvas_size), name=name)
    inverted = 255 - canvas
    resized = resize_cover(inverted, tuple(img_size))
    if input_size is not None and tuple(input_size) != tuple(img_size):
        return np.ascontiguousarray(crop_center(resized, tuple(input_size)))
    return resized


def preprocess_file(
    path: str | Path,
    canvas_size: tuple[int, int] = DEFAULT_CANVAS,
    img_size: tuple[int, int] = DEFAULT_IMG_SIZE,
    input_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE,
) -> np.ndarray:
    """Load and normalise one scan; errors name the file."""
    return preprocess_signature(load_grayscale(path), canvas_size, img_size, input_size, name=str(path))


def canvas_fits(shape: tuple[int, int], canvas_size: tuple[int, int]) -> bool:
    """True when a scan of ``shape`` fits the canvas without the reference's centre-crop warning."""
    return all(s <= c for s, c in zip(shape, canvas_size, strict=True)) and not math.isnan(shape[0])
