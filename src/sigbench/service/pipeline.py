"""From files to embeddings: signature images, page images, folders and PDFs -> signatures with provenance.

A *signature* input is one cropped signature (the whole image is the signature). A *page* input (a page
image or every page of a PDF) goes through the bundle's detector first: pages are detected in batches with
the same batched / tiled inference as ``sigbench-detect`` (:func:`sigbench.detection.infer.detect_pages`),
and each box scoring at least ``score_threshold`` is cut out. Either way a signature then goes through

1. contrast and scale normalisation: grey levels stretched (darkest ink black, paper white) and resized
   so that its ink's longer side matches the training scans' (:class:`Preprocessing`; page crops come at
   page resolution and in any ink, training scans at 300 dpi);
2. the SigNet normalisation the extractor was trained with
   (:func:`sigbench.data.preprocess.preprocess_signature`);
3. the cleaner, when the bundle has one (:func:`sigbench.cleaning.apply.clean_image_list`; it was trained
   on images at this scale);
4. the extractor, in batches, on the centre input crop; embeddings are L2-normalised float32, so a cosine
   similarity is an inner product (what the store's index computes).

Every signature keeps where it came from: the document's SHA-256 (of the file's bytes) and name, the page
(1-based), the box in page pixels and the detector's score. Crops that hold no ink are reported in
:attr:`Document.skipped` with the reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from sigbench.cleaning.apply import clean_image_list
from sigbench.data.preprocess import preprocess_signature, to_grayscale
from sigbench.detection.infer import detect_pages, list_inputs
from sigbench.detection.tiling import resize_long_side
from sigbench.documents.sources import ink_mask
from sigbench.features.extract import embed_images
from sigbench.images import PDF_SUFFIX, file_pages, read_rgb
from sigbench.service.bundle import Bundle, Preprocessing, file_sha256

KINDS = ("auto", "signature", "page")
THUMBNAIL_LONG_SIDE = 160


@dataclass(frozen=True)
class Provenance:
    """Where a signature was found. ``box`` / ``detector_score`` are ``None`` for signature inputs."""

    document_sha256: str
    document_name: str
    page: int
    box: tuple[float, float, float, float] | None = None
    detector_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_sha256": self.document_sha256,
            "document_name": self.document_name,
            "page": self.page,
            "box": None if self.box is None else [round(float(v), 2) for v in self.box],
            "detector_score": None if self.detector_score is None else round(float(self.detector_score), 4),
        }


@dataclass
class Signature:
    """One signature: the grey crop as cut (dark ink on light), the model input, the embedding."""

    provenance: Provenance
    crop: np.ndarray
    model_input: np.ndarray | None = None
    embedding: np.ndarray | None = None

    @property
    def pixel_sha256(self) -> str:
        """SHA-256 of the crop's shape and pixels: the same signature image gives the same value."""
        return pixel_sha256(self.crop)

    def crop_png(self) -> bytes:
        return encode_png(self.crop)

    def thumbnail_png(self, long_side: int = THUMBNAIL_LONG_SIDE) -> bytes:
        small, _ = resize_long_side(self.crop, min(long_side, max(self.crop.shape)))
        return encode_png(small)


@dataclass
class Document:
    """One input file (or in-memory image): its pages' signatures and what could not be used."""

    sha256: str
    name: str
    n_pages: int
    kind: str
    signatures: list[Signature] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- small pieces


def pixel_sha256(image: np.ndarray) -> str:
    """SHA-256 over an array's shape, dtype and bytes (two encodings of the same pixels agree)."""
    image = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{image.dtype.str}{image.shape}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def encode_png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f"could not encode a {image.dtype} {image.shape} image as PNG")
    return data.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """A grey crop stored by :meth:`Signature.crop_png` (lossless, so the pixels are the same)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("stored crop is not a readable PNG")
    return image


def cut(page: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The pixels of ``page`` inside ``box`` (xyxy; fractional edges widened to whole pixels)."""
    height, width = page.shape[:2]
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    return page[y0:y1, x0:x1]


def stretch_contrast(gray: np.ndarray) -> np.ndarray:
    """Grey levels mapped linearly: 1st percentile (darkest ink) to 0, median (paper) to 255."""
    dark, paper = np.percentile(gray, [1, 50])
    if paper - dark < 1:
        return gray  # flat: preprocess_signature reports the blank image, naming it
    scaled = (gray.astype(np.float32) - dark) * (255.0 / (paper - dark))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def normalise_scale(gray: np.ndarray, ink_long_side: int | None) -> np.ndarray:
    """``gray`` resized so that its ink's longer side is ``ink_long_side`` (unchanged when ``None``)."""
    if ink_long_side is None:
        return gray
    ink = ink_mask(gray)
    if not ink.any():
        return gray  # preprocess_signature reports the blank image, naming it
    ys, xs = np.nonzero(ink)
    extent = max(int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1)
    target = max(1, round(max(gray.shape) * ink_long_side / extent))
    return resize_long_side(gray, target)[0]


# --------------------------------------------------------------------------------------------- pipeline


class Pipeline:
    """The models of a bundle applied to inputs. Attributes may be replaced (e.g. another detector)."""

    def __init__(
        self,
        extractor: Any,
        preprocessing: Preprocessing,
        detector: torch.nn.Module | None = None,
        cleaner: torch.nn.Module | None = None,
        detector_geometry: dict[str, Any] | None = None,
        score_threshold: float = 0.5,
        batch_size: int = 32,
        dpi: int = 200,
        device: str | torch.device = "cpu",
    ) -> None:
        self.extractor = extractor
        self.preprocessing = preprocessing
        self.detector = detector
        self.cleaner = cleaner
        self.geometry = detector_geometry or {"long_side": 1024, "tile_size": None, "tile_overlap": 256}
        self.score_threshold = float(score_threshold)
        self.batch_size = int(batch_size)
        self.dpi = int(dpi)
        self.device = torch.device(device)

    @classmethod
    def from_bundle(cls, bundle: Bundle, clean: bool = True, **options: Any) -> Pipeline:
        return cls(
            bundle.extractor,
            bundle.preprocessing,
            bundle.detector,
            bundle.cleaner if clean else None,
            bundle.manifest.get("detector_geometry"),
            **options,
        )

    # ---- embedding --------------------------------------------------------------------------------

    def model_inputs(self, crops: Sequence[np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
        """Scale-normalised, SigNet-normalised (``img_size``) and, with a cleaner, cleaned images."""
        prep = self.preprocessing
        grey = [to_grayscale(crop) for crop in crops]
        if prep.stretch_contrast:
            grey = [stretch_contrast(g) for g in grey]
        images = [
            preprocess_signature(
                normalise_scale(g, prep.ink_long_side),
                prep.canvas_size,
                prep.img_size,
                None,
                name=name,
            )
            for g, name in zip(grey, names, strict=True)
        ]
        if self.cleaner is not None and images:
            images = clean_image_list(self.cleaner, images, self.batch_size, self.device)
        return images

    def embed_inputs(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised float32 embeddings ``(n, d)`` of model inputs at ``img_size``."""
        if not images:
            return np.zeros((0, 0), np.float32)
        stack = np.stack(images)[:, None]
        extractor = self.extractor.to(self.device).eval()
        feats = embed_images(
            extractor.features, stack, self.preprocessing.input_size, self.batch_size, self.device
        )
        feats = torch.nn.functional.normalize(feats.float(), dim=1)
        return feats.numpy().astype(np.float32)

    def embed(self, signatures: Sequence[Signature]) -> list[Signature]:
        """Fill ``model_input`` and ``embedding`` of every signature (one batched pass)."""
        names = [f"{s.provenance.document_name} page {s.provenance.page}" for s in signatures]
        images = self.model_inputs([s.crop for s in signatures], names)
        feats = self.embed_inputs(images)
        for signature, image, feat in zip(signatures, images, feats, strict=True):
            signature.model_input = image
            signature.embedding = feat
        return list(signatures)

    def embed_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of grey / RGB signature crops held in memory (calibration, re-embedding)."""
        return self.embed_inputs(self.model_inputs(crops, [f"crop {i}" for i in range(len(crops))]))

    # ---- pages ------------------------------------------------------------------------------------

    def _signature_labels(self) -> set[int] | None:
        classes = list(getattr(self.detector, "classes", []) or [])
        return {classes.index("signature")} if "signature" in classes else None

    def detect(self, pages: Sequence[np.ndarray]) -> list[Any]:
        """Detections (page pixels) of RGB pages, above the score threshold, signatures only."""
        if self.detector is None:
            raise ValueError("page input needs a detector, and this bundle has none (use kind=signature)")
        found = detect_pages(
            self.detector,
            pages,
            batch_size=max(1, min(self.batch_size, 4)),
            device=self.device,
            **self.geometry,
        )
        wanted = self._signature_labels()
        out = []
        for detections in found:
            kept = detections.above(self.score_threshold)
            if wanted is not None:
                mask = np.isin(kept.labels, list(wanted))
                kept = type(kept)(kept.boxes[mask], kept.scores[mask], kept.labels[mask])
            out.append(kept)
        return out

    def page_signatures(self, document: Document, pages: Sequence[np.ndarray], first_page: int = 1) -> None:
        """Detect on ``pages`` and append their crops (not yet embedded) to ``document``."""
        for offset, (page, detections) in enumerate(zip(pages, self.detect(pages), strict=True)):
            number = first_page + offset
            for box, score in zip(detections.boxes, detections.scores, strict=True):
                crop = to_grayscale(cut(page, box))
                if crop.size == 0 or not ink_mask(crop).any():
                    document.skipped.append(
                        f"{document.name} page {number}: box {box.round(1).tolist()} has no ink"
                    )
                    continue
                where = Provenance(
                    document.sha256, document.name, number, tuple(map(float, box)), float(score)
                )
                document.signatures.append(Signature(where, crop))

    # ---- inputs -----------------------------------------------------------------------------------

    def resolve_kind(self, path: Path, kind: str) -> str:
        """``auto``: PDFs are pages; images are pages when the bundle has a detector, else signatures."""
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {', '.join(KINDS)}")
        if kind == "signature" and path.suffix.lower() == PDF_SUFFIX:
            raise ValueError(f"{path}: a PDF is a document, not a signature image (use kind=page or auto)")
        if kind != "auto":
            return kind
        if path.suffix.lower() == PDF_SUFFIX:
            return "page"
        return "page" if self.detector is not None else "signature"

    def read_file(self, path: str | os.PathLike, kind: str = "auto", embed: bool = True) -> Document:
        """One image or PDF as a :class:`Document` of (embedded) signatures."""
        path = Path(path)
        kind = self.resolve_kind(path, kind)
        if kind == "page" and self.detector is None:
            raise ValueError(
                f"{path}: page input needs a detector, and this bundle has none (kind=signature)"
            )
        document = Document(file_sha256(path), path.name, 0, kind)
        if kind == "signature":
            crop = to_grayscale(read_rgb(path))
            document.n_pages = 1
            document.signatures.append(Signature(Provenance(document.sha256, path.name, 1), crop))
        else:
            pages = (page for _, _, page in file_pages(path, self.dpi))  # every page: PDF, TIFF, image
            for number, chunk in _chunks(pages, max(1, min(self.batch_size, 8))):
                self.page_signatures(document, chunk, number)
                document.n_pages = number + len(chunk) - 1
        if embed:
            self.embed(document.signatures)
        return document

    def read(self, path: str | os.PathLike, kind: str = "auto", embed: bool = True) -> list[Document]:
        """An image, a PDF or a folder of them (top level, sorted) as documents."""
        return [self.read_file(file, kind, embed) for file in list_inputs(path)]

    def read_array(
        self, image: np.ndarray, name: str, kind: str = "signature", embed: bool = True
    ) -> Document:
        """An image held in memory (RGB or grey); its document hash is the pixels' hash."""
        if kind not in ("signature", "page"):
            raise ValueError(f"kind={kind!r}: an in-memory image is a 'signature' or a 'page'")
        document = Document(pixel_sha256(image), name, 1, kind)
        if kind == "signature":
            document.signatures.append(Signature(Provenance(document.sha256, name, 1), to_grayscale(image)))
        else:
            page = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
            self.page_signatures(document, [page])
        if embed:
            self.embed(document.signatures)
        return document


def _chunks(pages: Iterator[np.ndarray], size: int) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(first page number, pages)`` in chunks of ``size``, so a long PDF is never held whole."""
    chunk: list[np.ndarray] = []
    first = 1
    for page in pages:
        chunk.append(page)
        if len(chunk) == size:
            yield first, chunk
            first += len(chunk)
            chunk = []
    if chunk:
        yield first, chunk
