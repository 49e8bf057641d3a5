"""The JSON API under ``/api/v1``: identities, references, verify, identify, documents, detect, audit.

Roles (see :mod:`.auth`): ``read`` for questions (verify, identify, detect, lists, images), ``enrol`` for
changes to identities, references and documents, ``admin`` for deleting identities and reading the audit
log. Uploads are multipart ``file`` fields; their limits apply while the body streams in. Decisions are
the core's dataclasses serialised (``Decision.to_dict``, ``Identification.to_dict``), each with the id of
the stored detection whose crop is at ``/api/v1/detections/{id}/crop.png``.
"""

from __future__ import annotations

import base64
import re
from importlib import metadata
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from sigbench.service.bundle import MODES
from sigbench.service.store.base import Detection, Identity, Reference

from .auth import Caller
from .deps import read_upload, require, service
from .errors import ApiError
from .service import Processed, Service
from .uploads import UPLOAD_KINDS

PREFIX = "/api/v1"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$"


def version() -> str:
    try:
        return metadata.version("sigbench")
    except metadata.PackageNotFoundError:
        return "unknown"


Svc = Annotated[Service, Depends(service)]
KindField = Annotated[str, Form(description=f"one of {', '.join(UPLOAD_KINDS)}")]
Reader = Annotated[Caller, Depends(require("read"))]
Enroller = Annotated[Caller, Depends(require("enrol"))]
Admin = Annotated[Caller, Depends(require("admin"))]


# --------------------------------------------------------------------------------------------- bodies


class NewIdentity(BaseModel):
    external_id: str = Field(pattern=ID_PATTERN, description="the caller's id for the person")
    name: str = Field(default="", max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Rename(BaseModel):
    name: str = Field(max_length=200)


class KeepDetections(BaseModel):
    detection_ids: list[int] = Field(min_length=1, description="stored detections to keep as references")
    name: str = Field(default="", max_length=200, description="the identity's name when it is created")


# --------------------------------------------------------------------------------------------- views


def identity_view(identity: Identity) -> dict[str, Any]:
    return {
        "external_id": identity.external_id,
        "name": identity.name,
        "status": identity.status,
        "n_references": identity.n_references,
        "metadata": identity.metadata,
        "created_at": identity.created_at,
        "updated_at": identity.updated_at,
    }


def reference_view(reference: Reference) -> dict[str, Any]:
    return {
        "id": reference.id,
        "external_id": reference.external_id,
        "provenance": reference.provenance,
        "created_at": reference.created_at,
        "fingerprint": reference.fingerprint,
        "thumbnail_url": f"{PREFIX}/references/{reference.id}/thumbnail.png",
        "crop_url": f"{PREFIX}/references/{reference.id}/crop.png",
    }


def detection_view(detection: Detection) -> dict[str, Any]:
    return {
        "id": detection.id,
        "page": detection.page,
        "box": [round(float(v), 2) for v in detection.box],
        "score": round(float(detection.score), 4),
        "external_id": detection.external_id,
        "reference_id": detection.reference_id,
        "crop_url": f"{PREFIX}/detections/{detection.id}/crop.png" if detection.has_embedding else None,
    }


def processed_view(svc: Service, processed: Processed) -> dict[str, Any]:
    document = svc.store.get_document(processed.document.sha256)
    return {
        "sha256": document.sha256,
        "name": document.name,
        "n_pages": document.n_pages,
        "kind": processed.document.kind,
        "skipped": processed.document.skipped,
        "detection_ids": processed.detection_ids,
    }


def png(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


# --------------------------------------------------------------------------------------------- router


def build_router() -> APIRouter:
    """The API's routes (the body limit is the application's :class:`.uploads.BodyLimit`)."""
    router = APIRouter(prefix=PREFIX)
    reader = Depends(require("read"))
    admin = Depends(require("admin"))

    @router.get("/health", tags=["service"])
    def health(svc: Svc) -> dict[str, Any]:
        """Liveness and the store's size (no key needed)."""
        return {
            "status": "ok",
            "identities": svc.store.count_identities(),
            "references": svc.store.count_references(),
        }

    @router.get("/version", tags=["service"])
    def get_version(svc: Svc) -> dict[str, Any]:
        """sigbench's version and the bundle's model fingerprint (no key needed)."""
        return {
            "sigbench": version(),
            "fingerprint": svc.bundle.fingerprint,
            "embedding_dim": svc.bundle.embedding_dim,
            "detector": svc.pipeline.detector is not None,
            "cleaner": svc.pipeline.cleaner is not None,
            "modes": list(MODES),
            "limits": {
                "max_bytes": svc.limits.max_bytes,
                "max_pixels": svc.limits.max_pixels,
                "max_pdf_pages": svc.limits.max_pdf_pages,
            },
        }

    # ---- identities -------------------------------------------------------------------------------

    @router.get("/identities", tags=["identities"], dependencies=[reader])
    def list_identities(
        svc: Svc,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        status: Annotated[str | None, Query(pattern="^(pending|enrolled)$")] = None,
    ) -> dict[str, Any]:
        """One page of identities and the total."""
        items = svc.store.list_identities(offset, limit, status)
        total = svc.store.count_identities(status)
        return {"total": total, "offset": offset, "limit": limit, "items": [identity_view(i) for i in items]}

    @router.post("/identities", tags=["identities"], status_code=201)
    def create_identity(svc: Svc, new: NewIdentity, caller: Enroller) -> dict[str, Any]:
        """A new identity (``pending`` until it has enough consistent references); 409 if it exists."""
        identity = svc.store.create_identity(new.external_id, new.name, new.metadata)
        svc.store.log_event("create_identity", caller.name, {"external_id": new.external_id})
        return identity_view(identity)

    @router.get("/identities/{external_id}", tags=["identities"], dependencies=[reader])
    def get_identity(svc: Svc, external_id: str) -> dict[str, Any]:
        """An identity with its references."""
        identity = svc.store.get_identity(external_id)
        references = svc.store.list_references(external_id)
        return {**identity_view(identity), "references": [reference_view(r) for r in references]}

    @router.patch("/identities/{external_id}", tags=["identities"])
    def rename_identity(svc: Svc, external_id: str, rename: Rename, caller: Enroller) -> dict[str, Any]:
        identity = svc.store.rename_identity(external_id, rename.name)
        svc.store.log_event("rename_identity", caller.name, {"external_id": external_id})
        return identity_view(identity)

    @router.delete("/identities/{external_id}", tags=["identities"])
    def delete_identity(svc: Svc, external_id: str, caller: Admin) -> dict[str, Any]:
        """Erase an identity: its references, crops, thumbnails, index entries and attributions."""
        removed = svc.delete_identity(external_id, caller.name)
        return {"deleted": external_id, "references": removed}

    @router.get("/identities/{external_id}/documents", tags=["documents"], dependencies=[reader])
    def signed_by(
        svc: Svc, external_id: str, threshold: Annotated[float | None, Query()] = None
    ) -> dict[str, Any]:
        """Stored document pages carrying a signature that matches the identity, best first."""
        from sigbench.service.identify import documents_signed_by

        hits = documents_signed_by(svc.store, svc.bundle, external_id, threshold)
        return {
            "external_id": external_id,
            "hits": [
                {**h.__dict__, "box": [round(v, 2) for v in h.box], "score": round(h.score, 6)} for h in hits
            ],
        }

    # ---- references -------------------------------------------------------------------------------

    @router.get("/identities/{external_id}/references", tags=["references"], dependencies=[reader])
    def list_references(svc: Svc, external_id: str) -> list[dict[str, Any]]:
        return [reference_view(r) for r in svc.store.list_references(external_id)]

    @router.post("/identities/{external_id}/references", tags=["references"], status_code=201)
    def add_references(
        request: Request,
        svc: Svc,
        external_id: Annotated[str, Depends(checked_id)],
        file: Annotated[UploadFile, File(description="signature image, page image or PDF")],
        caller: Enroller,
        kind: KindField = "auto",
        keep: Annotated[str | None, Form(description="indices to keep, e.g. 0,2 (default: all)")] = None,
        propose: Annotated[bool, Form(description="only list the signatures found, store nothing")] = False,
        name: Annotated[str, Form(max_length=200)] = "",
    ) -> Any:
        """Enrol from an upload: a signature image is one reference; on a page or PDF the detected
        signatures are proposed (``propose=true``) and those at ``keep`` are added. The identity is
        created when new."""
        upload = read_upload(request, file)
        if propose:
            return {"proposed": svc.proposals(upload, kind)}
        indices = _indices(keep)
        result = svc.enrol_upload(external_id, upload, kind, indices, name, caller.name)
        return result.to_dict()

    @router.post("/identities/{external_id}/references/from-detections", tags=["references"], status_code=201)
    def add_from_detections(
        svc: Svc,
        external_id: Annotated[str, Depends(checked_id)],
        keep: Annotated[KeepDetections, Body()],
        caller: Enroller,
    ) -> dict[str, Any]:
        """Keep signatures found on an uploaded document (``POST /documents``) as references."""
        return svc.enrol_detections(external_id, keep.detection_ids, keep.name, caller.name).to_dict()

    @router.delete("/references/{reference_id}", tags=["references"])
    def delete_reference(svc: Svc, reference_id: int, caller: Enroller) -> dict[str, Any]:
        """Erase one reference; the identity's status is re-checked."""
        external_id, status = svc.delete_reference(reference_id, caller.name)
        return {"deleted_reference": reference_id, "external_id": external_id, "status": status}

    @router.get("/references/{reference_id}/thumbnail.png", tags=["references"], dependencies=[reader])
    def reference_thumbnail(svc: Svc, reference_id: int) -> Response:
        return png(svc.store.get_reference(reference_id).thumbnail_png)

    @router.get("/references/{reference_id}/crop.png", tags=["references"], dependencies=[reader])
    def reference_crop(svc: Svc, reference_id: int) -> Response:
        return png(svc.store.reference_crop(reference_id))

    # ---- decisions --------------------------------------------------------------------------------

    @router.post("/verify", tags=["decisions"])
    def verify(
        request: Request,
        svc: Svc,
        external_id: Annotated[str, Form(description="the identity the signature claims to be")],
        file: Annotated[UploadFile, File()],
        caller: Reader,
        kind: KindField = "auto",
        mode: Annotated[str, Form(description=f"one of {', '.join(MODES)}")] = "distance",
    ) -> dict[str, Any]:
        """accept / refer / reject for each signature on the upload, with the score, both thresholds,
        per-reference scores, the best reference and the model fingerprint; written to the audit log."""
        if mode not in MODES:
            raise ApiError(422, f"mode={mode!r}: expected one of {', '.join(MODES)}")
        upload = read_upload(request, file)
        decisions, processed = svc.verify_upload(external_id, upload, kind, mode, caller.name)
        return {
            "document": processed_view(svc, processed),
            "decisions": [
                {**d.to_dict(), "detection_id": i}
                for d, i in zip(decisions, processed.detection_ids, strict=True)
            ],
        }

    @router.post("/identify", tags=["decisions"])
    def identify(
        request: Request,
        svc: Svc,
        file: Annotated[UploadFile, File()],
        caller: Reader,
        kind: KindField = "auto",
        k: Annotated[int, Form(ge=1, le=50)] = 5,
        threshold: Annotated[float | None, Form()] = None,
    ) -> dict[str, Any]:
        """Top-k identities for each signature on the upload, or ``unknown``; written to the audit log."""
        upload = read_upload(request, file)
        results, processed = svc.identify_upload(upload, kind, k, threshold, actor=caller.name)
        return {
            "document": processed_view(svc, processed),
            "identifications": [
                {**r.to_dict(), "detection_id": i}
                for r, i in zip(results, processed.detection_ids, strict=True)
            ],
        }

    # ---- documents --------------------------------------------------------------------------------

    @router.post("/documents", tags=["documents"], status_code=201)
    def upload_document(
        request: Request,
        svc: Svc,
        file: Annotated[UploadFile, File()],
        caller: Enroller,
        kind: KindField = "auto",
        inline_crops: Annotated[bool, Form(description="include each crop as base64 PNG")] = False,
    ) -> dict[str, Any]:
        """Store a document and the signatures found on it (boxes, scores, crops, embeddings)."""
        upload = read_upload(request, file)
        processed = svc.process(upload, kind)
        svc.store.log_event(
            "document", caller.name, {"sha256": upload.sha256, "detections": processed.detection_ids}
        )
        detections = [svc.store.get_detection(i) for i in processed.detection_ids]
        out = []
        for detection in detections:
            view = detection_view(detection)
            if inline_crops:
                view["crop_png_base64"] = base64.b64encode(svc.store.detection_crop(detection.id)).decode()
            out.append(view)
        return {**processed_view(svc, processed), "detections": out}

    @router.get("/documents", tags=["documents"], dependencies=[reader])
    def list_documents(
        svc: Svc,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        items = svc.store.list_documents(offset, limit)
        return {
            "offset": offset,
            "limit": limit,
            "items": [
                {"sha256": d.sha256, "name": d.name, "n_pages": d.n_pages, "created_at": d.created_at}
                for d in items
            ],
        }

    @router.get("/documents/{sha256}", tags=["documents"], dependencies=[reader])
    def get_document(svc: Svc, sha256: str) -> dict[str, Any]:
        document = svc.store.get_document(sha256)
        detections = svc.store.list_detections(document.id)
        return {
            "sha256": document.sha256,
            "name": document.name,
            "n_pages": document.n_pages,
            "created_at": document.created_at,
            "detections": [detection_view(d) for d in detections],
        }

    @router.get("/detections/{detection_id}/crop.png", tags=["documents"], dependencies=[reader])
    def detection_crop(svc: Svc, detection_id: int) -> Response:
        return png(svc.store.detection_crop(detection_id))

    @router.post("/detect", tags=["documents"], dependencies=[reader])
    def detect(request: Request, svc: Svc, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        """Signatures found on a page image or PDF: boxes, scores and crops (base64 PNG); nothing stored."""
        upload = read_upload(request, file)
        document, pages = svc.detect(upload)
        return {
            "name": upload.name,
            "sha256": upload.sha256,
            "n_pages": len(pages),
            "skipped": document.skipped,
            "detections": [
                {
                    **s.provenance.to_dict(),
                    "crop_png_base64": base64.b64encode(s.crop_png()).decode(),
                }
                for s in document.signatures
            ],
        }

    # ---- audit ------------------------------------------------------------------------------------

    @router.get("/audit", tags=["audit"], dependencies=[admin])
    def audit(
        svc: Svc,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        kind: str | None = None,
    ) -> dict[str, Any]:
        """Audit events, oldest first: every decision with its actor (the key's name)."""
        events = svc.store.list_audit(offset, limit, kind)
        return {
            "total": svc.store.count_audit(kind),
            "offset": offset,
            "limit": limit,
            "items": [e.__dict__ for e in events],
        }

    return router


def checked_id(external_id: str) -> str:
    """An identity id as the API accepts it (it appears in URLs and the audit log)."""
    if not re.match(ID_PATTERN, external_id):
        raise ApiError(
            422,
            f"external_id {external_id!r}: expected 1-128 characters, letters, digits and _ . @ : - "
            "(starting with a letter or digit)",
        )
    return external_id


def _indices(keep: str | None) -> list[int] | None:
    if keep is None or not keep.strip():
        return None
    try:
        return [int(v) for v in keep.split(",") if v.strip()]
    except ValueError:
        raise ApiError(422, f"keep={keep!r}: expected comma-separated indices such as 0,2") from None
