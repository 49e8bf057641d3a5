"""The stroke-primitive vocabulary: cursive letters, capitals and flourishes as virtual target points.

Every shape is a short list of *virtual targets* in a unit frame (y up, baseline at 0, x-height 1, ascenders
reach about 2, descenders about -1).  The pen never visits them exactly: the trajectory model aims a
lognormal stroke at each one and overlaps consecutive strokes, which rounds loops and cusps the way a fluent
hand does.  That is why the point lists look angular here but come out as smooth cursive.

Lowercase letters start at their origin (the pen arrives from the previous letter's exit) and end at their
exit, whose x is the letter's advance.  Capitals are generated from a few parametric families so every
writer gets their own version instead of sharing one fixed alphabet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Points = list[tuple[float, float]]

# Lowercase cursive letters: targets after the (implicit) entry at the origin.
# fmt: off
LOWERCASE: dict[str, Points] = {
    "a": [(0.62, 0.78), (0.35, 0.95), (0.06, 0.6), (0.15, 0.05), (0.45, 0.2), (0.66, 0.88), (0.6, 0.2),
          (0.72, 0.0), (0.92, 0.2)],
    "c": [(0.62, 0.8), (0.4, 0.95), (0.08, 0.6), (0.18, 0.03), (0.5, 0.05), (0.78, 0.22)],
    "d": [(0.62, 0.78), (0.35, 0.95), (0.06, 0.6), (0.15, 0.05), (0.45, 0.2), (0.8, 2.0), (0.62, 0.25),
          (0.74, 0.0), (0.94, 0.2)],
    "e": [(0.48, 0.45), (0.58, 0.8), (0.3, 0.88), (0.1, 0.45), (0.3, 0.0), (0.72, 0.2)],
    "g": [(0.62, 0.78), (0.35, 0.95), (0.06, 0.6), (0.15, 0.05), (0.45, 0.2), (0.66, 0.88), (0.58, -0.3),
          (0.42, -0.95), (0.12, -0.85), (0.3, -0.3), (0.88, 0.18)],
    "h": [(0.45, 1.3), (0.6, 1.85), (0.38, 2.05), (0.18, 1.6), (0.1, 0.0), (0.25, 0.55), (0.5, 0.92),
          (0.72, 0.6), (0.68, 0.05), (0.92, 0.2)],
    "i": [(0.3, 0.92), (0.25, 0.15), (0.4, 0.0), (0.62, 0.2)],
    "k": [(0.45, 1.3), (0.6, 1.85), (0.38, 2.05), (0.18, 1.6), (0.1, 0.0), (0.3, 0.65), (0.62, 0.88),
          (0.58, 0.5), (0.28, 0.45), (0.55, 0.3), (0.66, 0.02), (0.88, 0.18)],
    "l": [(0.45, 1.3), (0.6, 1.85), (0.38, 2.05), (0.18, 1.6), (0.15, 0.15), (0.32, 0.0), (0.58, 0.2)],
    "m": [(0.2, 0.75), (0.3, 0.92), (0.25, 0.0), (0.35, 0.62), (0.55, 0.92), (0.68, 0.6), (0.64, 0.0),
          (0.76, 0.62), (0.96, 0.92), (1.1, 0.6), (1.06, 0.05), (1.28, 0.2)],
    "n": [(0.2, 0.75), (0.3, 0.92), (0.25, 0.0), (0.35, 0.62), (0.56, 0.92), (0.74, 0.6), (0.7, 0.05),
          (0.92, 0.2)],
    "o": [(0.6, 0.82), (0.35, 0.96), (0.06, 0.6), (0.18, 0.03), (0.5, 0.15), (0.62, 0.8), (0.5, 0.92),
          (0.76, 0.86), (0.96, 0.78)],
    "p": [(0.3, 0.92), (0.25, -1.0), (0.26, 0.5), (0.5, 0.92), (0.76, 0.6), (0.56, 0.02), (0.3, 0.1),
          (0.82, 0.2)],
    "r": [(0.3, 0.86), (0.45, 0.74), (0.62, 0.92), (0.6, 0.5), (0.6, 0.05), (0.82, 0.2)],
    "s": [(0.45, 0.96), (0.66, 0.45), (0.45, 0.03), (0.12, 0.12), (0.45, 0.08), (0.76, 0.22)],
    "t": [(0.42, 1.6), (0.3, 0.15), (0.44, 0.0), (0.66, 0.2)],
    "u": [(0.25, 0.92), (0.22, 0.15), (0.38, 0.0), (0.62, 0.35), (0.7, 0.92), (0.65, 0.15), (0.76, 0.0),
          (0.96, 0.2)],
    "v": [(0.2, 0.86), (0.36, 0.0), (0.6, 0.92), (0.64, 0.8), (0.86, 0.8)],
    "w": [(0.2, 0.86), (0.3, 0.0), (0.55, 0.7), (0.75, 0.0), (0.96, 0.92), (1.0, 0.8), (1.18, 0.8)],
    "y": [(0.2, 0.92), (0.2, 0.15), (0.36, 0.0), (0.6, 0.4), (0.66, 0.92), (0.6, -0.35), (0.45, -0.95),
          (0.15, -0.85), (0.35, -0.3), (0.88, 0.18)],
    "b": [(0.45, 1.3), (0.6, 1.85), (0.38, 2.05), (0.18, 1.6), (0.12, 0.08), (0.36, 0.0), (0.62, 0.5),
          (0.4, 0.86), (0.62, 0.8), (0.86, 0.76)],
    "f": [(0.45, 1.3), (0.6, 1.85), (0.38, 2.05), (0.18, 1.6), (0.2, -0.9), (0.05, -0.8), (0.3, 0.0),
          (0.6, 0.2)],
}

# Separate pen-down marks drawn after the word (i dots, t bars), relative to the letter origin.
MARKS: dict[str, Points] = {
    "i": [(0.36, 1.45), (0.4, 1.5)],
    "t": [(0.08, 1.08), (0.74, 1.14)],
}

# Rough English-like letter frequencies so random "names" have a plausible texture.
LETTER_WEIGHTS: dict[str, float] = {
    "a": 8.0, "e": 10.0, "i": 6.5, "o": 7.0, "u": 3.0, "n": 6.5, "r": 6.0, "s": 5.5, "l": 4.5, "t": 5.0,
    "d": 3.5, "h": 3.0, "m": 2.8, "c": 2.8, "g": 2.0, "b": 1.6, "k": 1.2, "v": 1.1, "w": 1.2, "y": 1.8,
    "p": 1.8, "f": 1.5,
}
# fmt: on
VOWELS = frozenset("aeiouy")


@dataclass(frozen=True)
class Glyph:
    """One letter of a writer's plan: its stroke targets, separate marks and advance (unit frame)."""

    points: np.ndarray  # (n, 2) targets relative to the letter origin
    marks: tuple[np.ndarray, ...]  # extra pen-down components, same frame
    advance: float


def lowercase(letter: str) -> Glyph:
    pts = np.asarray(LOWERCASE[letter], dtype=np.float64)
    marks = tuple(np.asarray(m, dtype=np.float64) for k, m in MARKS.items() if k == letter)
    return Glyph(points=pts, marks=marks, advance=float(pts[-1, 0]))


# Which parametric capital family stands for a Latin capital letter (see :func:`capital`).
CAPITAL_FAMILIES: dict[str, int] = {
    **dict.fromkeys("BPRDK", 0),
    **dict.fromkeys("COGQE", 1),
    **dict.fromkeys("MNWVUAHYX", 2),
    **dict.fromkeys("LJSTFIZ", 3),
}


def capital_family(letter: str | None) -> int | None:
    """The family of a named capital letter; ``None`` (any family, drawn at random) for no letter."""
    return None if letter is None else CAPITAL_FAMILIES[letter.upper()]


def capital(rng: np.random.Generator, family: int | None = None) -> Glyph:
    """A capital from one of four parametric families (stem+bowls, oval, zigzag, looped stem).

    Real signatures are dominated by their capitals, and writers differ most there, so capitals are drawn
    from families with continuous parameters rather than fixed letters.  ``family`` fixes the family (a
    named letter's, :func:`capital_family`); ``None`` draws it.
    """
    if family is None:
        family = rng.choice(4, p=[0.3, 0.25, 0.2, 0.25])
    h = rng.uniform(2.0, 2.8)
    w = rng.uniform(0.8, 1.4)
    if family == 0:  # B / P / R / D: stem down, back up, one or two bowls
        bowls = int(rng.integers(1, 3))
        pts = [
            (0.35 * w, h),
            (0.15 * w, 0.0),
            (-0.05 * w, 0.25),
            (0.3 * w, 0.9 * h),
            (0.9 * w, h),
            (1.1 * w, 0.8 * h),
        ]
        if bowls == 2:
            pts += [(0.4 * w, 0.52 * h), (1.2 * w, 0.35 * h), (0.95 * w, 0.03), (0.3 * w, 0.15)]
        else:
            pts += [(0.35 * w, 0.45 * h), (0.9 * w, 0.3 * h), (1.05 * w, 0.02)]
        pts.append((1.35 * w, 0.2))
    elif family == 1:  # C / O / G: a large counter-clockwise oval, optionally closed
        pts = [
            (1.0 * w, 0.85 * h),
            (0.75 * w, h),
            (0.1 * w, 0.8 * h),
            (0.0, 0.3 * h),
            (0.45 * w, 0.0),
            (1.05 * w, 0.3 * h),
        ]
        if rng.random() < 0.5:
            pts += [(1.0 * w, 0.9 * h), (0.7 * w, 0.6 * h)]
        pts.append((1.3 * w, 0.2))
    elif family == 2:  # M / N / W: alternating tall strokes
        peaks = int(rng.integers(2, 4))
        pts = []
        for k in range(peaks):
            x0 = k * 0.5 * w
            pts += [(x0 + 0.2 * w, h * rng.uniform(0.85, 1.0)), (x0 + 0.45 * w, 0.05)]
        pts.append((peaks * 0.5 * w + 0.2 * w, 0.2))
    else:  # L / J / S / T: an entry loop at the top, a long stem, a foot loop
        pts = [
            (0.5 * w, 0.8 * h),
            (1.1 * w, h),
            (0.95 * w, 1.07 * h),
            (0.55 * w, 0.85 * h),
            (0.3 * w, 0.2),
            (0.0, -0.15),
            (-0.15 * w, 0.15),
            (0.4 * w, 0.12),
            (1.0 * w, 0.15),
        ]
    arr = np.asarray(pts, dtype=np.float64)
    return Glyph(points=arr, marks=(), advance=float(arr[-1, 0]))


def random_name(rng: np.random.Generator, min_len: int, max_len: int) -> str:
    """A pronounceable-looking lowercase name: alternating consonant and vowel runs."""
    letters = np.array(list(LETTER_WEIGHTS))
    weights = np.array(list(LETTER_WEIGHTS.values()))
    vowel = np.array([c in VOWELS for c in letters])
    length = int(rng.integers(min_len, max_len + 1))
    out: list[str] = []
    want_vowel = bool(rng.random() < 0.4)
    for _ in range(length):
        mask = vowel if want_vowel else ~vowel
        p = weights * mask
        out.append(str(rng.choice(letters, p=p / p.sum())))
        want_vowel = (not want_vowel) if rng.random() < 0.8 else want_vowel
    return "".join(out)


def flourish(rng: np.random.Generator, kind: str, x_start: float, x_end: float) -> np.ndarray:
    """Targets of an end flourish that continues from the last letter's exit at (x_end, ~0.2).

    ``underline`` sweeps back left under the name, ``paraph`` adds a looping zigzag after it, ``hook`` is a
    short rising tail.  Returned targets are absolute (same frame as the laid-out name).
    """
    span = max(x_end - x_start, 1.0)
    if kind == "underline":
        depth = rng.uniform(0.5, 1.1)
        back = rng.uniform(0.6, 1.05)
        pts = [
            (x_end + 0.4, -0.2),
            (x_end + 0.2, -depth),
            (x_end - back * span, -depth - rng.uniform(0.0, 0.3)),
        ]
        if rng.random() < 0.5:  # loop back to the right
            pts += [(x_end - back * span - 0.4, -depth + 0.3), (x_end - 0.3 * span, -depth - 0.25)]
    elif kind == "paraph":
        amp = rng.uniform(0.8, 1.6)
        pts = [
            (x_end + 0.5, amp),
            (x_end + 0.2, -amp * 0.6),
            (x_end + 1.1, amp * 0.7),
            (x_end + 0.9, -amp * 0.4),
            (x_end + 1.8, 0.1),
        ]
    else:  # hook
        pts = [(x_end + 0.5, 0.6), (x_end + 0.9, 1.4)]
    return np.asarray(pts, dtype=np.float64)
