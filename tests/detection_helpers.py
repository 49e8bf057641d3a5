"""Tiny annotated pages for the detection tests: dark scribbles ("signatures") and grey bars ("print").

:func:`make_layout` writes the same pages in all four formats the detection data reads -- the AOSSig
layout, COCO, YOLO and GEDI XML -- so readers can be checked against each other.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sigbench.documents.formats import Annotation, Page, to_yolo_lines, write_coco, write_quads


def draw_page(rng: np.random.Generator, width: int, height: int, signatures: int) -> tuple[np.ndarray, list]:
    """A white page with grey text bars and ``signatures`` dark random-walk scribbles; boxes tight on ink."""
    page = np.full((height, width, 3), 250, np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 8))
        cv2.rectangle(page, (x, y), (x + int(rng.integers(20, 40)), y + 3), (150, 150, 150), -1)
    boxes = []
    slot_w = width // signatures
    for k in range(signatures):
        ink = np.zeros((height, width), np.uint8)
        start = np.array([k * slot_w + slot_w * 0.2, rng.uniform(0.3, 0.7) * height])
        steps = rng.normal(0, 4, size=(12, 2)) + np.array([slot_w * 0.05, 0.0])
        points = np.cumsum(np.vstack([start, steps]), axis=0).round().astype(np.int32)
        cv2.polylines(ink, [points], False, 255, thickness=2)
        ys, xs = np.nonzero(ink)
        page[ink > 0] = (20, 20, 60)
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return page, boxes


def write_gedi(path: Path, src: str, width: int, height: int, boxes: list) -> None:
    zones = "".join(
        f'<DL_ZONE gedi_type="DLSignature" id="{i}" col="{x0}" row="{y0}" width="{x1 - x0}" '
        f'height="{y1 - y0}" AuthorID="w{i}"/>'
        for i, (x0, y0, x1, y1) in enumerate(boxes)
    )
    path.write_text(
        f'<?xml version="1.0"?><GEDI xmlns="http://lamp.cfar.umd.edu/media/projects/GEDI/">'
        f'<DL_DOCUMENT NrOfPages="1"><DL_PAGE src="{src}" pageID="1" width="{width}" height="{height}">'
        f"{zones}</DL_PAGE></DL_DOCUMENT></GEDI>",
        encoding="utf-8",
    )


def make_layout(
    root: Path, pages: dict[str, int] | None = None, size: tuple[int, int] = (192, 128), seed: int = 0
) -> Path:
    """``<root>`` in the synthesised-document layout (level L1) + coco/, yolo/ and gedi/<split>/."""
    pages = pages or {"training": 6, "test": 2}
    rng = np.random.default_rng(seed)
    width, height = size
    (root / "yolo").mkdir(parents=True, exist_ok=True)
    (root / "yolo" / "classes.txt").write_text("signature\ninitials\nredaction\ndate\n")
    for split, count in pages.items():
        coco_pages = []
        for dirname in ("data", "anno_label"):
            (root / "L1" / dirname / split).mkdir(parents=True, exist_ok=True)
        (root / "yolo" / split).mkdir(parents=True, exist_ok=True)
        (root / "gedi" / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            name = f"alpha_L1_scan_ink0_n0_{split[:2]}{index:04d}"
            image, boxes = draw_page(rng, width, height, signatures=1 + index % 2)
            path = root / "L1" / "data" / split / f"{name}.png"
            cv2.imwrite(str(path), image[:, :, ::-1])
            cv2.imwrite(str(root / "gedi" / split / f"{name}.png"), image[:, :, ::-1])
            annotations = [
                Annotation.from_box(*b, name=f"sig{k}", slot_label="sign") for k, b in enumerate(boxes)
            ]
            write_quads(root / "L1" / "anno_label" / split / f"{name}.txt", annotations)
            lines = to_yolo_lines(annotations, width, height)
            (root / "yolo" / split / f"L1_{name}.txt").write_text("\n".join(lines) + "\n")
            write_gedi(root / "gedi" / split / f"{name}.xml", f"{name}.png", width, height, boxes)
            coco_pages.append(Page(f"L1/data/{split}/{name}.png", width, height, annotations))
        write_coco(root / "coco" / f"{split}.json", coco_pages)
    return root
