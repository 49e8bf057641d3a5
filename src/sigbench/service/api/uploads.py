"""Uploaded files checked at the door, then turned into the pipeline's documents.

Order of the checks, each before any costlier step:

1. **bytes**: the request body is counted while it streams in (:class:`BodyLimit`); a bigger body is
   refused with 413 as soon as it passes :attr:`Limits.max_body`, and a declared ``Content-Length`` over
   the limit before any of it is read;
2. **type** from the content's first bytes (PNG, JPEG, TIFF, BMP, WebP, PDF), never from the file name or
   the client's content type: anything else is 415;
3. **size**: an image's width x height from its header (Pillow reads headers lazily; nothing is decoded)
   against :attr:`Limits.max_pixels`, a PDF's page count against :attr:`Limits.max_pdf_pages` and each
   page's raster size at the rendering dpi against ``max_pixels`` (413);
4. **decoding**: a truncated or corrupt file is 422, naming the upload.

Uploads are held in memory (bounded by ``max_bytes``); no path is ever made from a client's file name,
which is only kept, cleaned, as the document's display name.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import dataclass, field

import numpy as np
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sigbench.data.preprocess import to_grayscale
from sigbench.images import ImageReadError, ImageTooLargeError
from sigbench.images.decode import as_rgb, decode_page, frame_count, open_image
from sigbench.service.api.errors import ApiError
from sigbench.service.pipeline import Document, Pipeline, Provenance, Signature

#: Magic bytes of the accepted types: (kind, offset, bytes). WebP also needs "WEBP" at offset 8.
MAGIC = (
    ("png", 0, b"\x89PNG\r\n\x1a\n"),
    ("jpeg", 0, b"\xff\xd8\xff"),
    ("tiff", 0, b"II*\x00"),
    ("tiff", 0, b"MM\x00*"),
    ("bmp", 0, b"BM"),
    ("pdf", 0, b"%PDF-"),
)
ACCEPTED = ("png", "jpeg", "tiff", "bmp", "webp", "pdf")
UPLOAD_KINDS = ("auto", "signature", "page")


@dataclass(frozen=True)
class Limits:
    """What one upload may be. ``max_pixels`` applies to an image and to each rendered PDF page."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_pdf_pages: int = 20
    dpi: int = 200

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_pdf_pages", "dpi"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"upload limit {name}={value!r}: expected a positive integer")

    @property
    def max_body(self) -> int:
        """Body limit of an upload request: the file plus room for the multipart framing and fields."""
        return self.max_bytes + 64 * 1024


@dataclass
class Upload:
    """An accepted upload: its bytes, sniffed type and cleaned display name."""

    data: bytes
    kind: str
    name: str
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


def sniff(head: bytes) -> str | None:
    """The file type from its first bytes, or ``None`` when it is none of :data:`ACCEPTED`."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for kind, offset, magic in MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def display_name(filename: str | None) -> str:
    """The client's file name reduced to a harmless label (last path part, plain characters, 100 max)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")[:100]
    return cleaned or "upload"


def accept(data: bytes, filename: str | None, limits: Limits) -> Upload:
    """Check an upload's size and type (steps 1-2 of the module docstring)."""
    name = display_name(filename)
    if not data:
        raise ApiError(422, f"upload {name!r} is empty")
    if len(data) > limits.max_bytes:
        raise ApiError(
            413, f"upload {name!r} is {len(data)} bytes, more than the limit of {limits.max_bytes}"
        )
    kind = sniff(data[:16])
    if kind is None:
        raise ApiError(
            415,
            f"upload {name!r} is not a supported file type (its content is none of "
            f"{', '.join(ACCEPTED)}; the name and the declared content type are not trusted)",
        )
    return Upload(data, kind, name)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes the limit; an HTTP exception, so the framework's body
    parsing passes it on unchanged and the application's error handler answers it (JSON or a page)."""

    def __init__(self, limit: int) -> None:
        # "Connection: close": the server drops the connection instead of draining the rest of the body
        super().__init__(
            413, f"request body is larger than the limit of {limit} bytes", headers={"Connection": "close"}
        )


class BodyLimit:
    """Counts request body bytes as they arrive and stops at ``max_body`` (Starlette's own limiter
    answers in plain text from inside the route, before the application's JSON error handler)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = int(max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                raise BodyTooLarge(self.max_body)  # before reading any of it
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, receive if scope["method"] in ("GET", "HEAD") else limited, send)


# --------------------------------------------------------------------------------------------- images


def image_pages(upload: Upload, limits: Limits) -> list[np.ndarray]:
    """Every page of an uploaded image (one, or each page of a multi-page TIFF) as upright uint8 RGB.

    Decoded by the bench's reader (:mod:`sigbench.images`) from memory, so an upload gives exactly the pixels
    the same file gives to every command: size checked from the header before decoding, EXIF orientation,
    transparency on white, 16 bits scaled. A multi-page image counts against ``max_pdf_pages`` as a PDF does.
    """
    source = io.BytesIO(upload.data)
    try:
        with open_image(source, limits.max_pixels) as image:
            count = frame_count(image)
            if count > limits.max_pdf_pages:
                raise ApiError(
                    413,
                    f"upload {upload.name!r}: {count} pages, more than the limit of {limits.max_pdf_pages}",
                )
            return [as_rgb(decode_page(source, image, index, limits.max_pixels)) for index in range(count)]
    except ImageTooLargeError as exc:
        raise ApiError(413, f"upload {upload.name!r}: {_without_source(exc)}") from None
    except ImageReadError as exc:
        raise ApiError(422, f"upload {upload.name!r}: {_without_source(exc)}") from None


def _without_source(exc: Exception) -> str:
    """The reader's message names its source first; an upload is named by the caller instead."""
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


# --------------------------------------------------------------------------------------------- PDFs


def _open_pdf(upload: Upload, limits: Limits):
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(upload.data)
    except Exception as exc:  # PdfiumError: a RuntimeError subclass with a terse message
        raise ApiError(422, f"upload {upload.name!r}: not a readable PDF ({exc})") from None
    n_pages = len(document)
    if n_pages > limits.max_pdf_pages:
        document.close()
        raise ApiError(
            413, f"upload {upload.name!r}: {n_pages} PDF pages, more than the limit of {limits.max_pdf_pages}"
        )
    if n_pages == 0:
        document.close()
        raise ApiError(422, f"upload {upload.name!r}: the PDF has no pages")
    for index in range(n_pages):
        width, height = (math.ceil(v * limits.dpi / 72.0) for v in document[index].get_size())
        if width * height > limits.max_pixels:
            document.close()
            raise ApiError(
                413,
                f"upload {upload.name!r}: page {index + 1} renders to {width} x {height} pixels at "
                f"{limits.dpi} dpi, more than the limit of {limits.max_pixels}",
            )
    return document


def pdf_pages(upload: Upload, limits: Limits) -> list[np.ndarray]:
    """Every page of an uploaded PDF rendered at ``limits.dpi`` as RGB (counts and sizes checked first)."""
    document = _open_pdf(upload, limits)
    try:
        return [
            np.asarray(document[i].render(scale=limits.dpi / 72.0).to_pil().convert("RGB"))
            for i in range(len(document))
        ]
    finally:
        document.close()


def pages_of(upload: Upload, limits: Limits) -> list[np.ndarray]:
    """The upload's pages as RGB arrays: one for an image, every page for a PDF."""
    if upload.kind == "pdf":
        return pdf_pages(upload, limits)
    return image_pages(upload, limits)


# --------------------------------------------------------------------------------------------- documents


def resolve_kind(upload: Upload, kind: str, pipeline: Pipeline) -> str:
    """``auto``: a PDF is pages; an image is a page when the bundle has a detector, else a signature."""
    if kind not in UPLOAD_KINDS:
        raise ApiError(422, f"kind={kind!r}: expected one of {', '.join(UPLOAD_KINDS)}")
    if upload.kind == "pdf" and kind == "signature":
        raise ApiError(422, f"upload {upload.name!r} is a PDF, a document, not a signature image")
    if kind == "auto":
        kind = "page" if upload.kind == "pdf" or pipeline.detector is not None else "signature"
    if kind == "page" and pipeline.detector is None:
        raise ApiError(422, "page input needs a detector, and this bundle has none (send kind=signature)")
    return kind


def to_document(
    pipeline: Pipeline, upload: Upload, pages: list[np.ndarray], kind: str, embed: bool = True
) -> Document:
    """The pipeline's :class:`Document` for decoded pages: the whole image as one signature, or the
    detector's signatures on each page; named by the upload, hashed by its bytes like a file is."""
    document = Document(upload.sha256, upload.name, len(pages), kind)
    if kind == "signature":
        crop = to_grayscale(pages[0])
        document.signatures.append(Signature(Provenance(upload.sha256, upload.name, 1), crop))
    else:
        pipeline.page_signatures(document, pages)
    if embed and document.signatures:
        pipeline.embed(document.signatures)
    return document
