"""Detection inference on pages of any size: batched, optionally tiled, with per-page output files.

:func:`detect_pages` runs a :class:`~sigbench.detection.models.Detector` over page images in batches
(whole resized pages, or the tiles of full-resolution pages merged by
:func:`~sigbench.detection.tiling.merge_tile_detections`) and returns boxes in the original page's pixels.
:func:`write_page` writes what ``sigbench-detect`` promises per page, each file atomically:

* ``<stem>.json`` -- page size, classes, and every box with its label and score;
* ``<stem>.txt`` -- the AOSSig quad txt with scores (:func:`sigbench.documents.formats.write_quads`), ready
  for :func:`sigbench.detection.evaluate.evaluate_quads`;
* ``crops/<stem>_<k>.png`` -- the page cut at each box scoring at least the threshold;
* ``<stem>_annotated.jpg`` -- the page with those boxes drawn.

PDF pages are rasterised with pypdfium2 at a chosen dpi; stems are ``<file>_p<page>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from sigbench.atomic import atomic_write_bytes
from sigbench.detection.task import to_annotations
from sigbench.detection.tiling import crop_tile, merge_tile_detections, resize_long_side, tile_origins
from sigbench.documents.formats import atomic_write_text, write_quads
from sigbench.extras import MissingExtraError, require
from sigbench.images import IMAGE_SUFFIXES, find_images, read_rgb

PDF_SUFFIX = ".pdf"
BOX_COLOUR = (0, 0, 230)  # BGR red, as the validation pages draw predictions


@dataclass
class PageDetections:
    """Detections of one page in its original pixels: ``(N, 4)`` xyxy boxes, scores, 0-based labels."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def above(self, threshold: float) -> PageDetections:
        keep = self.scores >= threshold
        return PageDetections(self.boxes[keep], self.scores[keep], self.labels[keep])


# --------------------------------------------------------------------------------------------- inputs


def list_inputs(path: str | os.PathLike) -> list[Path]:
    """The images / PDFs to process: ``path`` itself, or a folder's supported files (sorted, top level)."""
    return find_images(path, (*IMAGE_SUFFIXES, PDF_SUFFIX))


def rasterise_pdf(path: Path, dpi: int) -> Iterator[np.ndarray]:
    """RGB uint8 pages of a PDF at ``dpi``; a clear error when pypdfium2 is missing or the file is bad."""
    try:
        pdfium = require("pypdfium2", "documents", "reading PDFs")
    except MissingExtraError as err:
        raise RuntimeError(f"{path}: {err}") from None
    try:
        document = pdfium.PdfDocument(str(path))
    except Exception as exc:  # pypdfium2 raises PdfiumError, a RuntimeError subclass, with a terse message
        raise ValueError(f"{path}: not a readable PDF ({exc})") from None
    try:
        for index in range(len(document)):
            bitmap = document[index].render(scale=dpi / 72.0)
            yield np.asarray(bitmap.to_pil().convert("RGB"))
    finally:
        document.close()


def iter_pages(files: Sequence[Path], dpi: int = 200) -> Iterator[tuple[str, str, np.ndarray]]:
    """``(stem, source, RGB page)`` for every page of ``files``; stems must be unique (they name outputs)."""
    seen: dict[str, Path] = {}
    for path in files:
        if path.suffix.lower() == PDF_SUFFIX:
            pages = ((f"{path.stem}_p{i + 1:03d}", page) for i, page in enumerate(rasterise_pdf(path, dpi)))
        else:
            pages = iter([(path.stem, read_rgb(path))])
        for stem, page in pages:
            if stem in seen:
                raise ValueError(
                    f"{path} and {seen[stem]} would write the same outputs ({stem}.*); rename one"
                )
            seen[stem] = path
            yield stem, str(path), page


# --------------------------------------------------------------------------------------------- inference


@torch.no_grad()
def detect_pages(
    detector: torch.nn.Module,
    pages: Sequence[np.ndarray],
    long_side: int | None = 1024,
    tile_size: int | None = None,
    tile_overlap: int = 256,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
) -> list[PageDetections]:
    """Detections of each RGB uint8 page, in its original pixels.

    Pages are resized by their long side (as in training), cut into tiles when ``tile_size`` is set, and the
    resulting model inputs run ``batch_size`` at a time, whatever page they come from.
    """
    detector.eval()
    inputs: list[tuple[int, tuple[int, int], np.ndarray]] = []
    scales, shapes = [], []
    for index, page in enumerate(pages):
        resized, scale = resize_long_side(page, long_side)
        scales.append(scale)
        shapes.append(resized.shape[:2])
        if tile_size is None:
            inputs.append((index, (0, 0), resized))
        else:
            height, width = resized.shape[:2]
            for x, y in tile_origins(height, width, tile_size, tile_overlap):
                inputs.append((index, (x, y), crop_tile(resized, x, y, tile_size)))
    outputs: list[dict[str, torch.Tensor]] = []
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        tensors = [
            torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).to(device) for _, _, im in chunk
        ]
        outputs.extend({k: v.cpu() for k, v in out.items()} for out in detector(tensors))
    results = []
    for index in range(len(pages)):
        mine = [(origin, out) for (i, origin, _), out in zip(inputs, outputs, strict=True) if i == index]
        if tile_size is None:
            merged = mine[0][1]
        else:
            origins, dets = [o for o, _ in mine], [d for _, d in mine]
            merged = merge_tile_detections(dets, origins, tile_size, shapes[index])
        boxes = merged["boxes"].numpy().astype(np.float64) / scales[index]
        height, width = pages[index].shape[:2]
        boxes = np.clip(boxes, 0, [width, height, width, height])
        results.append(
            PageDetections(boxes, merged["scores"].numpy(), merged["labels"].numpy().astype(np.int64))
        )
    return results


# --------------------------------------------------------------------------------------------- outputs


def write_image(path: Path, rgb: np.ndarray, quality: int = 90) -> Path:
    """Encode an RGB uint8 image by ``path``'s suffix and write it atomically."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the image")
    return atomic_write_bytes(path, encoded.tobytes())


def annotate(page: np.ndarray, detections: PageDetections, classes: Sequence[str]) -> np.ndarray:
    """The page (RGB) with each box drawn and labelled ``class score``."""
    canvas = np.ascontiguousarray(page[:, :, ::-1])
    thickness = max(2, round(max(page.shape[:2]) / 500))
    for box, score, label in zip(detections.boxes, detections.scores, detections.labels, strict=True):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), BOX_COLOUR, thickness)
        text = f"{classes[int(label)]} {score:.2f}"
        cv2.putText(
            canvas, text, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, BOX_COLOUR, 1
        )
    return canvas[:, :, ::-1]


def write_page(
    out_dir: Path,
    stem: str,
    source: str,
    page: np.ndarray,
    detections: PageDetections,
    classes: Sequence[str],
    score_threshold: float = 0.5,
    crops: bool = True,
    annotated: bool = True,
) -> dict[str, int]:
    """Write one page's json / txt (every detection) and crops / annotated image (those >= threshold)."""
    height, width = page.shape[:2]
    # 0.01 px and 1e-4 in score are far below annotation noise; full floats only make the files unreadable
    detections = PageDetections(
        np.round(detections.boxes, 2), np.round(detections.scores, 4), detections.labels
    )
    record = {
        "image": source,
        "width": width,
        "height": height,
        "classes": list(classes),
        "score_threshold": score_threshold,
        "detections": [
            {"box": [float(v) for v in box], "label": classes[int(label)], "score": float(score)}
            for box, score, label in zip(detections.boxes, detections.scores, detections.labels, strict=True)
        ],
    }
    atomic_write_text(out_dir / f"{stem}.json", json.dumps(record, indent=1) + "\n")
    quads = to_annotations(
        torch.as_tensor(detections.boxes).reshape(-1, 4),
        torch.as_tensor(detections.labels),
        classes,
        torch.as_tensor(detections.scores),
    )
    write_quads(out_dir / f"{stem}.txt", quads)
    kept = detections.above(score_threshold)
    if crops:
        for k, box in enumerate(kept.boxes):
            x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
            x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
            if x1 > x0 and y1 > y0:
                write_image(out_dir / "crops" / f"{stem}_{k}.png", page[y0:y1, x0:x1])
    if annotated:
        write_image(out_dir / f"{stem}_annotated.jpg", annotate(page, kept, classes))
    return {"detections": len(detections.boxes), "kept": len(kept.boxes)}
