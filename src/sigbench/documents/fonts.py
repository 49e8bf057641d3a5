"""Fonts for printed text on synthetic documents and clutter: found on the system, never downloaded.

Printed text is what a detector must learn *not* to call a signature, so the more typefaces the better; but
sigbench must also run on a bare machine. The search order is therefore:

1. folders named in the environment variable ``SIGBENCH_FONT_DIRS`` (``os.pathsep``-separated) -- the
   documented way to add fonts, e.g. a folder of Noto CJK files for Chinese documents;
2. the usual system folders (``/usr/share/fonts``, ``/usr/local/share/fonts``, ``~/.fonts``,
   ``~/.local/share/fonts``, ``/Library/Fonts``, ``C:\\Windows\\Fonts``);
3. the DejaVu files bundled with matplotlib (a dependency, so always present);
4. Pillow's built-in font (:func:`PIL.ImageFont.load_default`) if nothing else loads.

A font "covers" a script when its character map has every probe character of that script, so Chinese text
is drawn only with fonts that really have the glyphs (no tofu boxes in the training data).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import ImageFont

FONT_DIRS_ENV = "SIGBENCH_FONT_DIRS"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:\\Windows\\Fonts",
)
#: Characters a font must map to be used for a script.
SCRIPT_PROBES = {"latin": "AaQqZz09&", "chinese": "签名日期合同"}
#: Substrings (lower case) of font file names that are not text faces: a placeholder font whose character map
#: claims every code point but draws boxes (matplotlib ships one), and TeX math / symbol fonts (``cmex10``,
#: ``cmsy10``, ``cmmi10``, ``DejaVuMathTeXGyre``) that map letters to brackets and arrows. A page set in
#: them looks nothing like print, and they pass any character-map probe, so they are excluded by name.
NOT_TEXT_FONTS = ("lastresort", "cmex", "cmsy", "cmmi", "math", "symbol", "dingbat", "wingding")


def _matplotlib_font_dir() -> Path | None:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_dirs() -> list[Path]:
    """Folders searched for fonts, in priority order (see the module docstring); only existing ones."""
    extra = [p for p in os.environ.get(FONT_DIRS_ENV, "").split(os.pathsep) if p]
    bundled = _matplotlib_font_dir()
    candidates = [*extra, *SYSTEM_FONT_DIRS, *([str(bundled)] if bundled else [])]
    seen: list[Path] = []
    for text in candidates:
        path = Path(text).expanduser()
        if path.is_dir() and path not in seen:
            seen.append(path)
    for text in extra:
        if not Path(text).expanduser().is_dir():
            raise FileNotFoundError(f"{FONT_DIRS_ENV}: {text} is not a folder of font files")
    return seen


def _covers(path: Path, probe: str) -> bool:
    try:
        font = ImageFont.truetype(str(path), 16)
    except OSError:  # unreadable or not a font: not usable for any script
        return False
    try:
        from fontTools.ttLib import TTCollection, TTFont  # optional, exact cmap check when available

        fonts = TTCollection(str(path)).fonts if path.suffix.lower() == ".ttc" else [TTFont(str(path))]
        cmap = fonts[0].getBestCmap() or {}
        return all(ord(ch) in cmap for ch in probe)
    except Exception:
        # without fontTools: a missing glyph renders as the same .notdef box, so distinct masks mean glyphs
        masks = {bytes(font.getmask(ch)) for ch in probe}
        return len(masks) == len(set(probe))


@functools.cache
def _discover(dirs: tuple[Path, ...], script: str) -> tuple[Path, ...]:
    probe = SCRIPT_PROBES[script]
    found = sorted(
        {p for d in dirs for p in d.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file()}
    )
    usable = [p for p in found if not any(bad in p.name.lower() for bad in NOT_TEXT_FONTS)]
    return tuple(p for p in usable if _covers(p, probe))


def available_fonts(script: str = "latin") -> list[Path]:
    """Font files that cover ``script`` (``"latin"`` or ``"chinese"``), sorted by path; may be empty."""
    if script not in SCRIPT_PROBES:
        raise ValueError(f"script: expected one of {sorted(SCRIPT_PROBES)}, got {script!r}")
    return list(_discover(tuple(font_dirs()), script))


class FontBook:
    """Loads fonts by (file, size) once, and draws random choices from a fixed, sorted list.

    Sorting the list and drawing with a caller's generator makes the choice of typeface reproducible for a
    given seed on a given machine; a machine with other fonts produces other (equally valid) pages.
    """

    def __init__(self, script: str = "latin", paths: Sequence[str | os.PathLike] | None = None) -> None:
        self.script = script
        self.paths = [Path(p) for p in paths] if paths is not None else available_fonts(script)
        for path in self.paths:
            if not path.is_file():
                raise FileNotFoundError(f"font file {path} does not exist")
        self._cache: dict[tuple[Path | None, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        """The font at ``path`` and pixel ``size``; ``None`` means Pillow's built-in font."""
        key = (path, int(size))
        if key not in self._cache:
            self._cache[key] = (
                ImageFont.truetype(str(path), int(size)) if path is not None else ImageFont.load_default(size)
            )
        return self._cache[key]

    def random(self, rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        """A random typeface of this script at ``size`` pixels (Pillow's built-in one when none is found)."""
        path = self.paths[int(rng.integers(len(self.paths)))] if self.paths else None
        return self.load(path, size)


@functools.cache
def font_book(script: str = "latin") -> FontBook:
    """One shared :class:`FontBook` per script and process (font discovery reads every font file once)."""
    return FontBook(script)
