"""Marks on real archive pages that are not signatures but look enough like them to be detected as ones.

Looking at tobacco800_dev pages (docs/detection_real.md) shows what a detector trained on typed letters
alone calls a signature: the curved, dense, isolated ink of

* **Bates / document-control numbers** -- a production number (``TI 1234 5678``, ``2024634464``) that a
  numbering machine stamped on every page of the litigation archive, along the right edge (turned 90
  degrees) or at the bottom; :func:`bates_number`;
* **script letterheads and drawn logos** -- a company name in a flowing italic face with a swash, or a
  mark of rings, swooshes and initials; :func:`script_name`, :func:`drawn_logo`;
* **rubber stamps** -- ``RECEIVED`` over a date (:func:`sigbench.documents.stamps.draw_box_stamp`) and
  round seals (:func:`sigbench.documents.stamps.draw_stamp`), black after the bilevel scan;
* **handwritten marginal notes** -- a word or two, a line or two, written at a slant in a margin;
  :func:`marginal_note`.

Every function draws from the caller's generator and returns a grey ``uint8`` image, dark ink on light
paper, like a signature source, so the page pastes them with the same fusion (and gets their ink mask).
No script or calligraphic font ships with sigbench or most machines: :func:`script_name` takes a font
whose file name says script / hand / brush / calligraph when one is installed (``SIGBENCH_FONT_DIRS``),
else an italic or oblique face sheared further, which is how a script letterhead differs from body type
(slant, swash, size) even without the real face.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from sigbench.documents.fonts import font_book
from sigbench.documents.handwriting import handwritten_date
from sigbench.documents.templates import WORDS
from sigbench.documents.typeset import Font

#: Prefixes of Bates numbers seen on tobacco-litigation pages (an empty one: digits only).
BATES_PREFIXES = ("TI", "TIMN", "TCAL", "TINY", "LG", "BW", "")
#: File-name fragments (lower case) of fonts that look like a typewriter / numbering machine.
TYPEWRITER_FONTS = ("mono", "courier", "typewriter")
#: File-name fragments of real script faces, then of the italic faces used when none is installed.
SCRIPT_FONTS = ("script", "hand", "brush", "calligraph", "cursive")
ITALIC_FONTS = ("italic", "oblique")


def _font_named(rng: np.random.Generator, size: int, *fragments: tuple[str, ...]) -> Font:
    """A random installed font whose file name has a fragment of the first group that matches any font,
    else any text font (Pillow's built-in one on a bare machine)."""
    book = font_book("latin")
    for group in fragments:
        paths = [p for p in book.paths if any(f in p.name.lower() for f in group)]
        if paths:
            return book.load(paths[int(rng.integers(len(paths)))], max(int(size), 6))
    return book.random(rng, max(int(size), 6))


def _text_ink(text: str, font: Font, pad: int) -> np.ndarray:
    """``text`` drawn white on black (float32 0..1), ``pad`` px of margin."""
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, fill=255, font=font)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _on_paper(ink: np.ndarray, rng: np.random.Generator, tone: tuple[float, float] = (10, 60)) -> np.ndarray:
    """Coverage (0..1) as grey uint8: dark ink of a random tone on light paper."""
    paper = rng.uniform(230, 250)
    grey = paper - (paper - rng.uniform(*tone)) * np.clip(ink, 0.0, 1.0)
    return np.clip(grey + 0.5, 0, 255).astype(np.uint8)


def _shear(ink: np.ndarray, slant: float) -> np.ndarray:
    """Shear right by ``slant`` (tan of the angle), widening the canvas so nothing is cut."""
    h, w = ink.shape
    extra = int(abs(slant) * h) + 1
    matrix = np.float32([[1, -slant, slant * h if slant > 0 else 0], [0, 1, 0]])
    return cv2.warpAffine(ink, matrix, (w + extra, h))


def bates_number(rng: np.random.Generator, height: int) -> np.ndarray:
    """A production number in a typewriter face, ``height`` px tall, horizontal (the caller turns it).

    Numbering machines print each digit from its own wheel: digits sit a little off the baseline and
    their ink varies, which the per-digit jitter imitates.
    """
    prefix = BATES_PREFIXES[int(rng.integers(len(BATES_PREFIXES)))]
    digits = "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(8, 11))))
    grouped = f"{digits[:4]} {digits[4:]}" if rng.random() < 0.4 else digits
    text = f"{prefix} {grouped}".strip()
    font = _font_named(rng, int(height * 0.8), TYPEWRITER_FONTS)
    glyphs = [_text_ink(ch, font, 1) if ch != " " else None for ch in text]
    advance = max(g.shape[1] for g in glyphs if g is not None)
    tallest = max(g.shape[0] for g in glyphs if g is not None)
    ink = np.zeros((tallest + 4, advance * len(text) + 4), np.float32)
    for i, glyph in enumerate(glyphs):
        if glyph is None:
            continue
        y = int(np.clip(2 + rng.normal(0, 0.6), 0, ink.shape[0] - glyph.shape[0]))
        x = 2 + i * advance
        ink[y : y + glyph.shape[0], x : x + glyph.shape[1]] = np.maximum(
            ink[y : y + glyph.shape[0], x : x + glyph.shape[1]], glyph * rng.uniform(0.75, 1.0)
        )
    return _on_paper(ink, rng)


def _swash(rng: np.random.Generator, width: int, height: int, thickness: int) -> np.ndarray:
    """A flourish under a name: one quadratic Bezier curve across the width, thick in the middle."""
    ink = np.zeros((height, width), np.float32)
    p0 = np.array([0.02 * width, rng.uniform(0.2, 0.8) * height])
    p1 = np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(-0.5, 1.5) * height])
    p2 = np.array([0.98 * width, rng.uniform(0.2, 0.8) * height])
    t = np.linspace(0, 1, 64)[:, None]
    points = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2).astype(np.int32)
    for i in range(len(points) - 1):
        weight = max(1, int(round(thickness * np.sin(np.pi * (i + 0.5) / len(points)))))
        cv2.line(ink, tuple(points[i]), tuple(points[i + 1]), 1.0, weight, cv2.LINE_AA)
    return ink


def script_name(rng: np.random.Generator, height: int, text: str | None = None) -> np.ndarray:
    """A company name in a script-like face with a swash: the letterhead most often taken for a signature.

    ``height`` is the size of the type in px; ``text`` defaults to one or two capitalised words.
    """
    if text is None:
        text = " ".join(WORDS[i].capitalize() for i in rng.integers(len(WORDS), size=int(rng.integers(1, 3))))
    font = _font_named(rng, height, SCRIPT_FONTS, ITALIC_FONTS)
    ink = _text_ink(text, font, max(2, height // 4))
    ink = _shear(ink, float(rng.uniform(0.15, 0.4)))
    if rng.random() < 0.6:  # a flourish under the name
        h, w = ink.shape
        band = max(4, int(h * rng.uniform(0.3, 0.6)))
        ink = np.vstack([ink, _swash(rng, w, band, max(1, int(height * rng.uniform(0.06, 0.14))))])
    return _on_paper(ink, rng, tone=(0, 40))


def drawn_logo(rng: np.random.Generator, size: int) -> np.ndarray:
    """A company mark about ``size`` px tall: initials in a ring, a swoosh, or both beside a bar."""
    size = max(int(size), 16)
    kind = int(rng.integers(3))
    width = size * (1 if kind == 0 else 2)
    canvas = np.zeros((size, width), np.float32)
    stroke = max(1, int(size * rng.uniform(0.05, 0.1)))
    if kind in (0, 2):  # a ring with one to three initials inside
        centre, radius = (size // 2, size // 2), size // 2 - stroke
        cv2.circle(canvas, centre, radius, 1.0, stroke, cv2.LINE_AA)
        letters = "".join(chr(ord("A") + int(c)) for c in rng.integers(0, 26, size=int(rng.integers(1, 4))))
        glyphs = _text_ink(letters, _font_named(rng, int(size * 0.45), ITALIC_FONTS), 1)
        gh, gw = glyphs.shape
        scale = min(1.0, radius * 1.3 / max(gw, 1))
        glyphs = cv2.resize(glyphs, (max(1, int(gw * scale)), max(1, int(gh * scale))))
        gh, gw = glyphs.shape
        y, x = max(0, size // 2 - gh // 2), max(0, size // 2 - gw // 2)
        region = canvas[y : y + gh, x : x + gw]
        canvas[y : y + gh, x : x + gw] = np.maximum(region, glyphs[: region.shape[0], : region.shape[1]])
    if kind in (1, 2):  # a swoosh: two nested curves filled between them
        left = size if kind == 2 else 0
        upper = _swash(rng, width - left, size, max(2, stroke * 2))
        canvas[:, left:] = np.maximum(canvas[:, left:], upper)
    return _on_paper(canvas, rng, tone=(0, 40))


def marginal_note(rng: np.random.Generator, unit: int) -> np.ndarray:
    """One or two lines of quick handwriting (``unit`` px per line), turned a little: a note in a margin."""
    lines = [
        handwritten_date(rng, unit, text=" ".join(WORDS[i] for i in rng.integers(len(WORDS), size=n)))
        for n in rng.integers(1, 4, size=int(rng.integers(1, 3)))
    ]
    width = max(line.shape[1] for line in lines)
    paper = int(max(np.median(line) for line in lines))
    block = np.vstack(
        [np.pad(line, ((0, 0), (0, width - line.shape[1])), constant_values=paper) for line in lines]
    )
    angle = float(rng.normal(0, 8))
    h, w = block.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    out_w, out_h = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    matrix[:, 2] += ((out_w - w) / 2, (out_h - h) / 2)
    return cv2.warpAffine(block, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=paper)
