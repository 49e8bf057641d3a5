"""The inputs of a folder run, checked before any output is written, and the files ``skip_bad`` left out.

A run over a folder either fails at once naming every file it cannot read (so nothing is half done) or,
with ``skip_bad``, leaves those files out and says so: in the log, in the run's summary and in
``<output>/skipped.json``. Each file is opened as the run will open it (header, page sizes against
``max_pixels``, every image page decoded), so a file that passes here reads later.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sigbench.atomic import atomic_write_text
from sigbench.images.decode import DEFAULT_MAX_PIXELS, ImageReadError, check_max_pixels
from sigbench.images.files import IMAGE_SUFFIXES, check_output_folder, find_images
from sigbench.images.pages import DEFAULT_DPI, PDF_SUFFIX, check_file, page_stem

log = logging.getLogger(__name__)
SKIPPED_FILE = "skipped.json"
_LISTED = 20  # files quoted in an error message; all of them go to the log


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


class BadInputsError(ValueError):
    """Some inputs cannot be read; the message names them (the run wrote nothing)."""

    def __init__(self, bad: Sequence[SkippedFile]):
        self.bad = list(bad)
        lines = "\n".join(f"  {b.path}: {b.reason}" for b in self.bad[:_LISTED])
        more = f"\n  ... and {len(self.bad) - _LISTED} more" if len(self.bad) > _LISTED else ""
        super().__init__(
            f"{len(self.bad)} input file(s) cannot be read; nothing was written (pass skip_bad=true to leave "
            f"them out and list them in <output>/{SKIPPED_FILE}):\n{lines}{more}"
        )


@dataclass
class CheckedInputs:
    """The files a run will read, their page counts, and the files left out (with ``skip_bad``)."""

    files: list[Path]
    pages: list[int]
    skipped: list[SkippedFile]

    def stems(self) -> list[str]:
        return [page_stem(f, i, n) for f, n in zip(self.files, self.pages, strict=True) for i in range(n)]


def check_inputs(
    files: Sequence[Path],
    skip_bad: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    dpi: float = DEFAULT_DPI,
    multi_page: bool = True,
) -> CheckedInputs:
    """Open every file as the run will; fail naming all unreadable ones, or leave them out with ``skip_bad``.

    ``multi_page=False`` is for tools that take one image per file: a file of several pages is then bad.
    """
    good: list[Path] = []
    pages: list[int] = []
    bad: list[SkippedFile] = []
    for path in files:
        try:
            count = check_file(path, dpi, max_pixels)
            if count == 0:
                raise ImageReadError(f"{path}: has no pages")
            if count > 1 and not multi_page:
                raise ImageReadError(
                    f"{path}: has {count} pages and this tool takes one image per file; split the pages"
                )
        except (ImageReadError, OSError, RuntimeError) as err:
            bad.append(SkippedFile(str(path), str(err).removeprefix(f"{path}: ")))
            continue
        good.append(Path(path))
        pages.append(count)
    if bad and not skip_bad:
        raise BadInputsError(bad)
    for item in bad:
        log.warning("skip_bad: leaving out %s: %s", item.path, item.reason)
    if not good:
        raise BadInputsError(bad) if bad else ValueError("no input files")
    return CheckedInputs(good, pages, bad)


def gather_inputs(
    source: str | os.PathLike,
    output: str | os.PathLike | None,
    tool: str,
    skip_bad: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    dpi: float = DEFAULT_DPI,
    pages: bool = True,
    recursive: bool = False,
) -> CheckedInputs:
    """The files a folder tool reads from ``source``, all checked before it writes anything to ``output``.

    ``output`` may not be the input folder and is never listed as input (the run's own results would be
    read back by the next run); every file is opened and decoded once (:func:`check_inputs`); for a page
    tool (``pages``: images, multi-page TIFFs and PDFs) pages that would write the same outputs are refused.
    A tool of one image per file (``pages=False``) lists no PDFs and refuses multi-page files.
    """
    if output is not None:
        check_output_folder(source, output, tool)
    max_pixels = check_max_pixels(max_pixels)
    suffixes = (*IMAGE_SUFFIXES, PDF_SUFFIX) if pages else IMAGE_SUFFIXES
    files = find_images(source, suffixes, recursive=recursive, exclude=output)
    checked = check_inputs(files, skip_bad, max_pixels, dpi, multi_page=pages)
    if pages:
        stems = checked.stems()
        clashes = sorted({s for s in stems if stems.count(s) > 1})
        if clashes:
            raise ValueError(
                f"input: several pages would write the same outputs {clashes[:5]}; rename the files"
            )
    return checked


def write_skipped(out_dir: str | os.PathLike, skipped: Sequence[SkippedFile]) -> Path | None:
    """``<out_dir>/skipped.json`` listing ``skipped``; a stale list from an earlier run is removed."""
    path = Path(out_dir) / SKIPPED_FILE
    if not skipped:
        path.unlink(missing_ok=True)
        return None
    record = {"count": len(skipped), "files": [asdict(s) for s in skipped]}
    return atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def skipped_note(skipped: Sequence[SkippedFile], out_dir: str | os.PathLike) -> dict[str, str]:
    """The line a run's printed summary gets when files were left out."""
    if not skipped:
        return {}
    names = ", ".join(Path(s.path).name for s in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
    return {"skipped (unreadable)": f"{len(skipped)}: {names} (see {Path(out_dir) / SKIPPED_FILE})"}
