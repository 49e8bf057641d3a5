"""Ground truth for scoring ``sigbench-detect`` output, read from whatever format the pages come with.

Real page collections rarely arrive as AOSSig label txt: Tobacco800 ships GEDI XML, annotation tools export
COCO JSON or YOLO txt. :func:`read_ground_truth` reads any of them into ``{page stem: [Annotation]}`` so the
same metric (:func:`sigbench.detection.evaluate.evaluate_pages`) scores every one; ``format="auto"`` tells
them apart by what is on disk:

* a ``.json`` file -- COCO (pages keyed by the stem of ``file_name``);
* a folder of ``*.xml`` -- GEDI (keyed by the XML's stem, which Tobacco800 shares with its image);
* a folder of ``*.txt`` with a ``classes.txt`` (here or one folder up), or whose lines are space-separated
  ``class cx cy w h`` -- YOLO (keyed by the txt's stem; normalised boxes need the page sizes, which the
  caller passes, e.g. from ``sigbench-detect``'s per-page json);
* any other folder of ``*.txt`` -- AOSSig quads.

Ground truth keeps only ``signature``-class objects unless ``classes`` says otherwise: the detectors and the
AOSSig metric are class-agnostic, and a SignVer COCO file also holds dates and initials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from sigbench.detection.pages import read_yolo_classes
from sigbench.documents.formats import (
    LABELS,
    Annotation,
    FormatError,
    from_yolo_lines,
    read_coco,
    read_gedi_page,
    read_quads,
)

GT_FORMATS = ("auto", "aossig", "gedi", "coco", "yolo")


def _yolo_classes(folder: Path) -> list[str] | None:
    """Class names of a YOLO folder (``classes.txt`` beside the labels or one level up), if there is one."""
    for candidate in (folder / "classes.txt", folder.parent / "classes.txt"):
        if candidate.is_file():
            return read_yolo_classes(candidate)
    return None


def _looks_like_yolo(labels: Sequence[Path]) -> bool:
    """True when the first non-empty label line has 5-6 space-separated fields and no comma."""
    for path in labels:
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            if line.strip():
                return "," not in line and len(line.split()) in (5, 6)
    return False


def detect_format(source: Path) -> str:
    """The ground-truth format of ``source`` (see the module docstring); a clear error when none fits."""
    if source.is_file():
        if source.suffix.lower() == ".json":
            return "coco"
        raise FormatError(f"gt: {source} is a file but not a COCO .json (expected a .json or a folder)")
    if not source.is_dir():
        raise FileNotFoundError(f"gt: {source} does not exist")
    labels = sorted(p for p in source.glob("*.txt") if p.name != "classes.txt")
    if any(source.glob("*.xml")):
        if labels:
            raise FormatError(f"gt: {source} holds both .xml and .txt files; pass gt_format= to choose")
        return "gedi"
    if not labels:
        raise FormatError(f"gt: {source} has no .xml (GEDI) or .txt (AOSSig / YOLO) label files")
    if _yolo_classes(source) is not None or _looks_like_yolo(labels):
        return "yolo"
    return "aossig"


def _read_yolo_folder(
    folder: Path, sizes: Mapping[str, tuple[int, int]] | None
) -> dict[str, list[Annotation]]:
    names = _yolo_classes(folder) or list(LABELS)
    out = {}
    for label in sorted(p for p in folder.glob("*.txt") if p.name != "classes.txt"):
        if sizes is None or label.stem not in sizes:
            raise FormatError(f"{label}: YOLO boxes are relative to the page, but its size is unknown")
        width, height = sizes[label.stem]
        lines = label.read_text(encoding="utf-8-sig").splitlines()
        found = from_yolo_lines(lines, width, height, source=str(label))
        for a in found:
            if LABELS.index(a.label) >= len(names):
                raise FormatError(f"{label}: class {LABELS.index(a.label)} is not in {folder}'s classes.txt")
        # from_yolo_lines names class k after LABELS[k]; classes.txt says what k really is
        out[label.stem] = [
            Annotation(a.quad, label=names[LABELS.index(a.label)], score=a.score, name=a.name) for a in found
        ]
    return out


def read_ground_truth(
    source: str | os.PathLike,
    format: str = "auto",
    classes: Sequence[str] = ("signature",),
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, list[Annotation]]:
    """``{page stem: annotations of ``classes``}`` from ``source`` in ``format`` (``auto``: detected).

    ``sizes`` maps page stems to ``(width, height)``; only YOLO needs it.
    """
    source = Path(source)
    if format not in GT_FORMATS:
        raise ValueError(f"gt_format {format!r}: expected one of {GT_FORMATS}")
    if not source.exists():
        raise FileNotFoundError(f"gt: {source} does not exist")
    format = detect_format(source) if format == "auto" else format
    if format == "coco":
        pages = {Path(p.file_name).stem: p.annotations for p in read_coco(source)}
    elif format == "gedi":
        pages = {xml.stem: read_gedi_page(xml).annotations for xml in sorted(source.glob("*.xml"))}
    elif format == "yolo":
        pages = _read_yolo_folder(source, sizes)
    else:
        pages = {txt.stem: read_quads(txt) for txt in sorted(source.glob("*.txt"))}
    if not pages:
        raise FormatError(f"gt: no pages in {source} (read as {format})")
    return {stem: [a for a in found if a.label in classes] for stem, found in pages.items()}
