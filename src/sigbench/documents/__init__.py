"""Documents with signatures on them (issue 8): annotation formats, blank templates with signature slots,
fusion of signatures into slots, capture simulation and whole synthesised sets (``sigbench-synth``)."""

from sigbench.documents.capture import CAPTURES, simulate_capture, transform_points
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
from sigbench.documents.fusion import FUSIONS, fuse
from sigbench.documents.sources import FolderSource, SignatureSample, SyntheticSource, ink_mask, make_source
from sigbench.documents.stamps import draw_fingerprint, draw_stamp
from sigbench.documents.synthesize import load_or_synthesize, synthesize_dataset, synthesize_page
from sigbench.documents.templates import (
    KINDS,
    LEVELS,
    Slot,
    Template,
    load_labelme_template,
    make_template,
)

__all__ = [
    "CAPTURES",
    "FUSIONS",
    "KINDS",
    "LABELS",
    "LEVELS",
    "Annotation",
    "FolderSource",
    "FormatError",
    "Page",
    "SignatureSample",
    "Slot",
    "SyntheticSource",
    "Template",
    "draw_fingerprint",
    "draw_stamp",
    "from_coco",
    "from_yolo_lines",
    "fuse",
    "ink_mask",
    "load_labelme_template",
    "load_or_synthesize",
    "make_source",
    "make_template",
    "read_coco",
    "read_gedi",
    "read_gedi_page",
    "read_quads",
    "simulate_capture",
    "synthesize_dataset",
    "synthesize_page",
    "to_coco",
    "to_yolo_lines",
    "transform_points",
    "write_coco",
    "write_quads",
]
