"""Short handwritten marks that are *not* signatures: initials and dates (SignVerOD's other classes).

A detector that has only ever seen printed text next to signatures calls every handwritten stroke a
signature. Initials and dates are the handwriting most often found near signatures, so they serve twice:
as unlabelled distractors on cluttered pages, and as labelled ``initials`` / ``date`` objects when the
synthesiser is asked for the SignVerOD classes.

* Initials reuse the synthetic writer machinery (:mod:`sigbench.data.synthetic`): one to three capital
  glyphs, each followed by a full stop, executed by a random motor style and rendered like any signature.
* Dates use a printed font with a handwriting-like jitter (per-character rotation, baseline wander, slant,
  uneven spacing and stroke weight), since the glyph model has no digits.

Both return grey ``uint8`` images, dark ink on light paper, like every signature source.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from sigbench.data.synthetic import glyphs
from sigbench.data.synthetic.render import render_scan
from sigbench.data.synthetic.trajectory import Act, trace_act
from sigbench.data.synthetic.variation import Geometry
from sigbench.data.synthetic.writer import make_style
from sigbench.documents.typeset import text_font

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def handwritten_initials(rng: np.random.Generator) -> np.ndarray:
    """One to three capitals with full stops, written by a random hand (grey uint8, dark on light)."""
    style = make_style(rng)
    geometry = Geometry(
        x_height_px=style.x_height_px,
        slant=style.slant,
        rotation=style.baseline_tilt,
        stretch=float(np.exp(rng.normal(0.0, 0.1))),
    )
    targets = []
    x = 0.0
    for _ in range(int(rng.integers(1, 4))):
        glyph = glyphs.capital(rng)
        pts = glyph.points + np.array([x, 0.0])
        targets.append(geometry.to_pixels(pts))
        x += glyph.advance + 0.15
        if rng.random() < 0.8:
            targets.append(geometry.to_pixels(np.array([[x, 0.05], [x + 0.06, 0.0]])))
        x += rng.uniform(0.3, 0.7)
    act = Act(targets=tuple(targets), style=style, timing_sd=0.05, speed_wobble=0.02)
    scan = render_scan(trace_act(act, rng), style, rng, scan_size=(200, 360))
    return scan


def date_text(rng: np.random.Generator) -> str:
    """A date the way people write it: ``12/03/2021``, ``3.5.19``, ``14 Mar 2020`` or ``2021-03-12``."""
    day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1990, 2030))
    style = int(rng.integers(4))
    if style == 0:
        return f"{day:02d}/{month:02d}/{year}"
    if style == 1:
        return f"{day}.{month}.{year % 100:02d}"
    if style == 2:
        return f"{day} {MONTHS[month - 1]} {year}"
    return f"{year}-{month:02d}-{day:02d}"


def handwritten_date(rng: np.random.Generator, height: int = 48, text: str | None = None) -> np.ndarray:
    """A date written with a jittered font (grey uint8, dark on light, about ``height`` px tall).

    Characters are drawn one by one with their own rotation, baseline offset and spacing, then the whole
    line is sheared (slant) and blurred a little, so it reads as quick handwriting rather than type.
    """
    text = date_text(rng) if text is None else text
    size = max(8, int(height * 0.7))
    font = text_font(rng, size)
    width = int(size * 0.9 * len(text)) + 2 * size
    canvas = Image.new("L", (width, int(size * 2.2)), 0)
    x = size * 0.5
    drift = 0.0
    for ch in text:
        drift += rng.normal(0, size * 0.04)
        if ch != " ":
            side = int(size * 1.8)
            glyph = Image.new("L", (side, side), 0)
            ImageDraw.Draw(glyph).text((side / 2, side / 2), ch, fill=255, font=font, anchor="mm")
            glyph = glyph.rotate(float(rng.normal(0, 6)), resample=Image.BILINEAR)
            top = int(canvas.height / 2 - side / 2 + drift)
            canvas.paste(255, (int(x - side / 2 + size / 2), top), glyph)
        x += font.getlength(ch) * rng.uniform(0.85, 1.15) if hasattr(font, "getlength") else size * 0.6
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    shear = np.tan(np.deg2rad(rng.normal(10, 6)))
    h, w = ink.shape
    matrix = np.float32([[1, -shear, shear * h / 2], [0, 1, 0]])
    ink = cv2.warpAffine(ink, matrix, (w, h))
    if rng.random() < 0.5:  # a heavier pen
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    ink = cv2.GaussianBlur(ink, (0, 0), 0.6)
    paper = rng.uniform(225, 245)
    tone = rng.uniform(20, 90)
    gray = paper - (paper - tone) * np.clip(ink, 0, 1)
    gray += rng.normal(0, 1.5, gray.shape)
    return np.clip(gray + 0.5, 0, 255).astype(np.uint8)
