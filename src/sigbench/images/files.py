"""Which files count as images, in which order, and which never count as a run's inputs.

The command-line tools (``sigbench-detect``, ``-segment``, ``-clean``), the dataset adapters and the page /
mask readers all take "an image or a folder of images"; listing them the same way means the same files are
picked up everywhere. A tool's own output folder is never listed as input, so a second run over the same
folder does not process the first run's results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: File types every sigbench reader decodes (lower case, with the dot).
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".gif",
    ".pgm",
    ".pbm",
    ".ppm",
    ".webp",
)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def find_images(
    path: str | os.PathLike,
    suffixes: Sequence[str] = IMAGE_SUFFIXES,
    recursive: bool = False,
    what: str = "input",
    exclude: str | os.PathLike | None = None,
) -> list[Path]:
    """``path`` itself when it is a file of one of ``suffixes``, else the files of the folder, sorted.

    Files inside ``exclude`` (a run's output folder) are left out of a folder listing. Raises
    ``FileNotFoundError`` for a missing path and ``ValueError`` for a file of another type or a folder
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
    if exclude is not None:
        skip = Path(exclude).resolve()
        files = [p for p in files if not _inside(p.resolve(), skip)]
    if not files:
        where = "under" if recursive else "in"
        raise ValueError(f"{what}: no files of the supported types ({', '.join(allowed)}) {where} {path}")
    return files


def check_output_folder(source: str | os.PathLike, output: str | os.PathLike, tool: str) -> None:
    """Refuse an output folder that is the input folder: results would mix with (or overwrite) the inputs
    and be read back as inputs by the next run. An output folder *inside* the input folder is fine: its
    files are excluded from the listing (:func:`find_images` ``exclude``)."""
    source, output = Path(source), Path(output)
    if source.is_dir() and output.resolve() == source.resolve():
        raise ValueError(
            f"output: {output} is the input folder; {tool} would mix its results with the inputs and read "
            "them back as inputs on the next run: write them elsewhere (a subfolder is fine)"
        )
