"""Red / blue circular stamps and fingerprints: the clutter that overlaps signatures on real documents.

Stamps (company seals, "APPROVED" marks, Chinese 合同专用章) and inked fingerprints are the two kinds of
coloured, curvy marks that sit on top of or right next to signatures in contracts and receipts. A detector
or cleaner trained without them learns "coloured curves = signature". Both are returned as an RGB patch
plus a float alpha (0..1) so the caller composites them with its own blending (and can tell ink from
paper exactly, which the cleaning task needs to build its clean targets).

Everything is drawn from the caller's generator: the same generator state gives the same mark.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sigbench.documents.typeset import has_script, text_font

#: Stamp ink colours (RGB): several reds (most common), a purple and blues.
STAMP_COLORS: tuple[tuple[int, int, int], ...] = (
    (200, 30, 40),
    (220, 50, 50),
    (180, 20, 60),
    (150, 40, 120),
    (40, 60, 170),
    (30, 80, 200),
)
#: Ring texts for Latin stamps; joined with " * " and repeated to fill the ring.
LATIN_STAMP_WORDS: tuple[str, ...] = (
    "APPROVED",
    "CERTIFIED COPY",
    "RECEIVED",
    "ACME TRADING CO LTD",
    "NOTARY PUBLIC",
    "PAID",
    "OFFICIAL SEAL",
    "FINANCE DEPARTMENT",
    "GLOBAL LOGISTICS INC",
    "VERIFIED",
)
#: Ring texts for Chinese stamps (drawn only when a font covering Chinese is installed).
CHINESE_STAMP_WORDS: tuple[str, ...] = ("合同专用章", "财务专用章", "有限责任公司", "发票专用章", "人事部")
#: Fingerprint colours: stamp-pad red or black ink.
FINGERPRINT_COLORS: tuple[tuple[int, int, int], ...] = ((190, 40, 50), (60, 50, 55), (35, 35, 40))


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to 0..1: the blotchiness of ink on paper."""
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sigma, 0.5))
    lo, hi = float(noise.min()), float(noise.max())
    return (noise - lo) / (hi - lo + 1e-6)


def _ink_texture(rng: np.random.Generator, coverage: np.ndarray, strength: float) -> np.ndarray:
    """Uneven alpha for a mark drawn as ``coverage`` (0..1): low-frequency fading plus fine dropouts.

    A stamp pressed unevenly fades on one side and misses ink in speckles; a uniform alpha looks printed.
    """
    h, w = coverage.shape
    fade = 0.55 + 0.45 * _smooth_field(rng, (h, w), sigma=max(h, w) / 6)
    speckle = _smooth_field(rng, (h, w), sigma=1.2)
    dropout = np.clip((speckle - rng.uniform(0.15, 0.3)) * 4.0, 0.0, 1.0)
    return np.clip(coverage * fade * dropout * strength, 0.0, 1.0).astype(np.float32)


def _pick_color(rng: np.random.Generator, palette: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
    """The first half of a palette (the reds) is drawn three times as often as the rest."""
    weights = np.where(np.arange(len(palette)) < (len(palette) + 1) // 2, 3.0, 1.0)
    return palette[int(rng.choice(len(palette), p=weights / weights.sum()))]


def _colored_patch(
    rng: np.random.Generator, shape: tuple[int, int], color: tuple[int, int, int]
) -> np.ndarray:
    """A patch of ``color`` with slight tonal variation (ink is never a flat colour)."""
    if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
        raise ValueError(f"color: expected an (R, G, B) tuple of 0..255 values, got {color!r}")
    tone = (_smooth_field(rng, shape, sigma=max(shape) / 8) - 0.5) * 30.0
    patch = np.asarray(color, dtype=np.float32)[None, None, :] + tone[..., None]
    return np.clip(patch, 0, 255).astype(np.uint8)


def _ring_text(rng: np.random.Generator) -> tuple[str, str]:
    """A default ring text and its script: Chinese when a covering font exists (half the time)."""
    if has_script("chinese") and rng.random() < 0.5:
        return CHINESE_STAMP_WORDS[int(rng.integers(len(CHINESE_STAMP_WORDS)))], "chinese"
    return LATIN_STAMP_WORDS[int(rng.integers(len(LATIN_STAMP_WORDS)))], "latin"


def _script_of(text: str) -> str:
    """``"chinese"`` when ``text`` has a CJK ideograph (and a font covers it), else ``"latin"``."""
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    return "chinese" if has_cjk and has_script("chinese") else "latin"


def _draw_ring_text(
    canvas: Image.Image,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    center: float,
    radius: float,
    span_deg: float,
) -> None:
    """Draw ``text`` upright along a circle of ``radius``, centred on the top, spanning ``span_deg``.

    Each character is rendered once on its own small canvas and rotated to its tangent: per-glyph work, not
    per-pixel, and it keeps any font (including Pillow's bitmap fallback) usable.
    """
    chars = list(text)
    if not chars:
        return
    step = span_deg / max(len(chars) - 1, 1) if len(chars) > 1 else 0.0
    start = -span_deg / 2 if len(chars) > 1 else 0.0
    for i, ch in enumerate(chars):
        if ch.isspace():
            continue
        left, top, right, bottom = font.getbbox(ch)
        side = int(max(right - left, bottom - top) * 1.6) + 4
        glyph = Image.new("L", (side, side), 0)
        ImageDraw.Draw(glyph).text((side / 2, side / 2), ch, fill=255, font=font, anchor="mm")
        angle = start + i * step  # degrees clockwise from the top
        glyph = glyph.rotate(-angle, resample=Image.BILINEAR)
        theta = math.radians(angle)
        cx = center + radius * math.sin(theta)
        cy = center - radius * math.cos(theta)
        canvas.paste(255, (int(round(cx - side / 2)), int(round(cy - side / 2))), glyph)


def _star(center: float, radius: float, rotation: float) -> list[tuple[float, float]]:
    """The 10 vertices of a five-pointed star (inner radius 0.38 of the outer one)."""
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.38
        a = rotation + k * math.pi / 5
        points.append((center + r * math.sin(a), center - r * math.cos(a)))
    return points


def draw_stamp(
    rng: np.random.Generator,
    diameter: int,
    text: str | None = None,
    color: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A circular stamp: ``(rgb uint8 (d, d, 3), alpha float32 (d, d) in 0..1)``.

    Double ring (thick outer, thin inner), ``text`` around the top of the ring (a random company / office
    text when ``None``; Chinese when a Chinese font is installed and chosen), a star -- or, for short Latin
    texts, sometimes a date-like line -- in the middle, and an uneven ink texture. ``color`` defaults to a
    random stamp red (sometimes purple or blue).
    """
    diameter = int(diameter)
    if diameter < 16:
        raise ValueError(f"diameter: a stamp needs at least 16 px, got {diameter}")
    if text is None:
        text, script = _ring_text(rng)
    else:
        script = _script_of(text)
    color = _pick_color(rng, STAMP_COLORS) if color is None else tuple(int(c) for c in color)  # type: ignore[assignment]

    scale = 2  # draw at twice the size and shrink: smooth anti-aliased rings and glyphs
    size = diameter * scale
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    outer_w = max(2, int(size * rng.uniform(0.025, 0.045)))
    inner_gap = size * rng.uniform(0.04, 0.06)
    margin = outer_w / 2 + 1
    draw.ellipse((margin, margin, size - margin, size - margin), outline=255, width=outer_w)
    inner = margin + outer_w / 2 + inner_gap
    draw.ellipse((inner, inner, size - inner, size - inner), outline=255, width=max(1, outer_w // 3))

    band = size / 2 - inner - max(1, outer_w // 3)  # free radius between the inner ring and the centre
    font_px = max(6, int(band * rng.uniform(0.28, 0.36)))
    font = text_font(rng, font_px, script)
    ring_text = text if script == "chinese" else f"{text} *" if rng.random() < 0.5 else text
    radius = size / 2 - inner - font_px * 0.75
    advance = font_px * (1.05 if script == "chinese" else 0.72)  # arc length one character takes
    span = min(300.0, math.degrees(advance * len(ring_text) / max(radius, 1.0)))
    _draw_ring_text(canvas, ring_text, font, size / 2, radius, max(span, 30.0))

    middle = size / 2
    if script == "latin" and rng.random() < 0.3:
        label = (
            f"{int(rng.integers(1, 29)):02d}.{int(rng.integers(1, 13)):02d}.{int(rng.integers(1990, 2030))}"
        )
        small = text_font(rng, max(6, int(font_px * 0.8)))
        draw.text((middle, middle), label, fill=255, font=small, anchor="mm")
    else:
        star_r = band * rng.uniform(0.3, 0.42)
        draw.polygon(_star(middle, star_r, rotation=float(rng.uniform(-0.1, 0.1))), fill=255)

    coverage = np.asarray(canvas.resize((diameter, diameter), Image.LANCZOS), dtype=np.float32) / 255.0
    alpha = _ink_texture(rng, coverage, strength=float(rng.uniform(0.7, 0.95)))
    return _colored_patch(rng, (diameter, diameter), color), alpha  # type: ignore[arg-type]


#: First lines of rectangular office stamps (a date line follows).
BOX_STAMP_WORDS: tuple[str, ...] = ("RECEIVED", "FILED", "COPY", "ANSWERED", "ACKNOWLEDGED", "RECEIVED BY")


def draw_box_stamp(
    rng: np.random.Generator,
    height: int,
    lines: tuple[str, ...] | None = None,
    color: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A rectangular office stamp -- ``RECEIVED`` over a date, in a frame: ``(rgb uint8, alpha float32)``.

    The kind a mail room presses on incoming letters; ``height`` is the stamp's height in pixels (the width
    follows the text). ``lines`` default to a word of :data:`BOX_STAMP_WORDS` and a date like ``MAR 12
    1994``. Same uneven ink texture as :func:`draw_stamp`.
    """
    height = int(height)
    if height < 12:
        raise ValueError(f"height: a box stamp needs at least 12 px, got {height}")
    if lines is None:
        month = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
        date = f"{month[int(rng.integers(12))]} {int(rng.integers(1, 29))} {int(rng.integers(1960, 2000))}"
        lines = (BOX_STAMP_WORDS[int(rng.integers(len(BOX_STAMP_WORDS)))], date)
    color = _pick_color(rng, STAMP_COLORS) if color is None else tuple(int(c) for c in color)  # type: ignore[assignment]
    scale = 2
    font_px = max(6, int(height * scale / (len(lines) * 1.5 + 0.6)))
    font = text_font(rng, font_px)
    widths = [font.getlength(line) if hasattr(font, "getlength") else font_px * len(line) for line in lines]
    pad = font_px * 0.5
    size = (int(max(widths) + 2 * pad), height * scale)
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    frame = max(2, int(font_px * rng.uniform(0.08, 0.16)))
    draw.rectangle(
        (frame // 2, frame // 2, size[0] - 1 - frame // 2, size[1] - 1 - frame // 2), outline=255, width=frame
    )
    step = (size[1] - 2 * frame) / len(lines)
    for i, (line, width) in enumerate(zip(lines, widths, strict=True)):
        draw.text(((size[0] - width) / 2, frame + step * (i + 0.5)), line, fill=255, font=font, anchor="lm")
    small = canvas.resize((max(4, size[0] // scale), height), Image.LANCZOS)
    coverage = np.asarray(small, dtype=np.float32) / 255.0
    alpha = _ink_texture(rng, coverage, strength=float(rng.uniform(0.75, 0.95)))
    return _colored_patch(rng, coverage.shape, color), alpha  # type: ignore[arg-type]


def draw_fingerprint(
    rng: np.random.Generator, size: int, color: tuple[int, int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """An inked fingerprint: ``(rgb uint8 (h, w, 3), alpha float32 (h, w))`` with ``h = size``, ``w ~ 0.7 h``.

    Ridges are the level lines of a warped elliptical distance field (a whorl), a cosine of it gives the
    ridge pattern; an elliptical envelope with a soft edge and the ink texture make it look pressed.
    """
    size = int(size)
    if size < 12:
        raise ValueError(f"size: a fingerprint needs at least 12 px, got {size}")
    h, w = size, max(8, int(size * rng.uniform(0.62, 0.75)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.42, 0.58), h * rng.uniform(0.4, 0.55)
    dx, dy = (xx - cx) / (w / 2), (yy - cy) / (h / 2)
    warp = (_smooth_field(rng, (h, w), sigma=size / 6) - 0.5) * rng.uniform(0.3, 0.7)
    dist = np.sqrt(dx**2 * rng.uniform(0.8, 1.2) + dy**2) + warp + 0.15 * dx * dy
    period = rng.uniform(0.07, 0.1)  # ridge spacing relative to the half-height
    ridges = 0.5 + 0.5 * np.cos(2 * np.pi * dist / period)
    envelope = np.clip((1.0 - np.sqrt(dx**2 + dy**2)) * 6.0, 0.0, 1.0)
    coverage = np.clip((ridges - 0.35) * 2.5, 0.0, 1.0) * envelope
    alpha = _ink_texture(rng, coverage, strength=float(rng.uniform(0.55, 0.9)))
    color = _pick_color(rng, FINGERPRINT_COLORS) if color is None else color
    return _colored_patch(rng, (h, w), color), alpha


def composite(page: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int) -> np.ndarray:
    """Multiply-blend a mark onto ``page`` (RGB uint8) at top-left ``(x, y)``, clipped to the page.

    Ink absorbs light, so a mark darkens by its colour (``page * (1 - a + a * rgb / 255)``): red ink on black
    text stays black, as on paper. Returns a new page; ``page`` is not modified.
    """
    out = page.copy()
    ph, pw = page.shape[:2]
    mh, mw = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + mw, pw), min(y + mh, ph)
    if x0 >= x1 or y0 >= y1:
        return out
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    tint = rgb[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255.0
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1.0 - a + a * tint) + 0.5, 0, 255).astype(np.uint8)
    return out
