"""A synthetic writer: a name-like stroke plan (what is written) plus a motor style (how it is written).

Separating the two is the point of the neuromotor view behind GPDS-synthetic: a skilled forger copies the
*plan* (the shape) but brings their own *motor style*, so the differences a verifier must learn are the
motor ones.  A writer is a pure function of ``(seed, writer_id)`` so any slice of writers can be generated on
its own and still match the same writers generated as part of a larger population.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sigbench.data.synthetic import glyphs
from sigbench.data.synthetic.rng import Stream, stream_rng

KINDS = ("word", "initial", "mark", "flourish")


@dataclass(frozen=True)
class Component:
    """One pen-down movement: targets in the unit frame and the letter ("part") each target belongs to."""

    points: np.ndarray  # (n, 2) float64, unit frame (x-height 1, y up)
    part: np.ndarray  # (n,) int, index into StrokePlan.part_centers
    kind: str


@dataclass(frozen=True)
class StrokePlan:
    """The shape of a signature: its pen-down components in writing order.

    ``part_centers`` lets a forger distort individual letters (proportion errors) around their own centre.
    """

    components: tuple[Component, ...]
    part_centers: np.ndarray  # (n_parts, 2)
    text: str
    flourish_part: int = -1  # part index of the end flourish (varies most between samples), -1 if none

    @property
    def n_parts(self) -> int:
        return int(self.part_centers.shape[0])


@dataclass(frozen=True)
class MotorStyle:
    """How a hand executes a plan; genuine writers and forgers both have one.

    Lengths are in x-heights unless marked ``_px``; times in seconds.
    """

    x_height_px: float  # size
    slant: float  # shear angle, radians (positive = leaning right)
    baseline_tilt: float  # rotation, radians
    stroke_time: float  # lognormal stroke duration for a 1-x-height movement
    overlap: float  # onset interval / stroke duration: small = fluent, strongly blended strokes
    sigma: float  # lognormal log-time spread: larger = smoother, more skewed velocity bells
    pen_width_px: float
    pressure: float  # mean pressure, 0..1
    downstroke_emphasis: float  # extra pressure when the pen moves down
    taper_time: float  # time over which pressure ramps up / down at pen-down / pen-up
    taper_floor: float  # relative pressure at the very start / end of a component
    pressure_noise: float  # amplitude of slow random pressure fluctuation
    ink_tone: float  # grey level of saturated ink on the scan
    tremor_px: float  # amplitude of high-frequency wobble
    tremor_hz: float
    hesitations: float  # expected number of pauses per signature
    lift_at_pause: float  # probability that a pause becomes a pen lift with a re-landing offset


@dataclass(frozen=True)
class Writer:
    """A writer: what they sign, how, and how much their signatures vary as a whole from one to the next
    (log-size, horizontal log-stretch and slant spread at the default difficulty)."""

    writer_id: int
    plan: StrokePlan
    style: MotorStyle
    size_sd: float = 0.05
    stretch_sd: float = 0.05
    slant_sd_deg: float = 2.5


def _jitter(rng: np.random.Generator, pts: np.ndarray, sd: float) -> np.ndarray:
    return pts + rng.normal(0.0, sd, size=pts.shape)


def _proportions(pts: np.ndarray, ascender: float, descender: float) -> np.ndarray:
    """Stretch the parts above the x-height and below the baseline by the writer's own ratios."""
    y = pts[:, 1]
    y = np.where(y > 1.0, 1.0 + (y - 1.0) * ascender, y)
    y = np.where(y < 0.0, y * descender, y)
    return np.column_stack([pts[:, 0], y])


def _close(out: list[Component], kind: str, pts: list[np.ndarray], parts: list[np.ndarray]) -> None:
    if pts:
        out.append(Component(np.concatenate(pts), np.concatenate(parts), kind))


@dataclass(frozen=True)
class Hand:
    """A writer's layout habits: letter proportions, spacing, pen lifts, dots (unit frame)."""

    width_ratio: float
    spacing: float
    ascender: float
    descender: float
    lower_scale: float  # some writers shrink the lowercase under a dominant capital
    idiosyncrasy: float  # writer-specific distortion of every letter form
    lift_prob: float  # pen lift between two letters of a word
    dot_prob: float  # i dots and t bars actually written


@dataclass(frozen=True)
class Word:
    """One word of a plan: its lowercase letters and its capital (``capital_letter`` picks the capital's
    family; ``None`` draws any family)."""

    letters: str
    has_capital: bool
    capital_letter: str | None = None

    @property
    def text(self) -> str:
        return ((self.capital_letter or "X") if self.has_capital else "") + self.letters


def make_plan(rng: np.random.Generator) -> StrokePlan:
    """Lay out a random name (optional initial, one or two words, flourish) as pen-down components.

    Letter forms get a writer-specific distortion so two writers with the same letters still differ, and
    pen lifts inside words, i dots and t bars are per-writer habits.
    """
    hand = Hand(
        width_ratio=float(np.exp(rng.normal(0.0, 0.18))),
        spacing=rng.uniform(-0.1, 0.2),
        ascender=rng.uniform(0.75, 1.3),
        descender=rng.uniform(0.7, 1.35),
        lower_scale=rng.uniform(0.6, 1.0),
        idiosyncrasy=rng.uniform(0.04, 0.09),
        lift_prob=rng.choice([0.0, 0.08, 0.25], p=[0.5, 0.3, 0.2]),
        dot_prob=rng.uniform(0.0, 1.0),
    )
    layout = rng.choice(["initial+surname", "first+surname", "surname"], p=[0.4, 0.3, 0.3])
    flourish_kind = rng.choice(["underline", "paraph", "hook", "none"], p=[0.35, 0.25, 0.15, 0.25])

    words: list[Word] = []
    if layout == "initial+surname":
        words.append(Word("", True))
    if layout == "first+surname":
        words.append(Word(glyphs.random_name(rng, 2, 5), True))
    words.append(Word(glyphs.random_name(rng, 3, 7), bool(rng.random() < 0.9)))
    return lay_out(rng, words, hand, str(flourish_kind))


def lay_out(
    rng: np.random.Generator,
    words: list[Word],
    hand: Hand,
    flourish_kind: str,
    extra_flourishes: tuple[str, ...] = (),
) -> StrokePlan:
    """Place the words' glyphs left to right in the writer's hand and add the end flourish.

    ``extra_flourishes`` are drawn as separate pen-down components after the name (an underline under a
    paraph, say); they never share the end flourish's part, so they vary like ordinary strokes.
    """
    width_ratio, spacing = hand.width_ratio, hand.spacing
    ascender, descender, lower_scale = hand.ascender, hand.descender, hand.lower_scale
    idiosyncrasy, lift_prob, dot_prob = hand.idiosyncrasy, hand.lift_prob, hand.dot_prob
    components: list[Component] = []
    centers: list[tuple[float, float]] = []
    marks: list[Component] = []
    x = 0.0
    text_parts: list[str] = []
    for w_index, word in enumerate(words):
        letters, has_capital = word.letters, word.has_capital
        current: list[np.ndarray] = []
        current_part: list[np.ndarray] = []
        text_parts.append(word.text)
        glyph_list: list[glyphs.Glyph] = []
        if has_capital:
            glyph_list.append(glyphs.capital(rng, glyphs.capital_family(word.capital_letter)))
        glyph_list += [glyphs.lowercase(c) for c in letters]
        for g_index, glyph in enumerate(glyph_list):
            is_capital = has_capital and g_index == 0
            scale_y = 1.0 if is_capital else lower_scale
            pts = glyph.points.copy()
            if not is_capital:
                pts = _proportions(pts, ascender, descender)
            pts = _jitter(rng, pts, idiosyncrasy)
            pts[:, 0] = pts[:, 0] * width_ratio + x
            pts[:, 1] *= scale_y
            part = len(centers)
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            centers.append(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2))
            if g_index > 0 and rng.random() < lift_prob:
                _close(components, "word", current, current_part)
                current, current_part = [], []
            current.append(pts)
            current_part.append(np.full(len(pts), part))
            for mark in glyph.marks:
                if rng.random() < dot_prob:
                    m = _proportions(mark, ascender, descender)
                    m = _jitter(rng, m, idiosyncrasy)
                    m[:, 0] = m[:, 0] * width_ratio + x
                    m[:, 1] *= scale_y
                    marks.append(Component(m, np.full(len(m), part), "mark"))
            x += glyph.advance * width_ratio + spacing
        is_initial = has_capital and not letters
        _close(components, "initial" if is_initial else "word", current, current_part)
        if is_initial and rng.random() < 0.6:  # the full stop after an initial
            dot = np.array([[x + 0.1, 0.05], [x + 0.15, 0.0]])
            marks.append(Component(dot, np.full(2, len(centers) - 1), "mark"))
        if w_index < len(words) - 1:
            x += rng.uniform(0.5, 1.1)

    flourish_part = -1
    if flourish_kind != "none":
        last = components[-1]
        x_start = min(c.points[:, 0].min() for c in components)
        extra = glyphs.flourish(rng, str(flourish_kind), x_start, float(last.points[-1, 0]))
        part = flourish_part = len(centers)
        lo, hi = extra.min(axis=0), extra.max(axis=0)
        centers.append(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2))
        if rng.random() < 0.7:  # written in the same movement as the last word
            components[-1] = replace(
                last,
                points=np.concatenate([last.points, extra]),
                part=np.concatenate([last.part, np.full(len(extra), part)]),
            )
        else:
            components.append(Component(extra, np.full(len(extra), part), "flourish"))
    for kind in extra_flourishes:
        x_start = min(c.points[:, 0].min() for c in components)
        x_end = max(c.points[:, 0].max() for c in components)
        extra = glyphs.flourish(rng, kind, x_start, x_end)
        part = len(centers)
        lo, hi = extra.min(axis=0), extra.max(axis=0)
        centers.append(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2))
        components.append(Component(extra, np.full(len(extra), part), "flourish"))
    components.extend(marks)
    return StrokePlan(
        components=tuple(components),
        part_centers=np.asarray(centers, dtype=np.float64),
        text=" ".join(text_parts),
        flourish_part=flourish_part,
    )


def make_style(rng: np.random.Generator) -> MotorStyle:
    """A fluent writer's motor habits: fast, blended strokes, tapered ends, almost no tremor.

    About one writer in eight has a visible tremor of their own (older or unsteady hands), so line quality
    is not by itself proof of forgery: a verifier has to compare it with the writer's references.
    """
    shaky = rng.random() < 0.12
    return MotorStyle(
        x_height_px=float(np.exp(rng.uniform(np.log(30.0), np.log(58.0)))),
        slant=float(np.deg2rad(np.clip(rng.normal(12.0, 11.0), -18.0, 40.0))),
        baseline_tilt=float(np.deg2rad(rng.normal(0.0, 3.0))),
        stroke_time=rng.uniform(0.09, 0.15),
        overlap=rng.uniform(0.32, 0.6),
        sigma=rng.uniform(0.2, 0.34),
        pen_width_px=float(np.exp(rng.uniform(np.log(2.2), np.log(5.5)))),
        pressure=rng.uniform(0.6, 1.0),
        downstroke_emphasis=rng.uniform(0.0, 0.45),
        taper_time=rng.uniform(0.04, 0.12),
        taper_floor=rng.uniform(0.15, 0.5),
        pressure_noise=rng.uniform(0.03, 0.08),
        ink_tone=rng.uniform(15.0, 105.0),
        tremor_px=rng.uniform(0.35, 0.9) if shaky else rng.uniform(0.0, 0.15),
        tremor_hz=rng.uniform(8.0, 12.0),
        hesitations=rng.uniform(0.0, 0.15),
        lift_at_pause=0.3,
    )


STYLES = ("classic", "western")  # population styles; "classic" is the original generator, unchanged


def check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"synthetic style={style!r} is not one of {list(STYLES)}")
    return style


def make_writer(seed: int, writer_id: int, style: str = "classic") -> Writer:
    """Writer ``writer_id`` of the population ``(seed, style)``; depends on nothing else (no difficulty, no
    counts), so any slice of a population can be generated on its own."""
    if check_style(style) == "western":
        from sigbench.data.synthetic import western  # imports this module: resolved late

        plan = western.make_plan(stream_rng(seed, writer_id, Stream.PLAN))
        style_rng = stream_rng(seed, writer_id, Stream.STYLE)
        motor = western.make_style(style_rng)
        return Writer(writer_id, plan, motor, *western.variation_habits(style_rng))
    else:
        plan = make_plan(stream_rng(seed, writer_id, Stream.PLAN))
        motor = make_style(stream_rng(seed, writer_id, Stream.STYLE))
    return Writer(writer_id=writer_id, plan=plan, style=motor)
