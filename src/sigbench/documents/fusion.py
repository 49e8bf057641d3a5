"""Pasting a signature into a slot of a page: the three fusions of AOSSig (protocols.md sec. 9).

* ``alpha`` ("brute force"): the signature's darkness becomes an alpha matte and its own grey ink is laid
  over the page -- sharp, slightly too clean;
* ``poisson``: OpenCV ``seamlessClone`` with ``MIXED_CLONE`` and a dilated mask -- the page's texture and
  printed lines show through the strokes, the hardest case for a segmenter;
* ``ink`` ("text render"): the same matte re-coloured with a pen colour, either a random dark colour or one
  sampled from measured ballpoint / gel inks.

Before fusion the signature is scaled to fit the slot, shrunk by a random 0.9-0.95 and dropped at a random
offset inside it, as in the paper. Every fusion changes pixels only inside the slot's box (Poisson's solver
spreads colour further; its result is composed back only there), and the returned ink mask and box are in
page coordinates, the box tight on the mask by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sigbench.documents.sources import ink_mask

FUSIONS: tuple[str, ...] = ("alpha", "poisson", "ink")
#: Measured-looking ink colours (RGB) of common pens: black / blue ballpoint, blue-black, gel, royal blue.
INK_COLORS: tuple[tuple[int, int, int], ...] = (
    (28, 28, 36),
    (22, 40, 115),
    (32, 38, 70),
    (12, 12, 18),
    (38, 66, 165),
    (20, 55, 140),
)
#: How far the Poisson mask is dilated around the ink (px): with a thinner rim the solver is pinned to the
#: page values right next to the strokes and thin strokes fade away.
POISSON_DILATION = 5
#: Index recorded for a random dark colour (not one of :data:`INK_COLORS`).
RANDOM_DARK = len(INK_COLORS)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Fused:
    """A page after one fusion: the new page, the pasted ink in page coordinates and its tight box.

    ``box`` is ``(x0, y0, x1, y1)`` with exclusive ends, so ``mask[y0:y1, x0:x1]`` holds all the ink and
    each side touches an ink pixel. ``color`` is the ink index (:data:`INK_COLORS`, :data:`RANDOM_DARK`) for
    ``ink``, -1 for fusions that keep the signature's own grey.
    """

    page: np.ndarray
    mask: np.ndarray
    box: Box
    color: int


def check_box(box: Box, shape: tuple[int, ...], what: str = "slot") -> Box:
    """An integer ``(x0, y0, x1, y1)`` box inside an image of ``shape``, at least 4 x 4 pixels."""
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected (x0, y0, x1, y1), got {box!r}") from None
    h, w = shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise ValueError(f"{what}: box {box!r} leaves less than 4 x 4 pixels inside the {w}x{h} page")
    return x0, y0, x1, y1


def fit_to_slot(
    gray: np.ndarray,
    mask: np.ndarray,
    box: Box,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.9, 0.95),
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Scale a signature to fit ``box`` times a random factor in ``scale_range``, crop it tight on its ink
    and choose a random top-left corner inside the box. Returns ``(gray, mask, x, y)``."""
    lo, hi = scale_range
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"scale_range: expected 0 < low <= high <= 1, got {scale_range}")
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("fit_to_slot: the signature has no ink pixels")
    gray = gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    x0, y0, x1, y1 = box
    h, w = gray.shape
    scale = min((x1 - x0) / w, (y1 - y0) / h) * float(rng.uniform(lo, hi))
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(gray, size, interpolation=interp)
    small_mask = ink_mask(small)
    if not small_mask.any():  # a faint signature shrunk to a few pixels: keep its darkest pixel
        small_mask = small == small.min()
    ys, xs = np.nonzero(small_mask)
    small = small[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    small_mask = small_mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    sh, sw = small.shape
    x = x0 + int(rng.integers(0, x1 - x0 - sw + 1))
    y = y0 + int(rng.integers(0, y1 - y0 - sh + 1))
    return small, small_mask, x, y


def ink_alpha(gray: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """A float32 matte (0..1) from a grey signature crop, and the grey of its saturated ink.

    The matte is the pixel's darkness between the crop's paper level and its darkest ink (5th percentile),
    limited to one pixel around the ink so the source's paper noise is never pasted.
    """
    g = gray.astype(np.float32)
    paper = float(np.median(g[~mask])) if (~mask).any() else 255.0
    ink = float(np.percentile(g[mask], 5))
    span = max(paper - ink, 1.0)
    alpha = np.clip((paper - g) / span, 0.0, 1.0)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.where(near, alpha, 0.0).astype(np.float32), ink


def _blend(page: np.ndarray, alpha: np.ndarray, color: np.ndarray, x: int, y: int) -> np.ndarray:
    """``page * (1 - a) + color * a`` over the matte's rectangle at ``(x, y)``; a new page."""
    out = page.copy()
    h, w = alpha.shape
    region = out[y : y + h, x : x + w].astype(np.float32)
    a = alpha[..., None]
    out[y : y + h, x : x + w] = np.clip(region * (1 - a) + color * a + 0.5, 0, 255).astype(np.uint8)
    return out


def _poisson(page: np.ndarray, gray: np.ndarray, mask: np.ndarray, x: int, y: int, box: Box) -> np.ndarray:
    """Mixed seamless cloning of the crop at ``(x, y)``; the result is kept only inside ``box``.

    The page is padded by reflection so the solver's region never leaves the image (OpenCV rejects that),
    and ``p`` is computed the way OpenCV centres the mask's bounding box, so the clone lands exactly on
    ``(x, y)`` and the returned mask stays registered with the pasted strokes.
    """
    pad = POISSON_DILATION + 2
    paper = int(np.median(gray[~mask])) if (~mask).any() else 255
    src = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=paper)
    clone_mask = cv2.copyMakeBorder(
        mask.astype(np.uint8) * 255, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0
    )
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * POISSON_DILATION + 1,) * 2)
    clone_mask = cv2.dilate(clone_mask, kernel)
    bx, by, bw, bh = cv2.boundingRect(clone_mask)
    border = pad + 2
    dst = cv2.copyMakeBorder(page, border, border, border, border, cv2.BORDER_REFLECT)
    center = (x - pad + border + bx + bw // 2, y - pad + border + by + bh // 2)
    src_rgb = cv2.cvtColor(src, cv2.COLOR_GRAY2RGB)
    cloned = cv2.seamlessClone(src_rgb, dst, clone_mask, center, cv2.MIXED_CLONE)
    cloned = cloned[border:-border, border:-border]
    out = page.copy()
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = cloned[y0:y1, x0:x1]
    return out


def pick_ink(rng: np.random.Generator, fixed_dark_fraction: float = 0.3) -> tuple[int, np.ndarray]:
    """An ink colour: a random dark colour (``fixed_dark_fraction`` of the time) or a measured pen ink."""
    if rng.random() < fixed_dark_fraction:
        return RANDOM_DARK, rng.uniform(0, 70, size=3).astype(np.float32)
    index = int(rng.integers(len(INK_COLORS)))
    jitter = rng.normal(0, 6, size=3)
    return index, np.clip(np.asarray(INK_COLORS[index], dtype=np.float32) + jitter, 0, 255).astype(np.float32)


def fuse(
    page: np.ndarray,
    signature_gray: np.ndarray,
    mask: np.ndarray | None,
    box: Box,
    mode: str,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.9, 0.95),
    ink_color: tuple[int, int, int] | None = None,
) -> Fused:
    """Paste ``signature_gray`` (dark ink on light, uint8) into the slot ``box`` of ``page`` (RGB uint8).

    Args:
        page: the page, H x W x 3 uint8; not modified.
        signature_gray: the signature, 2-D uint8, dark ink on light paper.
        mask: its ink pixels (bool, same shape); ``None`` computes them with Otsu (:func:`ink_mask`).
        box: the slot ``(x0, y0, x1, y1)`` in page pixels (clipped to the page; at least 4 x 4 inside).
        mode: ``alpha``, ``poisson`` or ``ink`` (see the module docstring).
        rng: the generator for scale, offset and ink colour.
        scale_range: the random shrink applied after fitting the slot (AOSSig: 0.9-0.95).
        ink_color: for ``ink``, a fixed RGB colour instead of a random one.

    Returns:
        :class:`Fused` with the new page, the pasted ink mask (bool, page size) and its tight box.
    """
    if mode not in FUSIONS:
        raise ValueError(f"fusion mode: expected one of {FUSIONS}, got {mode!r}")
    if page.dtype != np.uint8 or page.ndim != 3 or page.shape[2] != 3:
        raise ValueError(f"page: expected an H x W x 3 uint8 image, got {page.dtype} {page.shape}")
    if signature_gray.dtype != np.uint8 or signature_gray.ndim != 2:
        raise ValueError(
            f"signature: expected a 2-D uint8 image, got {signature_gray.dtype} {signature_gray.shape}"
        )
    slot = check_box(box, page.shape)
    mask = ink_mask(signature_gray) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != signature_gray.shape:
        raise ValueError(f"mask: shape {mask.shape} differs from the signature's {signature_gray.shape}")
    gray, small_mask, x, y = fit_to_slot(signature_gray, mask, slot, rng, scale_range)
    h, w = gray.shape
    color = -1
    if mode == "poisson":
        out = _poisson(page, gray, small_mask, x, y, slot)
    else:
        alpha, ink = ink_alpha(gray, small_mask)
        if mode == "ink":
            if ink_color is None:
                color, rgb = pick_ink(rng)
            else:
                color, rgb = RANDOM_DARK, np.asarray(ink_color, dtype=np.float32)
        else:
            rgb = np.full(3, ink, dtype=np.float32)
        out = _blend(page, alpha, rgb, x, y)
    full = np.zeros(page.shape[:2], dtype=bool)
    full[y : y + h, x : x + w] = small_mask
    return Fused(out, full, (x, y, x + w, y + h), color)
