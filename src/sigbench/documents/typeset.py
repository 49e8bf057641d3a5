"""Text faces for printed page content: a random font of a script at a size, Pillow's built-in one if none.

Which files count as text faces (no symbol / placeholder fonts) is decided once, in
:mod:`sigbench.documents.fonts`.
"""

from __future__ import annotations

import numpy as np
from PIL import ImageFont

from sigbench.documents.fonts import font_book

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def has_script(script: str) -> bool:
    """Whether at least one text font covers ``script`` (``"chinese"`` needs one installed)."""
    return len(font_book(script)) > 0


def text_font(rng: np.random.Generator, size: int, script: str = "latin") -> Font:
    """A random text font of ``script`` at ``size`` px; Pillow's built-in font when none is installed."""
    return font_book(script).random(rng, max(int(size), 6))
