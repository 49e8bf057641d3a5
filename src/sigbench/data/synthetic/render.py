"""Ink rendering and scan simulation: pen traces -> a raw grayscale scan (dark ink on light paper).

The ink is rasterised with a distance transform: every pixel takes the distance to, and the width/opacity of,
its nearest centreline pixel, so stroke width varies continuously with pressure and speed (slow pens pool
ink: wider and darker) without per-pixel or per-point Python loops.  The scan side adds what a flatbed
scanner adds: paper tone and texture, an illumination gradient, optical blur, ink granularity, sensor noise
and a slight rotation of the sheet.  Real scans go through the same preprocessing afterwards, so these
nuisances must be there for the synthetic data to exercise it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sigbench.data.synthetic.trajectory import PenTrace
from sigbench.data.synthetic.writer import MotorStyle

SCAN_SIZE = (256, 640)  # (H, W) of a raw synthetic scan, about 2.2 x 5.4 cm at 300 dpi
_STEP_PX = 0.5  # centreline sampling step used for rasterisation
_BORDER_PX = 12  # ink never comes closer than this to the scan edge


@dataclass(frozen=True)
class ScanConditions:
    """Paper, lighting and scanner of one scan."""

    paper: float  # mean paper grey level
    texture: float  # amplitude of low-frequency paper mottling
    gradient: float  # peak-to-peak illumination change across the sheet
    gradient_angle: float
    noise: float  # sensor noise standard deviation (grey levels)
    blur: float  # optical blur sigma (px)
    grain: float  # ink granularity (fraction of opacity randomly missing)
    rotation: float  # sheet rotation on the glass, radians


def draw_conditions(rng: np.random.Generator) -> ScanConditions:
    return ScanConditions(
        paper=rng.uniform(212.0, 244.0),
        texture=rng.uniform(1.5, 5.0),
        gradient=rng.uniform(0.0, 14.0),
        gradient_angle=rng.uniform(0.0, 2 * np.pi),
        noise=rng.uniform(1.2, 3.2),
        blur=rng.uniform(0.45, 0.85),
        grain=rng.uniform(0.05, 0.25),
        rotation=float(np.deg2rad(rng.normal(0.0, 1.0))),
    )


def place(
    traces: list[PenTrace],
    scan_size: tuple[int, int],
    margin: float,
    rotation: float,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Rotate the sheet, shrink the signature if it would not fit, and drop it at a random spot."""
    xy = [t.xy for t in traces]
    allpts = np.concatenate(xy)
    center = allpts.mean(axis=0)
    c, s = np.cos(rotation), np.sin(rotation)
    rot = np.array([[c, -s], [s, c]])
    xy = [(p - center) @ rot.T for p in xy]
    allpts = np.concatenate(xy)
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    room = np.array([scan_size[1], scan_size[0]], dtype=np.float64) - 2 * (margin + _BORDER_PX)
    scale = min(1.0, float(np.min(room / np.maximum(hi - lo, 1.0))))
    size = (hi - lo) * scale
    slack = np.maximum(room - size, 0.0)
    origin = margin + _BORDER_PX + rng.uniform(0.0, 1.0, 2) * slack
    return [(p - lo) * scale + origin for p in xy]


def _densify(xy: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample a polyline so consecutive points are at most ``_STEP_PX`` apart (values interpolated)."""
    if len(xy) < 2:
        return xy, values
    seg = np.diff(xy, axis=0)
    steps = np.maximum(np.ceil(np.linalg.norm(seg, axis=1) / _STEP_PX).astype(np.int64), 1)
    idx = np.repeat(np.arange(len(seg)), steps)
    frac = (np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)) / np.repeat(steps, steps)
    pts = np.vstack([xy[idx] + frac[:, None] * seg[idx], xy[-1:]])
    dv = np.diff(values, axis=0)
    vals = np.vstack([values[idx] + frac[:, None] * dv[idx], values[-1:]])
    return pts, vals


def ink_profile(trace: PenTrace, style: MotorStyle) -> np.ndarray:
    """Per-sample (width px, opacity): pressure widens and darkens; slow pens pool, fast pens skip."""
    slow = np.exp(-trace.speed / (1.5 * style.x_height_px))
    fast = 1.0 - np.exp(-trace.speed / (14.0 * style.x_height_px))
    p = trace.pressure
    width = style.pen_width_px * (0.45 + 0.55 * p) * (1.0 + 0.4 * slow)
    opacity = np.clip(0.5 + 0.45 * p + 0.3 * slow, 0.0, 1.0) * (1.0 - 0.25 * fast)
    return np.column_stack([width, opacity])


def rasterize(
    paths: list[np.ndarray], profiles: list[np.ndarray], shape: tuple[int, int], pad: int = 0
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Ink coverage in [0, 1] (float32) of variable-width strokes along ``paths`` on a canvas of ``shape``.

    Only the inked box (grown by ``pad`` pixels, clipped to the canvas) is returned, with its position
    ``(y0, y1, x0, x1)``, so later per-pixel work skips the blank paper.
    """
    pts, vals = zip(*(_densify(p, v) for p, v in zip(paths, profiles, strict=True)), strict=True)
    pts_all, vals_all = np.concatenate(pts), np.concatenate(vals)
    ix = np.clip(np.rint(pts_all[:, 0]).astype(np.int64), 0, shape[1] - 1)
    iy = np.clip(np.rint(pts_all[:, 1]).astype(np.int64), 0, shape[0] - 1)
    reach = int(np.ceil(vals_all[:, 0].max() / 2 + 2)) + pad
    y0, y1 = max(iy.min() - reach, 0), min(iy.max() + reach + 1, shape[0])
    x0, x1 = max(ix.min() - reach, 0), min(ix.max() + reach + 1, shape[1])
    h, w = y1 - y0, x1 - x0
    flat = (iy - y0) * w + (ix - x0)
    width = np.zeros(h * w, dtype=np.float32)
    opacity = np.zeros(h * w, dtype=np.float32)
    np.maximum.at(width, flat, vals_all[:, 0].astype(np.float32))
    np.maximum.at(opacity, flat, vals_all[:, 1].astype(np.float32))
    centre = np.ones(h * w, dtype=np.uint8)
    centre[flat] = 0
    dist, labels = cv2.distanceTransformWithLabels(
        centre.reshape(h, w), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    owners = np.flatnonzero(centre == 0)  # DIST_LABEL_PIXEL numbers zero pixels 1.. in raster order
    lut_w = np.concatenate([[0.0], width[owners]]).astype(np.float32)
    lut_o = np.concatenate([[0.0], opacity[owners]]).astype(np.float32)
    cover = np.clip(lut_w[labels] * 0.5 + 0.5 - dist, 0.0, 1.0) * lut_o[labels]
    return cover, (y0, y1, x0, x1)


def _paper(cond: ScanConditions, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Paper tone + low-frequency mottling + a linear illumination ramp (all smooth, so built coarse)."""
    h, w = shape
    ch, cw = max(h // 8, 2), max(w // 8, 2)
    coarse = cv2.resize(
        rng.standard_normal((6, 14)).astype(np.float32), (cw, ch), interpolation=cv2.INTER_CUBIC
    )
    ys = (np.arange(ch, dtype=np.float32) / ch - 0.5) * np.sin(cond.gradient_angle)
    xs = (np.arange(cw, dtype=np.float32) / cw - 0.5) * np.cos(cond.gradient_angle)
    field = cond.paper + cond.texture * coarse + cond.gradient * (ys[:, None] + xs[None, :])
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)


def render_scan(
    traces: list[PenTrace],
    style: MotorStyle,
    rng: np.random.Generator,
    scan_size: tuple[int, int] = SCAN_SIZE,
) -> np.ndarray:
    """A raw uint8 scan (``scan_size``) of the given pen traces written with ``style``'s pen and ink."""
    cond = draw_conditions(rng)
    profiles = [ink_profile(t, style) for t in traces]
    margin = float(max(p[:, 0].max() for p in profiles)) / 2 + 2
    paths = place(traces, scan_size, margin, cond.rotation, rng)
    # Ink granularity, optical blur and compositing only matter around the ink: work on its box.
    cover, (y0, y1, x0, x1) = rasterize(paths, profiles, scan_size, pad=int(np.ceil(3 * cond.blur)))
    cover *= 1.0 - cond.grain * rng.random(cover.shape, dtype=np.float32)
    cover = cv2.GaussianBlur(cover, (0, 0), cond.blur)
    img = _paper(cond, scan_size, rng)
    box = img[y0:y1, x0:x1]
    box += (np.float32(style.ink_tone) - box) * cover
    # Uniform sensor noise with the requested standard deviation (cheaper to draw than Gaussian).
    img += (rng.random(scan_size, dtype=np.float32) - 0.5) * np.float32(cond.noise * np.sqrt(12.0))
    np.maximum(img, 0.0, out=img)
    return cv2.convertScaleAbs(img)  # rounds and saturates to uint8
