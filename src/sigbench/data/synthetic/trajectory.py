"""Pen trajectories from virtual targets with overlapping lognormal strokes (the kinematic theory).

Each movement between two consecutive targets is a straight stroke whose speed follows a lognormal bell
(Plamondon's sigma-lognormal model without the angular term).  Strokes start before the previous one ends,
so their displacements add up into a smooth curve that cuts the corners of the target polygon: fluent writers
(short onset intervals) round everything off, slow writers (long intervals) move nearly target to target.
Everything that makes a forgery look forged in the time domain lives here too: tremor, pauses with ink
pooling, pen lifts with re-landing offsets, uneven speed and blunt, untapered pressure.

Coordinates are scan pixels (y down); times are seconds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from sigbench.data.synthetic.writer import MotorStyle

SAMPLE_RATE_HZ = 400.0
_TAIL_SIGMAS = 3.0  # a stroke counts as finished this many log-sigmas after its median time


@dataclass(frozen=True)
class Act:
    """One execution of a plan: pixel-space targets per pen-down component and the hand executing them.

    ``timing_sd`` is the per-stroke log-duration jitter (the time warping that makes two genuine samples of a
    fluent writer differ slightly in shape); ``speed_wobble`` is slow, non-rhythmic speed variation.
    """

    targets: tuple[np.ndarray, ...]
    style: MotorStyle
    timing_sd: float
    speed_wobble: float


@dataclass(frozen=True)
class PenTrace:
    """A sampled pen-down trajectory: positions (px), pressure (0..~1.3) and speed (px/s) per sample."""

    xy: np.ndarray
    pressure: np.ndarray
    speed: np.ndarray


def stroke_timing(
    targets: np.ndarray, style: MotorStyle, rng: np.random.Generator | None, timing_sd: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onsets, median durations and log-sigmas of the strokes between consecutive targets.

    Duration grows weakly with amplitude (near-isochrony: big strokes are faster, not much longer).
    ``rng=None`` gives the writer's noise-free timing (the prototype a forger studies).
    """
    lengths = np.linalg.norm(np.diff(targets, axis=0), axis=1) / style.x_height_px
    n = lengths.size
    if rng is None:
        jitter = np.ones((3, n))
    else:
        jitter = np.exp(rng.standard_normal((3, n)) * (np.array([1.0, 0.5, 1.0]) * timing_sd)[:, None])
    durations = style.stroke_time * np.clip(lengths, 0.05, None) ** 0.35 * jitter[0]
    sigmas = style.sigma * jitter[1]
    intervals = style.overlap * durations * jitter[2]
    onsets = np.concatenate([[0.0], np.cumsum(intervals[:-1])])
    return onsets, durations, sigmas


def mean_path(targets: np.ndarray, style: MotorStyle) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free trajectory through ``targets`` and, per sample, the index of the target being aimed at.

    This is the visible shape of a writer's signature, which is what a forger copies (not the hidden plan:
    a fluent hand blends small letters into shapes a forger reproduces as seen).
    """
    if len(targets) == 1:
        return targets.copy(), np.zeros(1, dtype=np.int64)
    onsets, durations, sigmas = stroke_timing(targets, style, None, 0.0)
    end = float(np.max(onsets + durations * np.exp(_TAIL_SIGMAS * sigmas)))
    t = np.arange(0.0, end + 1.0 / SAMPLE_RATE_HZ, 1.0 / SAMPLE_RATE_HZ)
    xy = lognormal_path(targets[0], np.diff(targets, axis=0), onsets, durations, sigmas, t)
    # The stroke with the latest onset so far is heading to target index (stroke number + 1).
    aiming = np.minimum(np.searchsorted(onsets, t, side="right"), len(targets) - 1)
    return xy, aiming


def lognormal_path(
    start: np.ndarray,
    displacements: np.ndarray,
    onsets: np.ndarray,
    durations: np.ndarray,
    sigmas: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """Position at (motor) times ``t``: start plus every stroke's displacement times its lognormal CDF.

    Only the (time, stroke) pairs inside a stroke's active window are evaluated: before its onset a stroke
    contributes nothing and ``_TAIL_SIGMAS + 1`` sigmas after its median it has (to 1e-4) finished, so its
    full displacement is added through a cumulative sum.  ``t`` must be non-decreasing.
    """
    m = t.size
    first = np.searchsorted(t, onsets, side="right")
    done = np.searchsorted(t, onsets + durations * np.exp((_TAIL_SIGMAS + 1.0) * sigmas), side="left")
    xy = np.empty((m, 2))
    for axis in range(2):
        finished = np.bincount(done, weights=displacements[:, axis], minlength=m + 1)[:m]
        xy[:, axis] = start[axis] + np.cumsum(finished)
    counts = done - first
    stroke = np.repeat(np.arange(onsets.size), counts)
    idx = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(first, counts)
    rel = t[idx] - onsets[stroke]
    weights = ndtr((np.log(rel) - np.log(durations[stroke])) / sigmas[stroke])
    for axis in range(2):
        xy[:, axis] += np.bincount(idx, weights=weights * displacements[stroke, axis], minlength=m)
    return xy


def _sinusoids(rng: np.random.Generator, t: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Sum of sines with random phases, normalised to unit RMS; a cheap band-limited noise."""
    phases = rng.uniform(0.0, 2 * np.pi, freqs.size)
    out = np.sin(2 * np.pi * t[:, None] * freqs[None, :] + phases[None, :]).sum(axis=1)
    return out * np.sqrt(2.0 / freqs.size)


def _motor_clock(
    rng: np.random.Generator, t_wall: np.ndarray, speed_wobble: float, pauses: np.ndarray
) -> np.ndarray:
    """Map wall time to motor time: uneven speed (a slowly varying rate) and full stops during pauses."""
    rate = np.exp(speed_wobble * _sinusoids(rng, t_wall, rng.uniform(0.4, 2.0, 3)))
    tau = np.concatenate([[0.0], np.cumsum(rate[:-1])]) / SAMPLE_RATE_HZ
    for start, length in pauses:
        tau = tau - np.clip(tau - start, 0.0, length)
    return tau


def _pressure(
    rng: np.random.Generator, t: np.ndarray, xy: np.ndarray, style: MotorStyle
) -> tuple[np.ndarray, np.ndarray]:
    """Pressure along one pen-down part and the pen speed that goes with it."""
    vel = np.gradient(xy, axis=0) * SAMPLE_RATE_HZ if len(xy) > 1 else np.zeros_like(xy)
    speed = np.linalg.norm(vel, axis=1)
    down = np.clip(vel[:, 1] / (speed + 1e-6), 0.0, 1.0)  # y grows downwards on the scan
    edge = np.minimum(t - t[0], t[-1] - t) / max(style.taper_time, 1e-3)
    ramp = np.clip(edge, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    taper = style.taper_floor + (1.0 - style.taper_floor) * ramp
    wobble = 1.0 + style.pressure_noise * _sinusoids(rng, t, rng.uniform(0.5, 3.0, 3))
    pressure = style.pressure * taper * (1.0 + style.downstroke_emphasis * down) * wobble
    return np.clip(pressure, 0.05, 1.6), speed


def trace_component(
    targets: np.ndarray,
    style: MotorStyle,
    rng: np.random.Generator,
    timing_sd: float,
    speed_wobble: float,
    pause_rate: float,
) -> list[PenTrace]:
    """Sample one pen-down component; pauses may split it into several parts (pen lifts).

    ``pause_rate`` is the expected number of pauses in this component (the signature's hesitations shared
    out by duration).
    """
    if len(targets) == 1:
        targets = np.vstack([targets, targets + 0.5])
    onsets, durations, sigmas = stroke_timing(targets, style, rng, timing_sd)
    motor_end = float(np.max(onsets + durations * np.exp(_TAIL_SIGMAS * sigmas)))
    n_pauses = int(rng.poisson(pause_rate))
    pauses = np.column_stack(
        [rng.uniform(0.1, 0.9, n_pauses) * motor_end, rng.uniform(0.08, 0.35, n_pauses)]
    ).reshape(-1, 2)
    wall_end = (motor_end + pauses[:, 1].sum()) * np.exp(2.5 * speed_wobble)
    t_wall = np.arange(0.0, wall_end + 1.0 / SAMPLE_RATE_HZ, 1.0 / SAMPLE_RATE_HZ)
    tau = _motor_clock(rng, t_wall, speed_wobble, pauses)
    n = max(2, int(np.searchsorted(tau, motor_end, side="right")))  # tau never decreases
    t_wall, tau = t_wall[:n], tau[:n]
    xy = lognormal_path(targets[0], np.diff(targets, axis=0), onsets, durations, sigmas, tau)
    if style.tremor_px > 0:
        envelope = 1.0 + 0.5 * _sinusoids(rng, t_wall, rng.uniform(0.3, 1.0, 2))
        for axis in range(2):
            freqs = style.tremor_hz * np.exp(rng.normal(0.0, 0.15, 3))
            xy[:, axis] += style.tremor_px * envelope * _sinusoids(rng, t_wall, freqs)

    # Pen lifts at some pauses: cut in the middle of the pause and re-land slightly off.
    cuts: list[int] = []
    for start, length in pauses:
        if rng.random() < style.lift_at_pause:
            cuts.append(int(np.searchsorted(tau, start + 1e-6)) + int(length * SAMPLE_RATE_HZ / 2))
    cuts = sorted({c for c in cuts if 2 < c < len(xy) - 2})
    bounds = [0, *cuts, len(xy)]
    parts: list[PenTrace] = []
    offset = np.zeros(2)
    for a, b in itertools.pairwise(bounds):
        if a > 0:
            offset = offset + rng.normal(0.0, 0.06 * style.x_height_px, 2)
        seg = xy[a:b] + offset
        pressure, speed = _pressure(rng, t_wall[a:b], seg, style)
        parts.append(PenTrace(seg, pressure, speed))
    return parts


def trace_act(act: Act, rng: np.random.Generator) -> list[PenTrace]:
    """All pen-down parts of one signature, in writing order."""
    lengths = np.array([np.linalg.norm(np.diff(c, axis=0), axis=1).sum() + 1.0 for c in act.targets])
    share = lengths / lengths.sum()
    traces: list[PenTrace] = []
    for targets, frac in zip(act.targets, share, strict=True):
        traces += trace_component(
            targets, act.style, rng, act.timing_sd, act.speed_wobble, act.style.hesitations * frac
        )
    return traces
