"""Within-writer variation: turning a writer's plan into one concrete genuine act of signing.

Nobody signs twice the same way: letters drift and change size a little, the whole signature is written a bit
larger or more slanted, stroke timing wobbles (which reshapes the blended curves) and pressure changes.
All perturbations are drawn as standard normals and then scaled by the difficulty's variability, so the same
seed gives the same *kind* of deviation at every difficulty, only bigger or smaller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sigbench.data.synthetic.difficulty import Difficulty
from sigbench.data.synthetic.trajectory import Act
from sigbench.data.synthetic.writer import StrokePlan, Writer


@dataclass(frozen=True)
class Geometry:
    """Global placement of a signature: size, slant, rotation and horizontal stretch."""

    x_height_px: float
    slant: float
    rotation: float
    stretch: float

    def to_pixels(self, pts: np.ndarray) -> np.ndarray:
        """Unit frame (y up) -> pixels (y down): stretch, slant as a shear, scale, then rotate."""
        x = pts[:, 0] * self.stretch + pts[:, 1] * np.tan(self.slant)
        y = -pts[:, 1]
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        return self.x_height_px * np.column_stack([c * x - s * y, s * x + c * y])


Shape = tuple[np.ndarray, np.ndarray]  # (targets (n, 2) in the unit frame, letter index per target)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], smooth: float) -> np.ndarray:
    """Standard normal noise along axis 0, optionally Gaussian-smoothed and rescaled to unit variance."""
    noise = rng.standard_normal(shape)
    if smooth <= 0 or shape[0] < 2:
        return noise
    radius = int(3 * smooth + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / smooth) ** 2)
    kernel /= np.sqrt((kernel**2).sum())
    padded = np.pad(noise, ((radius, radius), (0, 0)), mode="reflect" if shape[0] > radius else "edge")
    return np.column_stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(shape[1])])


def deform(
    shapes: Sequence[Shape],
    plan: StrokePlan,
    part_scale: np.ndarray,
    part_shift: np.ndarray,
    point_sd: float,
    rng: np.random.Generator,
    point_offsets: Sequence[np.ndarray] | None = None,
    smooth: float = 0.0,
) -> list[np.ndarray]:
    """Per-letter scaling about each letter's centre, per-letter shift and per-target noise.

    ``point_offsets`` adds fixed per-target errors (a forger's consistent misreadings of the model).
    Flourish targets get three times the noise: flourishes are the least controlled part of a signature.
    ``smooth`` (in targets) correlates the noise of neighbouring targets, for densely sampled shapes whose
    independent noise would look like jitter rather than a different hand-drawn curve.
    """
    out = []
    for i, (points, part) in enumerate(shapes):
        centers = plan.part_centers[part]
        pts = centers + (points - centers) * part_scale[part] + part_shift[part]
        sd = np.where(part == plan.flourish_part, 3.0 * point_sd, point_sd)[:, None]
        pts = pts + sd * smooth_noise(rng, pts.shape, smooth)
        if point_offsets is not None:
            pts = pts + point_offsets[i]
        out.append(pts)
    return out


def genuine_act(writer: Writer, difficulty: Difficulty, rng: np.random.Generator) -> Act:
    """One genuine signing of ``writer``: the writer's own plan and motor style, plus natural variation."""
    g = difficulty.genuine_variability
    plan, style = writer.plan, writer.style
    n = plan.n_parts
    part_scale = np.exp(0.045 * g * rng.standard_normal((n, 2)))
    part_shift = 0.035 * g * rng.standard_normal((n, 2))
    shapes = [(c.points, c.part) for c in plan.components]
    unit = deform(shapes, plan, part_scale, part_shift, 0.035 * g, rng)
    geometry = Geometry(
        x_height_px=style.x_height_px * float(np.exp(writer.size_sd * g * rng.standard_normal())),
        slant=style.slant + np.deg2rad(writer.slant_sd_deg) * g * rng.standard_normal(),
        rotation=style.baseline_tilt + np.deg2rad(1.8) * g * rng.standard_normal(),
        stretch=float(np.exp(writer.stretch_sd * g * rng.standard_normal())),
    )
    act_style = replace(
        style,
        x_height_px=geometry.x_height_px,
        pressure=style.pressure * float(np.exp(0.07 * g * rng.standard_normal())),
        stroke_time=style.stroke_time * float(np.exp(0.08 * g * rng.standard_normal())),
    )
    targets = tuple(geometry.to_pixels(p) for p in unit)
    return Act(targets=targets, style=act_style, timing_sd=0.1 * g, speed_wobble=0.04 * g)
