"""What the API and the web page do, in one place: the core's functions applied to accepted uploads.

Both front ends (JSON routes and HTML pages) call these methods, so a verification through the page and
through the API are the same code, leave the same audit entry and give the same decision. Model inference
is serialised by one lock (a CPU process gains nothing from running two batches at once); the store
serialises its own calls and transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sigbench.service.bundle import Bundle, load_bundle
from sigbench.service.decisions import Decision
from sigbench.service.enrol import DEFAULT_MIN_REFERENCES, EnrolmentResult, enrol, propose, recheck, select
from sigbench.service.identify import Identification, identify, store_document
from sigbench.service.pipeline import Document, Pipeline, Provenance, Signature, decode_png
from sigbench.service.store import open_store
from sigbench.service.store.base import Detection, Store
from sigbench.service.verify import verify

from .errors import ApiError
from .uploads import Limits, Upload, pages_of, resolve_kind, to_document


@dataclass
class Processed:
    """An uploaded document after the pipeline: the document, its pages (RGB) and its stored detections."""

    document: Document
    pages: list[np.ndarray]
    detection_ids: list[int]


class Service:
    """One bundle, one store, the upload limits; the operations both front ends offer."""

    def __init__(
        self,
        bundle: str | Path | Bundle,
        store: str | Store,
        limits: Limits | None = None,
        min_references: int = DEFAULT_MIN_REFERENCES,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.pipeline = pipeline or Pipeline.from_bundle(self.bundle)
        if isinstance(store, (str, Path)):
            store = open_store(str(store), self.bundle.fingerprint, self.bundle.embedding_dim)
        self.store = store
        self.limits = limits or Limits()
        self.min_references = int(min_references)
        self._model_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    # ---- reading ----------------------------------------------------------------------------------

    def read(
        self, upload: Upload, kind: str = "auto", embed: bool = True
    ) -> tuple[Document, list[np.ndarray]]:
        """The upload through the pipeline (limits checked before decoding)."""
        kind = resolve_kind(upload, kind, self.pipeline)
        pages = pages_of(upload, self.limits)
        with self._model_lock:
            document = to_document(self.pipeline, upload, pages, kind, embed)
        return document, pages

    def process(self, upload: Upload, kind: str = "auto") -> Processed:
        """Read an upload and record it with its signatures (detections) in the store."""
        document, pages = self.read(upload, kind)
        ids = store_document(self.store, self.bundle, document) if document.signatures else []
        if not document.signatures:
            self.store.add_document(document.sha256, document.name, document.n_pages, {"kind": document.kind})
        return Processed(document, pages, ids)

    def detect(self, upload: Upload) -> tuple[Document, list[np.ndarray]]:
        """Signatures found on an upload's pages; nothing embedded, nothing stored."""
        return self.read(upload, "page", embed=False)

    # ---- enrolment --------------------------------------------------------------------------------

    def enrol_upload(
        self,
        external_id: str,
        upload: Upload,
        kind: str = "auto",
        keep: Sequence[int] | None = None,
        name: str = "",
        actor: str = "unknown",
    ) -> EnrolmentResult:
        """Add the upload's signatures (those at ``keep``, numbered as :func:`propose` numbers them)."""
        document, _ = self.read(upload, kind)
        chosen = select([document], keep)
        if not chosen:
            raise ApiError(422, f"upload {upload.name!r}: no signature found to enrol")
        return enrol(
            self.store, self.bundle, external_id, chosen, name, {}, self.min_references, actor, [document]
        )

    def proposals(self, upload: Upload, kind: str = "auto") -> list[dict[str, Any]]:
        """The signatures an upload offers for enrolment, indexed, with provenance (nothing stored)."""
        document, _ = self.read(upload, kind, embed=False)
        return propose(document)

    def stored_signature(self, detection: Detection, embedding: np.ndarray) -> Signature:
        document = self.store.get_document_by_id(detection.document_id)
        where = Provenance(document.sha256, document.name, detection.page, detection.box, detection.score)
        return Signature(where, decode_png(self.store.detection_crop(detection.id)), embedding=embedding)

    def enrol_detections(
        self, external_id: str, detection_ids: Sequence[int], name: str = "", actor: str = "unknown"
    ) -> EnrolmentResult:
        """Keep stored detections (from an uploaded document) as references of ``external_id``; each
        detection is then attributed to the identity and its new reference, all in one transaction."""
        if not detection_ids:
            raise ApiError(422, "detection_ids: choose at least one detected signature")
        detections = [self.store.get_detection(int(i)) for i in dict.fromkeys(detection_ids)]
        signatures = []
        for detection in detections:
            ids, matrix = self.store.detections_embeddings(detection.document_id)
            rows = np.flatnonzero(ids == detection.id)
            if len(rows) == 0:
                raise ApiError(409, f"detection {detection.id}: its signature was erased (upload it again)")
            signatures.append(self.stored_signature(detection, matrix[rows[0]]))
        with self.store.transaction():
            result = enrol(
                self.store, self.bundle, external_id, signatures, name, {}, self.min_references, actor
            )
            by_pixels = {r.pixel_sha256: r.id for r in self.store.list_references(external_id)}
            for detection, signature in zip(detections, signatures, strict=True):
                if detection.external_id is None:
                    self.store.link_detection(
                        detection.id, external_id, by_pixels.get(signature.pixel_sha256)
                    )
        return result

    def delete_reference(self, reference_id: int, actor: str) -> tuple[str, str]:
        """Erase one reference; returns ``(external id, its status afterwards)``."""
        reference = self.store.get_reference(reference_id)
        with self.store.transaction():
            self.store.delete_reference(reference_id)
            status = recheck(
                self.store, self.bundle, reference.external_id, self.min_references, actor
            ).status
            self.store.log_event(
                "delete_reference",
                actor,
                {"reference_id": reference_id, "external_id": reference.external_id},
            )
        return reference.external_id, status

    def delete_identity(self, external_id: str, actor: str) -> int:
        """Erase an identity with everything it owns; returns how many references went."""
        with self.store.transaction():
            removed = self.store.delete_identity(external_id)
            self.store.log_event(
                "delete_identity", actor, {"external_id": external_id, "references": removed}
            )
        return removed

    # ---- decisions --------------------------------------------------------------------------------

    def verify_upload(
        self,
        external_id: str,
        upload: Upload,
        kind: str = "auto",
        mode: str = "distance",
        actor: str = "unknown",
    ) -> tuple[list[Decision], Processed]:
        """Decisions for every signature on the upload against ``external_id`` (each audited)."""
        self.store.get_identity(external_id)  # 404 before any model runs
        processed = self.process(upload, kind)
        if not processed.document.signatures:
            raise ApiError(422, f"upload {upload.name!r}: no signature found ({self._skipped(processed)})")
        decisions = verify(self.store, self.bundle, external_id, processed.document.signatures, mode, actor)
        return decisions, processed

    def identify_upload(
        self,
        upload: Upload,
        kind: str = "auto",
        k: int = 5,
        threshold: float | None = None,
        margin: float | None = None,
        actor: str = "unknown",
    ) -> tuple[list[Identification], Processed]:
        """Top-``k`` identities for every signature on the upload (each audited)."""
        processed = self.process(upload, kind)
        if not processed.document.signatures:
            raise ApiError(422, f"upload {upload.name!r}: no signature found ({self._skipped(processed)})")
        options = {} if margin is None else {"margin": margin}
        results = identify(
            self.store, self.bundle, processed.document.signatures, k, threshold, actor=actor, **options
        )
        return results, processed

    @staticmethod
    def _skipped(processed: Processed) -> str:
        return "; ".join(processed.document.skipped) or "the detector found none"
