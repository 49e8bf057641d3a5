"""Pages of image files and PDFs, one at a time, the same way for every tool that reads pages.

A file is a list of pages: an ordinary image has one, a multi-page TIFF one per directory, a PDF one per
page rasterised at ``dpi`` with pypdfium2. Pages are yielded one by one (a 300-page PDF is never held in
memory), each as upright RGB uint8 decoded by :mod:`sigbench.images.decode`, with its size checked before it
is decoded or rendered. Outputs are named by :func:`page_stem`: ``<file stem>`` for a one-page image,
``<file stem>_p001``, ``_p002`` ... for every page of a PDF or of a multi-page image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sigbench.extras import MissingExtraError, require
from sigbench.images.decode import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    as_rgb,
    check_pixels,
    decode_page,
    frame_count,
    open_image,
)

PDF_SUFFIX = ".pdf"
DEFAULT_DPI = 200


def is_pdf(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == PDF_SUFFIX


def page_stem(path: str | os.PathLike, index: int, count: int) -> str:
    """The name a page's outputs share: the file stem, plus ``_p<page>`` for PDFs and multi-page files."""
    stem = Path(path).stem
    return f"{stem}_p{index + 1:03d}" if is_pdf(path) or count > 1 else stem


def _open_pdf(path: Path) -> Any:
    try:
        pdfium = require("pypdfium2", "documents", "reading PDFs")
    except MissingExtraError as err:
        raise RuntimeError(f"{path}: {err}") from None
    try:
        return pdfium.PdfDocument(str(path))
    except Exception as exc:  # pypdfium2 raises PdfiumError, a RuntimeError subclass, with a terse message
        raise ImageReadError(f"{path}: not a readable PDF ({exc})") from None


def _pdf_page_size(path: Path, page: Any, index: int, dpi: float, max_pixels: int | None) -> None:
    """Check the raster size of a PDF page at ``dpi`` before it is rendered."""
    width, height = (math.ceil(v * dpi / 72.0) for v in page.get_size())
    try:
        check_pixels(path, width, height, max_pixels)
    except ImageReadError as err:
        raise type(err)(f"{err} (page {index + 1} at {dpi:g} dpi; a lower dpi renders it smaller)") from None


def pdf_pages(
    path: Path, dpi: float = DEFAULT_DPI, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Iterator[np.ndarray]:
    """RGB uint8 pages of a PDF rendered at ``dpi`` on white."""
    document = _open_pdf(path)
    try:
        for index in range(len(document)):
            page = document[index]
            _pdf_page_size(path, page, index, dpi, max_pixels)
            bitmap = page.render(scale=dpi / 72.0)
            yield np.asarray(bitmap.to_pil().convert("RGB"))
    finally:
        document.close()


def file_pages(
    path: str | os.PathLike, dpi: float = DEFAULT_DPI, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(index, page count, RGB page)`` for every page of an image file or PDF, in order."""
    path = Path(path)
    if is_pdf(path):
        document = _open_pdf(path)
        count = len(document)
        document.close()
        for index, page in enumerate(pdf_pages(path, dpi, max_pixels)):
            yield index, count, page
        return
    with open_image(path, max_pixels) as image:
        count = frame_count(image)
        for index in range(count):
            yield index, count, as_rgb(decode_page(path, image, index, max_pixels))


def check_file(
    path: str | os.PathLike,
    dpi: float = DEFAULT_DPI,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    decode: bool = True,
) -> int:
    """Check that a file reads as reading it later will, keeping no pixels; returns its page count.

    Headers and every page's size are always checked; ``decode`` also decodes every image page (truncated
    or corrupt data is found now, not after other files' outputs are written). PDF pages are not rendered
    here: a PDF that parses renders.
    """
    path = Path(path)
    if is_pdf(path):
        document = _open_pdf(path)
        try:
            for index in range(len(document)):
                _pdf_page_size(path, document[index], index, dpi, max_pixels)
            return len(document)
        finally:
            document.close()
    with open_image(path, max_pixels) as image:
        count = frame_count(image)
        for index in range(count):
            if decode:
                decode_page(path, image, index, max_pixels)
            else:
                image.seek(index)
                check_pixels(path, *image.size, max_pixels)
        return count


def iter_pages(
    files: Sequence[Path], dpi: float = DEFAULT_DPI, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Iterator[tuple[str, str, np.ndarray]]:
    """``(stem, source, RGB page)`` for every page of ``files``; stems must be unique (they name outputs)."""
    seen: dict[str, Path] = {}
    for path in files:
        for index, count, page in file_pages(path, dpi, max_pixels):
            stem = page_stem(path, index, count)
            if stem in seen:
                raise ValueError(
                    f"{path} and {seen[stem]} would write the same outputs ({stem}.*); rename one"
                )
            seen[stem] = Path(path)
            yield stem, str(path), page
