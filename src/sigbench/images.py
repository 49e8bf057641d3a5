"""Image files in, arrays out: the one place that decides which files count as images and how they are read.

The command-line tools (``sigbench-detect``, ``-segment``, ``-clean``) and the page / mask readers all take
"an image or a folder of images"; reading them the same way means the same files are picked up everywhere
and an unreadable file is always reported by name, never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

#: File types OpenCV reads on every platform (lower case, with the dot).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".ppm", ".webp")


def find_images(
    path: str | os.PathLike,
    suffixes: Sequence[str] = IMAGE_SUFFIXES,
    recursive: bool = False,
    what: str = "input",
) -> list[Path]:
    """``path`` itself when it is a file of one of ``suffixes``, else the files of the folder, sorted.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` for a file of another type or a folder
    without any; ``what`` names the option in the message (``input``, ``gt``, ...).
    """
    path = Path(path)
    allowed = tuple(s.lower() for s in suffixes)
    if not path.exists():
        raise FileNotFoundError(f"{what}: {path} does not exist")
    if path.is_file():
        if path.suffix.lower() not in allowed:
            raise ValueError(f"{what}: {path} is not one of the supported types ({', '.join(allowed)})")
        return [path]
    candidates = path.rglob("*") if recursive else path.iterdir()
    files = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in allowed)
    if not files:
        where = "under" if recursive else "in"
        raise ValueError(f"{what}: no files of the supported types ({', '.join(allowed)}) {where} {path}")
    return files


def _read(path: str | os.PathLike, flag: int) -> np.ndarray:
    image = cv2.imread(str(path), flag)
    if image is None:
        raise ValueError(f"{path}: cannot read the image (missing, not an image, or an unsupported format)")
    return image


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as ``H x W x 3`` uint8 RGB (grey, RGBA and 16-bit files converted)."""
    return cv2.cvtColor(_read(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_grey(path: str | os.PathLike) -> np.ndarray:
    """An image file as ``H x W`` uint8 grey."""
    return _read(path, cv2.IMREAD_GRAYSCALE)
