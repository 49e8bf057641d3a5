"""Tobacco800 signatures cut from their document pages (Lewis et al. 2006; boxes and authors by Zhu and
Doermann, UMD), as in ``../shared/data/tobacco800_dev``.

Layout: ``pages/<id>.tif`` (bilevel Group-4 business documents, 150-300 dpi) and ``signature_boxes.csv``
with the columns ``page, page_w, page_h, x, y, w, h, author`` (``tobacco800_name`` too, not needed): one
row per signature, the box in page pixels; a page without a signature has one row with an empty box. Each
signature becomes one genuine record of the writer ``author`` (the GEDI ``AuthorID``, e.g. ``Idle, J.R.``,
kept as the writer's name in the prepared set's ``user_mapping``; writers are numbered 0.. in natural
order of these names). The record's ``box`` makes :mod:`sigbench.data.prepare` read the page with
:func:`sigbench.images.read_grey` (8-bit, dark ink on white, as every set) and cut the box out; its name in
``filenames`` is ``pages/<id>.tif#x,y,w,h``. There are no forgeries.

What is left out, and reported rather than dropped silently:

* signatures whose ``author`` is empty (18 of the 135 in tobacco800_dev): an unknown writer cannot be put
  in a genuine or an impostor pair, and pooling them as one writer "" would make 153 false genuine pairs.
  They are listed as unmatched (with their CSV line), like unlabelled manifest rows; ``strict=True`` makes
  them an error. tobacco800_dev therefore gives 117 signatures of 54 writers (37 with two or more).
* images under the folder that the CSV does not name (unmatched too); rows of unsigned pages (ignored).

Errors name the CSV line and what was expected: a missing column, an empty page, a box that is not four
integers, not positive or not inside the page size the row states, a page file that does not exist. A box
outside the *decoded* page (the CSV's size is wrong) fails when the set is prepared, naming the file.

The crops are the annotated boxes as they are: some overlap printed text or a stamp (GEDI's
``Overlapped``), which then stays in the image. Pages come at 150 to 300 dpi, so one writer's signatures
can differ in scale by two. The canvas 760 x 1080 (the 170 x 242 aspect) holds the largest box (1041 x
556 px). Tobacco800 pages are where detectors are measured (docs/detection_real.md): this set is for
*evaluating* verification on real document signatures, not for training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from sigbench.data.datasets.base import (
    Box,
    DatasetAdapter,
    ScanResult,
    SignatureRecord,
    csv_rows,
    list_files,
    register,
)

DEFAULT_NAME = "signature_boxes.csv"
REQUIRED_COLUMNS = ("page", "page_w", "page_h", "x", "y", "w", "h", "author")
BOX_COLUMNS = ("x", "y", "w", "h")


class Tobacco800FormatError(ValueError):
    """A row of the box list that cannot be read; the message names the CSV, the line and what it expected."""


@register
class Tobacco800Adapter(DatasetAdapter):
    """Args: ``path`` the dataset folder (holding ``signature_boxes.csv`` and ``pages/``) or the CSV itself;
    page paths in the CSV are relative to the CSV's folder."""

    name = "tobacco800"
    default_canvas = (760, 1080)

    def __init__(self, path: str | Path, canvas_size: Sequence[int] | None = None, strict: bool = False):
        super().__init__(path, canvas_size=canvas_size, strict=strict)
        self.csv_path = self.path / DEFAULT_NAME if self.path.is_dir() else self.path

    @property
    def root(self) -> Path:
        return self.csv_path.parent

    def collect(self) -> ScanResult:
        if not self.csv_path.is_file():
            raise FileNotFoundError(
                f"Tobacco800Adapter: box list {self.csv_path} does not exist (expected {DEFAULT_NAME} with "
                f"columns {', '.join(REQUIRED_COLUMNS)} in the dataset folder)"
            )
        result = ScanResult(records=[])
        listed: set[str] = set()
        for line, fields in csv_rows(self.csv_path, REQUIRED_COLUMNS, Tobacco800FormatError):
            where = f"{self.csv_path} line {line}"
            if not fields["page"]:
                raise Tobacco800FormatError(f"{where}: empty 'page'; expected a page file (pages/x.tif)")
            page = self.root / fields["page"]
            listed.add(page.resolve().as_posix())
            if not any(fields[c] for c in BOX_COLUMNS):
                result.ignored.append(f"{fields['page']} (line {line}: no signature on the page)")
                continue
            box = self._box(fields, where)
            if not page.is_file():
                raise FileNotFoundError(f"{where}: page {page} does not exist")
            if not fields["author"]:
                result.unmatched.append(
                    f"{fields['page']}#{box} (line {line}: no author; an unknown writer makes no pair)"
                )
                continue
            result.records.append(SignatureRecord(page, fields["author"], 0, None, box))
        if self.root.is_dir():
            images, _ = list_files(self.root)
            for image in images:
                if image.resolve().as_posix() not in listed:
                    result.unmatched.append(f"{self.relative_name(image)} (not in {self.csv_path.name})")
        return result

    @staticmethod
    def _box(fields: dict[str, str], where: str) -> Box:
        """The row's box, checked against the page size the row states."""
        values = {}
        for key in (*BOX_COLUMNS, "page_w", "page_h"):
            text = fields[key]
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number != int(number):
                raise Tobacco800FormatError(
                    f"{where} ({fields['page']}): {key}={text!r}; expected an integer number of pixels "
                    "(a page without a signature leaves x, y, w and h all empty)"
                )
            values[key] = int(number)
        x, y, w, h, page_w, page_h = (values[k] for k in (*BOX_COLUMNS, "page_w", "page_h"))
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > page_w or y + h > page_h:
            raise Tobacco800FormatError(
                f"{where} ({fields['page']}): box x={x}, y={y}, w={w}, h={h} is not inside the page "
                f"({page_w} x {page_h} px); expected w, h > 0, 0 <= x, x + w <= page_w, 0 <= y, "
                "y + h <= page_h"
            )
        return Box(x, y, w, h)
