"""Annotated pages for detection, read from any of the four layouts sigbench knows, as one record type.

* ``aossig`` -- the synthesised-document / AOSSig layout ``<root>/L?/data/<split>/<name>.jpg`` with quads in
  ``<root>/L?/anno_label/<split>/<name>.txt`` (the txt has no class column: every object is a signature);
* ``coco`` -- ``<root>/coco/<split>.json`` with ``file_name`` relative to ``<root>``, or one COCO file
  (``file_name`` relative to the file's folder);
* ``yolo`` -- ``<root>/yolo/<split>/<L?>_<name>.txt`` (images in the AOSSig layout) plus
  ``<root>/yolo/classes.txt``, or the Ultralytics layout ``images/<split>/x.jpg`` + ``labels/<split>/x.txt``;
* ``gedi`` -- Tobacco800-style GEDI XML files next to their images (``DL_PAGE src=...``), in
  ``<root>/<split>/`` or directly in ``<root>`` (then everything is ``training``).

Annotations become axis-aligned boxes (the bounds of their quads) with 0-based indices into ``classes``;
objects of other classes are dropped on purpose (an AOSSig run trains ``signature`` only on a 4-class set).
Page sizes are read from image headers, not pixels, so indexing thousands of pages is fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigbench.documents.formats import (
    LABELS,
    Annotation,
    FormatError,
    from_yolo_lines,
    read_coco,
    read_gedi_page,
)
from sigbench.documents.formats import read_quads as read_quad_file
from sigbench.images import IMAGE_SUFFIXES, ImageReadError
from sigbench.images import image_size as read_image_size

log = logging.getLogger(__name__)
FORMATS = ("aossig", "coco", "yolo", "gedi")
SPLITS = ("training", "test")


@dataclass(frozen=True)
class PageRecord:
    """One page: where its image is, its size, and its objects as ``(N, 4)`` xyxy boxes + 0-based labels."""

    image: Path
    name: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4))
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64).reshape(-1))
        if len(self.boxes) != len(self.labels):
            raise ValueError(f"{self.image}: {len(self.boxes)} boxes but {len(self.labels)} labels")


def image_size(path: Path) -> tuple[int, int]:
    """Upright ``(width, height)`` from the file header (:func:`sigbench.images.image_size`: EXIF orientation
    applied, as the pixels will be); a clear error naming an unreadable file."""
    try:
        return read_image_size(path)
    except ImageReadError as exc:
        raise FormatError(str(exc)) from None


def make_record(
    image: Path, annotations: Sequence[Annotation], classes: Sequence[str], name: str | None = None
) -> PageRecord:
    """A record from annotations, keeping only those whose label is in ``classes``."""
    kept = [a for a in annotations if a.label in classes]
    boxes = np.array([a.bounds() for a in kept], dtype=np.float32).reshape(-1, 4)
    labels = np.array([list(classes).index(a.label) for a in kept], dtype=np.int64)
    width, height = image_size(image)
    return PageRecord(image, name or image.stem, width, height, boxes, labels)


def _find_image(folder: Path, stem: str, where: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{where}: no image {folder / stem}{{{','.join(IMAGE_SUFFIXES)}}}")


def level_dirs(root: Path, levels: Sequence[str] | None) -> list[Path]:
    """The difficulty-level folders ``L1..L5`` to read: all that exist, or the chosen ones (which must)."""
    if levels is None:
        found = sorted(p for p in root.glob("L*") if p.is_dir() and (p / "data").is_dir())
        if not found:
            raise FileNotFoundError(f"{root}: no level folders L1..L5 with a data/ folder (AOSSig layout)")
        return found
    missing = [lv for lv in levels if not (root / lv / "data").is_dir()]
    if missing:
        raise FileNotFoundError(f"{root}: levels {missing} not found (expected {root}/<level>/data/)")
    return [root / lv for lv in levels]


def read_aossig(
    root: Path, split: str, classes: Sequence[str], levels: Sequence[str] | None = None
) -> list[PageRecord]:
    """AOSSig layout pages of one split; a page without a label file is an error (it would count as empty)."""
    records = []
    for level in level_dirs(root, levels):
        images = sorted(p for p in (level / "data" / split).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for image in images:
            label = level / "anno_label" / split / f"{image.stem}.txt"
            if not label.exists():
                raise FileNotFoundError(f"{image}: no label file {label}")
            records.append(make_record(image, read_quad_file(label), classes))
    return records


def read_coco_pages(path: Path, classes: Sequence[str], image_root: Path | None = None) -> list[PageRecord]:
    """Pages of a COCO file; ``file_name`` is relative to ``image_root`` (default: the file's folder)."""
    image_root = image_root or path.parent
    return [
        make_record(image_root / page.file_name, page.annotations, classes, Path(page.file_name).stem)
        for page in read_coco(path)
    ]


def read_yolo_classes(path: Path) -> list[str]:
    """``classes.txt``: one class name a line, line number = YOLO class index."""
    if not path.exists():
        raise FileNotFoundError(f"YOLO class list {path} does not exist")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _yolo_image(root: Path, label: Path, split: str) -> Path:
    """The image a YOLO label file describes: Ultralytics ``images/`` sibling, else the AOSSig layout."""
    ultralytics = label.parent.parent.parent / "images" / split
    if ultralytics.is_dir():
        return _find_image(ultralytics, label.stem, str(label))
    level, _, name = label.stem.partition("_")
    return _find_image(root / level / "data" / split, name, str(label))


def read_yolo(root: Path, split: str, classes: Sequence[str]) -> list[PageRecord]:
    """YOLO label files of one split (``<root>/yolo/<split>`` or ``<root>/labels/<split>``)."""
    folder = next((f for f in (root / "yolo" / split, root / "labels" / split) if f.is_dir()), None)
    if folder is None:
        raise FileNotFoundError(f"{root}: no yolo/{split} or labels/{split} folder")
    names = read_yolo_classes(folder.parent / "classes.txt")
    if len(names) > len(LABELS):
        raise FormatError(f"{folder.parent / 'classes.txt'}: more classes than sigbench knows ({LABELS})")
    records = []
    for label in sorted(folder.glob("*.txt")):
        image = _yolo_image(root, label, split)
        width, height = image_size(image)
        lines = label.read_text(encoding="utf-8").splitlines()
        # from_yolo_lines names class k after LABELS[k]; classes.txt says what k really is
        annotations = [
            Annotation(a.quad, label=names[LABELS.index(a.label)], score=a.score)
            for a in from_yolo_lines(lines, width, height, source=str(label))
        ]
        records.append(make_record(image, annotations, classes))
    return records


def read_gedi_folder(folder: Path, classes: Sequence[str]) -> list[PageRecord]:
    """Every ``*.xml`` of a folder with the image its ``DL_PAGE src`` names (or the XML's stem)."""
    records = []
    for xml in sorted(folder.glob("*.xml")):
        page = read_gedi_page(xml)
        source = folder / page.file_name
        image = source if source.is_file() else _find_image(folder, xml.stem, str(xml))
        records.append(make_record(image, page.annotations, classes, xml.stem))
    return records


def read_pages(
    source: str | os.PathLike,
    format: str,
    split: str,
    classes: Sequence[str],
    levels: Sequence[str] | None = None,
) -> list[PageRecord]:
    """Pages of ``split`` from ``source`` in ``format`` (see the module docstring for each layout)."""
    root = Path(source)
    if format not in FORMATS:
        raise ValueError(f"format {format!r}: expected one of {FORMATS}")
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {SPLITS}")
    if not root.exists():
        raise FileNotFoundError(f"detection data source {root} does not exist")
    if format == "aossig":
        return read_aossig(root, split, classes, levels)
    if format == "coco":
        if root.is_file():
            return read_coco_pages(root, classes) if split == "training" else []
        return read_coco_pages(root / "coco" / f"{split}.json", classes, image_root=root)
    if format == "yolo":
        return read_yolo(root, split, classes)
    folder = root / split
    if folder.is_dir():
        return read_gedi_folder(folder, classes)
    return read_gedi_folder(root, classes) if split == "training" else []
