"""Annotation formats for signatures located on document pages (issue 8).

One in-memory type, :class:`Annotation` (a quadrilateral plus a class label), and converters to and from the
formats the detection literature and tooling use:

* AOSSig label txt -- ``x1,y1,...,x4,y4[,score][,name,slot-label]`` one object a line (protocols.md sec. 9);
* COCO JSON -- for MMDetection / Detectron-style trainers and for ``pycocotools`` evaluation;
* YOLO txt -- ``class cx cy w h`` normalised by the page size, for Ultralytics-style trainers;
* Tobacco800 GEDI XML -- read only, the source annotations of the Tobacco800 signature subset.

Everything is plain Python + NumPy so that data preparation never has to import torch. Parsers fail loudly
with the file and line at fault: a silently skipped line would quietly lower recall in every evaluation.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sigbench.atomic import atomic_write_text

#: The detection classes of SignVer (protocols.md sec. 10); AOSSig uses only ``signature``.
LABELS: tuple[str, ...] = ("signature", "initials", "redaction", "date")
#: Labels an :class:`Annotation` may carry but the exporters reject (Tobacco800 logo zones, on request).
EXTRA_LABELS: tuple[str, ...] = ("logo",)

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]


class FormatError(ValueError):
    """A malformed annotation file; the message names the file (and the line where there is one)."""


@dataclass(frozen=True)
class Annotation:
    """One object on a page: a quadrilateral, its class and optional score / synthesis provenance.

    ``quad`` holds four ``(x, y)`` points in pixels, clockwise from the top-left corner (image coordinates,
    y pointing down). A quad rather than a box because AOSSig labels and detectors such as PSENet produce
    rotated regions; axis-aligned formats (COCO ``bbox``, YOLO) use :meth:`bounds`.

    ``score`` is ``None`` for ground truth; predictions without one count as 1.0 (:attr:`confidence`).
    ``name`` / ``slot_label`` record which signature was pasted into which template slot by the synthesiser.
    """

    quad: Quad
    label: str = "signature"
    score: float | None = None
    name: str | None = None
    slot_label: str | None = None

    def __post_init__(self) -> None:
        points = tuple((float(x), float(y)) for x, y in self.quad)
        if len(points) != 4:
            raise ValueError(f"a quad needs 4 points, got {len(points)}")
        if not all(math.isfinite(v) for p in points for v in p):
            raise ValueError(f"quad coordinates must be finite, got {points}")
        if self.label not in LABELS + EXTRA_LABELS:
            raise ValueError(f"unknown label {self.label!r}; expected one of {LABELS + EXTRA_LABELS}")
        object.__setattr__(self, "quad", points)
        if self.score is not None:
            object.__setattr__(self, "score", float(self.score))

    @classmethod
    def from_box(cls, x0: float, y0: float, x1: float, y1: float, **kwargs: Any) -> Annotation:
        """Axis-aligned box ``[x0, x1] x [y0, y1]`` as a clockwise quad from its top-left corner."""
        left, right = sorted((float(x0), float(x1)))
        top, bottom = sorted((float(y0), float(y1)))
        return cls(((left, top), (right, top), (right, bottom), (left, bottom)), **kwargs)

    @property
    def confidence(self) -> float:
        """The score used for thresholding: a prediction file may omit it, which means certain (1.0)."""
        return 1.0 if self.score is None else self.score

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounds ``(xmin, ymin, xmax, ymax)`` of the quad."""
        xs = [p[0] for p in self.quad]
        ys = [p[1] for p in self.quad]
        return min(xs), min(ys), max(xs), max(ys)

    def as_array(self) -> np.ndarray:
        """The quad as a ``(4, 2)`` float64 array."""
        return np.asarray(self.quad, dtype=np.float64)

    def area(self) -> float:
        """Polygon area (shoelace formula), as COCO's ``area`` expects."""
        pts = self.as_array()
        x, y = pts[:, 0], pts[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


@dataclass
class Page:
    """A page image and its annotations: the unit COCO export and import work on."""

    file_name: str
    width: int
    height: int
    annotations: list[Annotation] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- helpers


def _fmt(value: float) -> str:
    """Shortest text that reads back to the same float; integers without a trailing ``.0``."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _number(text: str, where: str, what: str) -> float:
    """Parse one finite number, or raise :class:`FormatError` naming ``where`` (file and line)."""
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"{where}: {what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise FormatError(f"{where}: {what} {text.strip()!r} is not finite")
    return value


def _read_lines(path: Path) -> list[str]:
    """Lines of a text file; ``utf-8-sig`` because some annotation tools write a BOM."""
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text ({exc})") from None


# --------------------------------------------------------------------------------------------- AOSSig txt


def parse_quad_line(line: str, where: str, label: str = "signature") -> Annotation:
    """One AOSSig line: 8 coordinates, then optionally a score, then optionally ``name,slot-label``.

    The field count disambiguates: 8 (quad), 9 (quad + score), 10 (quad + name + slot), 11 (all of them).
    """
    fields = [f.strip() for f in line.split(",")]
    if len(fields) not in (8, 9, 10, 11):
        raise FormatError(
            f"{where}: expected 8 coordinates [+ score] [+ name,slot-label] (8-11 values), got {len(fields)}"
        )
    coords = [_number(f, where, f"coordinate {i + 1}") for i, f in enumerate(fields[:8])]
    quad = tuple(zip(coords[0::2], coords[1::2], strict=True))
    rest = fields[8:]
    score = _number(rest.pop(0), where, "score") if len(rest) in (1, 3) else None
    name, slot = (rest[0], rest[1]) if rest else (None, None)
    return Annotation(quad, label=label, score=score, name=name, slot_label=slot)  # type: ignore[arg-type]


def format_quad_line(annotation: Annotation) -> str:
    """The AOSSig line for ``annotation`` (the label is not stored: the txt format has no class column)."""
    fields = [_fmt(v) for point in annotation.quad for v in point]
    if annotation.score is not None:
        fields.append(_fmt(annotation.score))
    if annotation.name is not None or annotation.slot_label is not None:
        extras = [annotation.name or "", annotation.slot_label or ""]
        for text in extras:
            if "," in text or "\n" in text:
                raise ValueError(f"name/slot-label {text!r} cannot contain a comma or newline")
        fields.extend(extras)
    return ",".join(fields)


def read_quads(path: str | os.PathLike, label: str = "signature") -> list[Annotation]:
    """Read an AOSSig label (or prediction) txt; blank lines are skipped, anything else malformed raises."""
    path = Path(path)
    annotations = []
    for number, line in enumerate(_read_lines(path), start=1):
        if line.strip():
            annotations.append(parse_quad_line(line, f"{path}:{number}", label=label))
    return annotations


def write_quads(path: str | os.PathLike, annotations: Iterable[Annotation]) -> Path:
    """Write an AOSSig txt atomically (an empty list gives an empty file: a page with no objects)."""
    lines = [format_quad_line(a) + "\n" for a in annotations]
    return atomic_write_text(path, "".join(lines))


# --------------------------------------------------------------------------------------------- COCO JSON


def _category_id(label: str) -> int:
    """COCO category ids are 1-based indices into :data:`LABELS` (0 is conventionally background)."""
    if label not in LABELS:
        raise ValueError(f"label {label!r} has no COCO/YOLO class; exportable labels are {LABELS}")
    return LABELS.index(label) + 1


def _coco_annotation(annotation: Annotation, ann_id: int, image_id: int) -> dict[str, Any]:
    """One COCO annotation: bbox from the quad's bounds, the quad itself as a one-polygon segmentation."""
    x0, y0, x1, y1 = annotation.bounds()
    record: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": _category_id(annotation.label),
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "segmentation": [[v for point in annotation.quad for v in point]],
        "area": annotation.area(),
        "iscrowd": 0,
    }
    if annotation.score is not None:
        record["score"] = annotation.score
    if annotation.name is not None:
        record["name"] = annotation.name
    if annotation.slot_label is not None:
        record["slot_label"] = annotation.slot_label
    return record


def to_coco(pages: Sequence[Page]) -> dict[str, Any]:
    """A COCO detection document for ``pages``; image and annotation ids are 1-based and in order."""
    images, annotations = [], []
    for image_id, page in enumerate(pages, start=1):
        size = {"width": page.width, "height": page.height}
        images.append({"id": image_id, "file_name": page.file_name, **size})
        for annotation in page.annotations:
            annotations.append(_coco_annotation(annotation, len(annotations) + 1, image_id))
    categories = [{"id": i, "name": name, "supercategory": "handwriting"} for i, name in enumerate(LABELS, 1)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _quad_from_coco(record: dict[str, Any], where: str) -> Quad:
    """The quad of a COCO annotation: its segmentation when that is one 4-point polygon, else its bbox."""
    segmentation = record.get("segmentation")
    if isinstance(segmentation, list) and len(segmentation) == 1 and len(segmentation[0]) == 8:
        coords = [_number(str(v), where, "segmentation value") for v in segmentation[0]]
        return tuple(zip(coords[0::2], coords[1::2], strict=True))  # type: ignore[return-value]
    bbox = record.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise FormatError(f"{where}: needs a 4-point segmentation or a [x, y, w, h] bbox")
    x, y, w, h = (_number(str(v), where, "bbox value") for v in bbox)
    return Annotation.from_box(x, y, x + w, y + h).quad


def from_coco(doc: dict[str, Any], source: str = "<coco>") -> list[Page]:
    """Pages from a COCO document, in ``images`` order; categories are matched to labels by name."""
    try:
        labels = {c["id"]: c["name"] for c in doc["categories"]}
        pages = {im["id"]: Page(im["file_name"], int(im["width"]), int(im["height"])) for im in doc["images"]}
        records = doc["annotations"]
    except (KeyError, TypeError) as exc:
        raise FormatError(f"{source}: not a COCO detection document (missing {exc})") from None
    for index, record in enumerate(records):
        where = f"{source}: annotations[{index}]"
        try:
            page, label = pages[record["image_id"]], labels[record["category_id"]]
        except KeyError as exc:
            raise FormatError(f"{where}: unknown or missing {exc}") from None
        if label not in LABELS:
            raise FormatError(f"{where}: category {label!r} is not one of {LABELS}")
        quad = _quad_from_coco(record, where)
        page.annotations.append(
            Annotation(quad, label, record.get("score"), record.get("name"), record.get("slot_label"))
        )
    return list(pages.values())


def write_coco(path: str | os.PathLike, pages: Sequence[Page]) -> Path:
    """Write :func:`to_coco` of ``pages`` as JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_coco(pages), indent=1) + "\n")


def read_coco(path: str | os.PathLike) -> list[Page]:
    """Read a COCO JSON file into pages; malformed JSON raises :class:`FormatError` naming the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    return from_coco(doc, source=str(path))


# --------------------------------------------------------------------------------------------- YOLO txt


def to_yolo_lines(annotations: Iterable[Annotation], width: int, height: int) -> list[str]:
    """``class cx cy w h [score]`` lines normalised by the page size (YOLO keeps only axis-aligned boxes)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"page size must be positive, got {width}x{height}")
    lines = []
    for annotation in annotations:
        x0, y0, x1, y1 = annotation.bounds()
        values = [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height]
        line = " ".join([str(_category_id(annotation.label) - 1)] + [f"{v:.10g}" for v in values])
        if annotation.score is not None:
            line += f" {annotation.score:.10g}"
        lines.append(line)
    return lines


def from_yolo_lines(
    lines: Iterable[str], width: int, height: int, source: str = "<yolo>"
) -> list[Annotation]:
    """Annotations in pixels from YOLO lines; a 6th value is read as the confidence (``save_conf``)."""
    annotations = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{source}:{number}"
        if len(fields) not in (5, 6):
            raise FormatError(f"{where}: expected 'class cx cy w h [score]' (5-6 values), got {len(fields)}")
        if not fields[0].isdigit() or int(fields[0]) >= len(LABELS):
            raise FormatError(f"{where}: class {fields[0]!r} is not an index below {len(LABELS)}")
        cx, cy, w, h = (_number(f, where, "box value") for f in fields[1:5])
        score = _number(fields[5], where, "score") if len(fields) == 6 else None
        box = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
        annotations.append(Annotation.from_box(*box, label=LABELS[int(fields[0])], score=score))
    return annotations


# --------------------------------------------------------------------------------------------- GEDI XML

#: GEDI zone types of Tobacco800 and the labels they become.
GEDI_TYPES: dict[str, str] = {"DLSignature": "signature", "DLLogo": "logo"}


def _local(tag: str) -> str:
    """Tag name without its ``{namespace}`` (Tobacco800 files declare the GEDI namespace)."""
    return tag.rsplit("}", 1)[-1]


def _gedi_zone(zone: ET.Element, where: str) -> Annotation:
    """One ``DL_ZONE``: ``col``/``row`` are the top-left corner, ``width``/``height`` the extent."""
    values = []
    for key in ("col", "row", "width", "height"):
        if key not in zone.attrib:
            raise FormatError(f"{where}: missing attribute {key!r}")
        values.append(_number(zone.attrib[key], where, key))
    col, row, w, h = values
    author = zone.attrib.get("AuthorID")
    label = GEDI_TYPES[zone.attrib["gedi_type"]]
    return Annotation.from_box(col, row, col + w, row + h, label=label, name=author or None)


def read_gedi_page(path: str | os.PathLike, include_logos: bool = False) -> Page:
    """The single ``DL_PAGE`` of a Tobacco800 GEDI file with its signature (and optionally logo) zones.

    ``AuthorID`` becomes :attr:`Annotation.name` (writer identity, for detection-then-verification work).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise FormatError(f"{path}: malformed XML ({exc})") from None
    pages = [el for el in root.iter() if _local(el.tag) == "DL_PAGE"]
    if len(pages) != 1:
        raise FormatError(f"{path}: expected exactly one DL_PAGE, found {len(pages)}")
    page_el = pages[0]
    wanted = {"DLSignature", "DLLogo"} if include_logos else {"DLSignature"}
    try:
        size = int(page_el.attrib.get("width", 0)), int(page_el.attrib.get("height", 0))
    except ValueError:
        raise FormatError(f"{path}: DL_PAGE width/height are not integers") from None
    page = Page(page_el.attrib.get("src", path.stem), *size)
    zones = [el for el in page_el.iter() if _local(el.tag) == "DL_ZONE"]
    for index, zone in enumerate(zones):
        if zone.attrib.get("gedi_type") in wanted:
            page.annotations.append(_gedi_zone(zone, f"{path}: DL_ZONE #{index + 1}"))
    return page


def read_gedi(path: str | os.PathLike, include_logos: bool = False) -> list[Annotation]:
    """Signature zones (plus logos when asked) of a Tobacco800 GEDI XML file."""
    return read_gedi_page(path, include_logos=include_logos).annotations
