"""Documents with signatures on them: annotation formats (and, later, page synthesis) for issue 8."""

from sigbench.documents.formats import (
    LABELS,
    Annotation,
    FormatError,
    Page,
    from_coco,
    from_yolo_lines,
    read_coco,
    read_gedi,
    read_gedi_page,
    read_quads,
    to_coco,
    to_yolo_lines,
    write_coco,
    write_quads,
)

__all__ = [
    "LABELS",
    "Annotation",
    "FormatError",
    "Page",
    "from_coco",
    "from_yolo_lines",
    "read_coco",
    "read_gedi",
    "read_gedi_page",
    "read_quads",
    "to_coco",
    "to_yolo_lines",
    "write_coco",
    "write_quads",
]
