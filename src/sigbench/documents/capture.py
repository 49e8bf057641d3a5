"""How a finished page reaches the detector: a flatbed scan or a phone photo of it.

* ``scan``: the sheet lies almost straight on the glass (rotation within about 1 degree), mild optical
  blur, faint uneven lighting, sensor noise, JPEG compression;
* ``photo``: a perspective view of the page on a darker table, stronger and warmer uneven lighting with
  vignetting, more blur and noise, harder JPEG compression;
* ``none``: the page as rendered (for tests and for clean reference sets).

``bilevel=True`` ends with a global Otsu threshold, as fax machines and many archive scanners do.

The geometric transform is a homography ``H`` (pixel-centre coordinates, as OpenCV uses); the ink mask is
warped with it (nearest neighbour, so it stays binary) and :func:`transform_points` moves quads, so masks,
quads and pixels stay registered. Everything is whole-image OpenCV / NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CAPTURES: tuple[str, ...] = ("none", "scan", "photo")
#: Sensor-noise standard deviation (grey levels) of noise levels 0, 1, 2 for each capture mode.
NOISE_STD: dict[str, tuple[float, float, float]] = {
    "none": (0.0, 0.0, 0.0),
    "scan": (1.0, 2.5, 5.0),
    "photo": (2.0, 4.5, 8.0),
}


@dataclass(frozen=True)
class Captured:
    """The captured image (RGB uint8), the warped mask, the homography used and the noise level (0-2)."""

    image: np.ndarray
    mask: np.ndarray
    homography: np.ndarray
    noise: int


def transform_points(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(N, 2)`` points given in *pixel-edge* coordinates (pixel ``i`` spans ``[i, i + 1)``, the
    convention of quads and boxes) through a homography defined on pixel centres (OpenCV's convention)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2) - 0.5
    return cv2.perspectiveTransform(pts, np.asarray(homography, dtype=np.float64)).reshape(-1, 2) + 0.5


def _scan_homography(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A small rotation about the page centre plus a shift of a few pixels."""
    angle = float(np.clip(rng.normal(0.0, 0.4), -1.0, 1.0))
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    m[:, 2] += rng.uniform(-0.004, 0.004, 2) * (w, h)
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _photo_homography(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Each page corner pulled inwards by up to 7 % of the page: the page seen at an angle on a table."""
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = src + inward * rng.uniform(0.0, 0.07, size=(4, 2)).astype(np.float32) * np.float32([w, h])
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def _lighting(rng: np.random.Generator, h: int, w: int, strength: float, vignette: float) -> np.ndarray:
    """A multiplicative light field (H x W float32): a linear gradient in a random direction + vignetting."""
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs + np.sin(angle) * ys
    radius = xs**2 + ys**2
    return (1.0 - strength * (ramp + 0.5) - vignette * radius).astype(np.float32)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def simulate_capture(
    page: np.ndarray,
    mask: np.ndarray,
    mode: str,
    rng: np.random.Generator,
    bilevel: bool = False,
) -> Captured:
    """Capture ``page`` (RGB uint8) by ``mode`` (``none``, ``scan``, ``photo``); ``mask`` (H x W, bool or
    uint8) is warped along. Returns :class:`Captured`; the input arrays are not modified."""
    if mode not in CAPTURES:
        raise ValueError(f"capture: expected one of {CAPTURES}, got {mode!r}")
    if page.dtype != np.uint8 or page.ndim != 3 or page.shape[2] != 3:
        raise ValueError(f"page: expected an H x W x 3 uint8 image, got {page.dtype} {page.shape}")
    if mask.shape != page.shape[:2]:
        raise ValueError(f"mask: shape {mask.shape} differs from the page's {page.shape[:2]}")
    h, w = mask.shape
    mask_u8 = np.asarray(mask).astype(np.uint8) * (255 if mask.dtype == bool else 1)
    noise = int(rng.integers(3))
    if mode == "none":
        image = page.copy()
        homography = np.eye(3)
        if bilevel:
            image = _bilevel(image)
        return Captured(image, mask_u8, homography, noise)

    photo = mode == "photo"
    homography = _photo_homography(rng, w, h) if photo else _scan_homography(rng, w, h)
    if photo:
        border = tuple(float(v) for v in rng.uniform(30, 110) * rng.uniform(0.7, 1.0, 3))
    else:
        border = (float(rng.uniform(235, 255)),) * 3
    image = cv2.warpPerspective(
        page, homography, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
    )
    warped_mask = cv2.warpPerspective(mask_u8, homography, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)

    light = _lighting(
        rng, h, w, rng.uniform(0.15, 0.35) if photo else rng.uniform(0.0, 0.06), 0.5 if photo else 0
    )
    tint = rng.uniform([0.97, 0.93, 0.82], [1.0, 1.0, 0.95]) if photo else np.ones(3)
    sigma = rng.uniform(0.6, 1.6) if photo else rng.uniform(0.3, 0.8)
    blurred = cv2.GaussianBlur(image, (0, 0), sigma).astype(np.float32)
    std = NOISE_STD[mode][noise]
    grain = rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(std)
    lit = blurred * light[..., None] * tint.astype(np.float32)[None, None, :] + grain
    image = np.clip(lit + 0.5, 0, 255).astype(np.uint8)
    quality = int(rng.integers(40, 86) if photo else rng.integers(70, 96))
    image = _jpeg(image, quality)
    if bilevel:
        image = _bilevel(image)
    return Captured(image, warped_mask, homography, noise)


def _bilevel(image: np.ndarray) -> np.ndarray:
    """Black and white by Otsu's global threshold, back in three channels (pages are stored as RGB)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return cv2.cvtColor(bw, cv2.COLOR_GRAY2RGB)
