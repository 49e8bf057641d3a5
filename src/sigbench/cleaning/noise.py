"""Synthetic clutter for the SignVer cleaner: ruled lines, printed words, stamps and speckle.

The cleaner sits in front of the feature extractor, so it must clean exactly what the extractor sees:
preprocessed signatures (:mod:`sigbench.data.preprocess`), uint8 with **ink bright on a 0 background**.
Clutter is therefore drawn in that inverted domain too: a printed line, word or stamp is a bright mark
whose value is how dark it was on paper.

The one invariant the whole cleaning task rests on: clutter is composited **only on background pixels**,
so every ink pixel of the clean image survives unchanged in the noisy one (a pixel is *ink* when its value
is above ``ink_threshold``; the default 0 keeps even the faintest anti-aliased edge of a stroke). The clean
image is then an exact target -- the noisy image with the clutter pixels zeroed -- which is what lets
:class:`sigbench.cleaning.models.Cleaner` predict a per-pixel keep-mask.

Everything is drawn from the caller's ``np.random.Generator`` in a fixed order, so one seed gives one
clutter. Drawing is vectorised per object (a line is one broadcast comparison over the image grid, a word
one Pillow text render); there are no per-pixel Python loops.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import cv2
import numpy as np
from PIL import Image, ImageDraw

from sigbench.documents.fonts import font_book

#: Printed words of forms, cheques and contracts (what sits next to a signature), plus the generator below.
FORM_WORDS: tuple[str, ...] = (
    "Signature",
    "Sign here",
    "Date",
    "Name",
    "Authorized signatory",
    "Witness",
    "X",
    "Approved by",
    "Received by",
    "Customer",
    "Title",
    "Page 1 of 2",
    "Amount",
    "For and on behalf of",
    "Director",
    "12/03/2021",
    "No. 48213",
)
ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))


def _pair(value: Sequence[float], name: str, kind: type = int) -> tuple:
    """A ``(low, high)`` pair with ``low <= high`` (config lists arrive as lists)."""
    pair = tuple(kind(v) for v in value)
    if len(pair) != 2 or pair[0] > pair[1]:
        raise ValueError(f"clutter.{name}: expected [low, high] with low <= high, got {list(value)}")
    return pair


@dataclass
class Clutter:
    """What :func:`add_clutter` draws. Each kind appears with its probability; ``(low, high)`` ranges are
    inclusive and drawn uniformly per object.

    Args:
        line_prob: chance of ruled lines (form lines, underlines, box edges crossing the signature).
        lines: how many lines when there are any.
        line_thickness: thickness in pixels (each column of a line holds exactly this many pixels).
        line_max_angle: lines tilt uniformly within +-this many degrees (scans are never quite level).
        line_dash_prob: chance that a line is dashed / dotted ("Sign: ..........").
        word_prob, words, word_size: printed words in random system fonts, ``word_size`` in pixels.
        stamp_prob, stamps, stamp_diameter: round stamps from :func:`sigbench.documents.stamps.draw_stamp`.
        speckle_prob, speckle_density: salt noise (dust, toner) as a fraction of pixels.
        intensity: value of printed marks in the inverted domain (255 = black print on white paper).
        ink_threshold: pixels of the clean image above this are ink and are never changed.
        script: which fonts draw the words (:func:`sigbench.documents.fonts.font_book`).
    """

    line_prob: float = 0.8
    lines: Sequence[int] = (1, 3)
    line_thickness: Sequence[int] = (1, 9)
    line_max_angle: float = 3.0
    line_dash_prob: float = 0.2
    word_prob: float = 0.6
    words: Sequence[int] = (1, 4)
    word_size: Sequence[int] = (10, 28)
    stamp_prob: float = 0.25
    stamps: Sequence[int] = (1, 1)
    stamp_diameter: Sequence[int] = (50, 120)
    speckle_prob: float = 0.5
    speckle_density: Sequence[float] = (0.0005, 0.004)
    intensity: Sequence[int] = (40, 230)
    ink_threshold: int = 0
    script: str = "latin"

    def __post_init__(self) -> None:
        for name in (
            "lines",
            "line_thickness",
            "words",
            "word_size",
            "stamps",
            "stamp_diameter",
            "intensity",
        ):
            setattr(self, name, _pair(getattr(self, name), name))
        self.speckle_density = _pair(self.speckle_density, "speckle_density", float)
        for f in fields(self):
            if f.name.endswith("_prob") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"clutter.{f.name} must be in [0, 1], got {getattr(self, f.name)}")
        if self.line_thickness[0] < 1 or self.word_size[0] < 1 or self.stamp_diameter[0] < 4:
            raise ValueError("clutter: line_thickness, word_size and stamp_diameter must be positive")
        if not 0 <= self.intensity[0] <= self.intensity[1] <= 255:
            raise ValueError(f"clutter.intensity must lie in [0, 255], got {list(self.intensity)}")
        if not 0 <= self.ink_threshold < 255:
            raise ValueError(f"clutter.ink_threshold must be in [0, 255), got {self.ink_threshold}")

    def to_dict(self) -> dict:
        """Plain values (for cache keys and results files)."""
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)
        }


def _count(rng: np.random.Generator, prob: float, counts: tuple[int, int]) -> int:
    """How many objects of one kind: 0 with probability ``1 - prob``, else uniform in ``counts``.
    Both draws are always made so that one kind's settings never shift another kind's random stream."""
    present = rng.random() < prob
    n = int(rng.integers(counts[0], counts[1] + 1))
    return n if present else 0


def _paste_max(layer: np.ndarray, patch: np.ndarray, top: int, left: int) -> None:
    """``layer = max(layer, patch)`` over the overlap of ``patch`` placed at (top, left); may be clipped."""
    h, w = layer.shape
    ph, pw = patch.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + ph, h), min(left + pw, w)
    if y0 >= y1 or x0 >= x1:
        return
    region = layer[y0:y1, x0:x1]
    np.maximum(region, patch[y0 - top : y1 - top, x0 - left : x1 - left], out=region)


def line_mask(
    shape: tuple[int, int],
    top: float,
    thickness: int,
    angle_deg: float = 0.0,
    span: tuple[int, int] | None = None,
    dash: int = 0,
) -> np.ndarray:
    """Pixels of one straight line: in every column of ``span`` (default: all), ``thickness`` consecutive
    rows starting at ``floor(top + tan(angle) * (column - centre))``. ``dash > 0`` keeps alternate runs of
    ``dash`` columns (a dashed line)."""
    h, w = shape
    cols = np.arange(w)
    start = np.floor(top + math.tan(math.radians(angle_deg)) * (cols - (w - 1) / 2.0))
    rows = np.arange(h)[:, None]
    mask = (rows >= start[None, :]) & (rows < start[None, :] + thickness)
    keep = np.ones(w, dtype=bool)
    if span is not None:
        keep &= (cols >= span[0]) & (cols < span[1])
    if dash > 0:
        keep &= (cols // dash) % 2 == 0
    return mask & keep[None, :]


def _lines(layer: np.ndarray, rng: np.random.Generator, c: Clutter) -> None:
    h, w = layer.shape
    for _ in range(_count(rng, c.line_prob, c.lines)):
        thickness = int(rng.integers(c.line_thickness[0], c.line_thickness[1] + 1))
        top = float(rng.uniform(-thickness + 1, h - 1))
        angle = float(rng.uniform(-c.line_max_angle, c.line_max_angle))
        full = rng.random() < 0.5
        a, b = sorted(int(v) for v in rng.integers(0, w + 1, size=2))
        dashed = rng.random() < c.line_dash_prob
        dash = int(rng.integers(2, 9))
        value = int(rng.integers(c.intensity[0], c.intensity[1] + 1))
        mask = line_mask(
            (h, w), top, thickness, angle, None if full else (a, max(b, a + w // 4)), dash * dashed
        )
        np.maximum(layer, mask.astype(np.uint8) * np.uint8(value), out=layer)


def _random_word(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        return FORM_WORDS[int(rng.integers(len(FORM_WORDS)))]
    return "".join(rng.choice(ALPHABET, size=int(rng.integers(2, 10))))


@functools.lru_cache(maxsize=512)
def _text_mask(text: str, script: str, font_index: int, size: int) -> np.ndarray:
    """Anti-aliased coverage (uint8, 255 = fully covered) of ``text`` in one font at one size, cached;
    ``font_index`` -1 is Pillow's built-in font (no font file found)."""
    book = font_book(script)
    font = book.load(None if font_index < 0 else book.paths[font_index], size)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(canvas).text((-left, -top), text, fill=255, font=font)
    return np.asarray(canvas, dtype=np.uint8)


def _words(layer: np.ndarray, rng: np.random.Generator, c: Clutter) -> None:
    h, w = layer.shape
    book = font_book(c.script)
    for _ in range(_count(rng, c.word_prob, c.words)):
        text = _random_word(rng)
        size = int(rng.integers(c.word_size[0], c.word_size[1] + 1))
        font_index = int(rng.integers(len(book))) if len(book) else -1
        value = int(rng.integers(c.intensity[0], c.intensity[1] + 1))
        coverage = _text_mask(text, c.script, font_index, size)
        patch = (coverage.astype(np.uint16) * value // 255).astype(np.uint8)
        top = int(rng.integers(-patch.shape[0] // 2, h))
        left = int(rng.integers(-patch.shape[1] // 2, w))
        _paste_max(layer, patch, top, left)


def _stamps(layer: np.ndarray, rng: np.random.Generator, c: Clutter) -> None:
    n = _count(rng, c.stamp_prob, c.stamps)
    if n == 0:
        return
    try:
        from sigbench.documents.stamps import draw_stamp
    except ImportError as err:  # pragma: no cover - the module ships with sigbench
        raise RuntimeError(
            f"clutter stamps need sigbench.documents.stamps ({err}); set stamp_prob=0"
        ) from err
    h, w = layer.shape
    for _ in range(n):
        diameter = int(rng.integers(c.stamp_diameter[0], c.stamp_diameter[1] + 1))
        rgb, alpha = draw_stamp(rng, diameter)
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
        # inverted domain: how much darker than white paper the stamp ink makes each pixel
        patch = np.clip((255.0 - grey) * alpha, 0, 255).astype(np.uint8)
        top = int(rng.integers(-patch.shape[0] // 2, h))
        left = int(rng.integers(-patch.shape[1] // 2, w))
        _paste_max(layer, patch, top, left)


def _speckle(layer: np.ndarray, rng: np.random.Generator, c: Clutter) -> None:
    present = rng.random() < c.speckle_prob
    density = float(rng.uniform(*c.speckle_density))
    grow = rng.random() < 0.5
    if not present:
        return
    dots = rng.random(layer.shape) < density
    values = rng.integers(c.intensity[0], c.intensity[1] + 1, size=layer.shape, dtype=np.uint8)
    speck = np.where(dots, values, 0).astype(np.uint8)
    if grow:  # dust and toner come in 2 x 2 blobs as well as single pixels
        speck = cv2.dilate(speck, np.ones((2, 2), np.uint8))
    np.maximum(layer, speck, out=layer)


def clutter_layer(
    shape: tuple[int, int], rng: np.random.Generator, clutter: Clutter | None = None
) -> np.ndarray:
    """The clutter alone (uint8 H x W, inverted domain), drawn in a fixed order: lines, words, stamps,
    speckle."""
    c = clutter if clutter is not None else Clutter()
    layer = np.zeros(tuple(int(s) for s in shape), dtype=np.uint8)
    _lines(layer, rng, c)
    _words(layer, rng, c)
    _stamps(layer, rng, c)
    _speckle(layer, rng, c)
    return layer


def composite(clean: np.ndarray, layer: np.ndarray, ink_threshold: int = 0) -> np.ndarray:
    """``clean`` with ``layer`` drawn only where ``clean`` is background (``<= ink_threshold``)."""
    return np.where(clean > ink_threshold, clean, np.maximum(clean, layer)).astype(np.uint8)


def add_clutter(clean: np.ndarray, rng: np.random.Generator, clutter: Clutter | None = None) -> np.ndarray:
    """A noisy copy of one preprocessed signature (uint8, ``H x W`` or ``1 x H x W``, ink bright).

    Every pixel with ``clean > clutter.ink_threshold`` is returned unchanged; the same generator state
    gives the same clutter.
    """
    clean = np.asarray(clean)
    if clean.dtype != np.uint8 or clean.ndim not in (2, 3) or (clean.ndim == 3 and clean.shape[0] != 1):
        raise ValueError(
            f"add_clutter expects a uint8 H x W or 1 x H x W image, got {clean.dtype} {clean.shape}"
        )
    c = clutter if clutter is not None else Clutter()
    layer = clutter_layer(clean.shape[-2:], rng, c)
    return composite(clean, layer.reshape(clean.shape), c.ink_threshold)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` under ``seed``: fixed clutter per sample, independent of order."""
    return np.random.default_rng([int(seed), int(index)])


def clutter_dataset(
    x: np.ndarray, seed: int, clutter: Clutter | None = None, index: np.ndarray | None = None
) -> np.ndarray:
    """Cluttered copies of ``x[index]`` (uint8 N x 1 x H x W); sample ``i`` uses ``sample_rng(seed, i)``
    with ``i`` its position in ``x``, so any subset sees the same clutter as the whole set."""
    index = np.arange(len(x)) if index is None else np.asarray(index)
    out = np.empty((len(index), *x.shape[1:]), dtype=np.uint8)
    for row, i in enumerate(index):
        out[row] = add_clutter(np.asarray(x[i]), sample_rng(seed, int(i)), clutter)
    return out
