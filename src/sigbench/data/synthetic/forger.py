"""Skilled forgers: people who copy a writer's shape with their own, less fluent, motor system.

A forger studies the genuine signature and copies what is *visible*: the writer's trajectory (not the hidden
letter plan a fluent hand blends away), broken into many small target points.  The forger (a) misjudges
proportions: each letter comes out a little too big, small, wide or displaced, and the whole thing slightly
off in size and slant, consistently across that forger's attempts; and (b) draws it their own way: slowly
and in short segments, with physiological tremor, pauses that pool ink, pen lifts, blunt starts and ends and
a different pressure.  The forger's ``skill`` scales every one of those errors towards zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sigbench.data.synthetic.difficulty import Difficulty
from sigbench.data.synthetic.trajectory import Act, mean_path
from sigbench.data.synthetic.variation import Geometry, Shape, deform, smooth_noise
from sigbench.data.synthetic.writer import MotorStyle, Writer

FORGERS_PER_WRITER = 3  # forgery j of a writer is made by forger j % FORGERS_PER_WRITER
SMOOTH_TARGETS = 2.5  # copy errors are correlated over this many of the forger's dense targets


@dataclass(frozen=True)
class Forger:
    """One forger of one writer: systematic shape errors and an own motor style."""

    skill: float
    shapes: tuple[Shape, ...]  # the copied trajectory as (targets, letter index) per pen-down component
    part_scale: np.ndarray  # (n_parts, 2) multiplicative letter-size errors
    part_shift: np.ndarray  # (n_parts, 2) letter displacement errors, x-heights
    point_offsets: tuple[np.ndarray, ...]  # fixed per-target errors per component
    size: float  # multiplicative error on the overall size
    slant: float  # additive slant error, radians
    rotation: float
    stretch: float
    style: MotorStyle


def imitation_targets(writer: Writer, spacing: float, turn: float = np.pi / 5) -> tuple[Shape, ...]:
    """The writer's noise-free trajectory cut into short pieces, as a careful copyist would trace it.

    A new target is placed every ``spacing`` x-heights of arc length or every ``turn`` radians of change of
    direction, whichever comes first, so loops and cusps are sampled densely and straight runs sparsely.
    Computed in the unit frame (x-height 1): the timing model only depends on lengths in x-heights.
    """
    unit_style = replace(writer.style, x_height_px=1.0)
    shapes = []
    for comp in writer.plan.components:
        xy, aiming = mean_path(comp.points, unit_style)
        step = np.diff(xy, axis=0)
        length = np.linalg.norm(step, axis=1)
        heading = np.unwrap(np.arctan2(step[:, 1], step[:, 0]))
        bend = np.abs(np.diff(heading, prepend=heading[:1])) * (length > 1e-6)
        effort = np.concatenate([[0.0], np.cumsum(length / spacing + bend / turn)])
        n = max(2, int(np.ceil(effort[-1])) + 1)
        at = np.linspace(0.0, effort[-1], n)
        pts = np.column_stack([np.interp(at, effort, xy[:, 0]), np.interp(at, effort, xy[:, 1])])
        nearest = np.minimum(np.searchsorted(effort, at), len(effort) - 1)
        shapes.append((pts, comp.part[aiming[nearest]]))
    return tuple(shapes)


def make_forger(writer: Writer, difficulty: Difficulty, rng: np.random.Generator) -> Forger:
    """A forger whose errors shrink with skill (drawn around the difficulty's mean forger skill)."""
    skill = float(np.clip(difficulty.forger_skill + 0.12 * rng.standard_normal(), 0.03, 0.97))
    e = 1.0 - skill
    plan, ws = writer.plan, writer.style
    n = plan.n_parts
    style = MotorStyle(
        x_height_px=ws.x_height_px,
        slant=ws.slant,
        baseline_tilt=ws.baseline_tilt,
        stroke_time=ws.stroke_time * (1.15 + 1.5 * e) * float(np.exp(0.1 * rng.standard_normal())),
        overlap=float(np.clip(ws.overlap + (0.05 + 0.5 * e) * rng.uniform(0.5, 1.0), 0.3, 1.1)),
        sigma=ws.sigma * rng.uniform(0.85, 1.1),
        pen_width_px=ws.pen_width_px * float(np.exp(0.15 * rng.standard_normal())),
        pressure=rng.uniform(0.55, 1.0),
        downstroke_emphasis=rng.uniform(0.0, 0.3),
        taper_time=0.01 + (ws.taper_time - 0.01) * skill * rng.uniform(0.0, 0.7),
        taper_floor=ws.taper_floor + (1.0 - ws.taper_floor) * rng.uniform(0.4, 0.9),
        pressure_noise=ws.pressure_noise + 0.12 * e * rng.uniform(0.5, 1.0),
        ink_tone=float(np.clip(ws.ink_tone + 12.0 * rng.standard_normal(), 10.0, 120.0)),
        tremor_px=(0.12 + 1.3 * e) * rng.uniform(0.6, 1.4),
        tremor_hz=rng.uniform(5.0, 10.0),
        hesitations=(0.4 + 5.0 * e) * rng.uniform(0.5, 1.5),
        lift_at_pause=rng.uniform(0.3, 0.7),
    )
    shapes = imitation_targets(writer, spacing=rng.uniform(0.25, 0.45))
    return Forger(
        skill=skill,
        shapes=shapes,
        part_scale=np.exp(0.16 * e * rng.standard_normal((n, 2))),
        part_shift=0.08 * e * rng.standard_normal((n, 2)),
        point_offsets=tuple(0.06 * e * smooth_noise(rng, pts.shape, SMOOTH_TARGETS) for pts, _ in shapes),
        size=float(np.exp(0.12 * e * rng.standard_normal())),
        slant=float(np.deg2rad(8.0) * e * rng.standard_normal()),
        rotation=float(np.deg2rad(3.0) * e * rng.standard_normal()),
        stretch=float(np.exp(0.1 * e * rng.standard_normal())),
        style=style,
    )


def forgery_act(writer: Writer, forger: Forger, difficulty: Difficulty, rng: np.random.Generator) -> Act:
    """One attempt by ``forger``: the copied trajectory with the forger's errors plus per-attempt noise."""
    g = difficulty.genuine_variability
    plan, ws = writer.plan, writer.style
    n = plan.n_parts
    part_scale = forger.part_scale * np.exp(0.045 * g * rng.standard_normal((n, 2)))
    part_shift = forger.part_shift + 0.035 * g * rng.standard_normal((n, 2))
    unit = deform(
        forger.shapes, plan, part_scale, part_shift, 0.035 * g, rng, forger.point_offsets, SMOOTH_TARGETS
    )
    geometry = Geometry(
        x_height_px=ws.x_height_px * forger.size * float(np.exp(0.05 * g * rng.standard_normal())),
        slant=ws.slant + forger.slant + np.deg2rad(2.5) * g * rng.standard_normal(),
        rotation=ws.baseline_tilt + forger.rotation + np.deg2rad(1.8) * g * rng.standard_normal(),
        stretch=forger.stretch * float(np.exp(0.05 * g * rng.standard_normal())),
    )
    fs = forger.style
    act_style = replace(
        fs,
        x_height_px=geometry.x_height_px,
        pressure=fs.pressure * float(np.exp(0.1 * rng.standard_normal())),
        stroke_time=fs.stroke_time * float(np.exp(0.1 * rng.standard_normal())),
    )
    targets = tuple(geometry.to_pixels(p) for p in unit)
    wobble = 0.05 + 0.25 * (1.0 - forger.skill)
    return Act(
        targets=targets, style=act_style, timing_sd=0.1 * g + 0.1 * (1.0 - forger.skill), speed_wobble=wobble
    )
