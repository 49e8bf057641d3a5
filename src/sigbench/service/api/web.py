"""The web page: server-rendered pages for a reviewer, on the same service as the JSON API.

Login takes an API key once; the session cookie (signed, HTTP-only, SameSite=strict) then holds the key's
id, name and role -- never the key -- and every request checks that the key still exists (revoking it ends
its sessions). Roles guard the pages as they guard the API. Images are served by id through
session-checked routes; a page just uploaded is shown from memory as a downscaled JPEG data URI (pages are
not stored, only the signatures found on them).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from sigbench.service.bundle import MODES
from sigbench.service.identify import documents_signed_by, identify

from .auth import Caller, role_allows
from .deps import allow, read_upload, service
from .errors import ApiError
from .routes import PREFIX, checked_id, png
from .service import Processed, Service

HERE = Path(__file__).parent / "web"
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
PREVIEW_WIDTH = 900
PAGE_SIZE = 25
OUTCOME_WORDS = {
    "accept": "Accepted: the signature matches the references",
    "refer": "Refer to a person: the score is between the thresholds",
    "reject": "Rejected: the signature does not match the references",
}


class LoginRequired(Exception):  # noqa: N818 (a redirect, not an error)
    """No valid session: the handler redirects to the login form."""


def caller_of(request: Request) -> Caller | None:
    """The session's caller when its key still exists with the same name and role."""
    session = request.session
    key_id, name, role = session.get("key_id"), session.get("name"), session.get("role")
    if not key_id:
        return None
    for key in request.app.state.keyring.list():
        if key.id == key_id and key.name == name and key.role == role:
            return Caller(name, role, key_id)
    session.clear()
    return None


def need(role: str) -> Callable[[Request], Caller]:
    def dependency(request: Request) -> Caller:
        caller = caller_of(request)
        if caller is None:
            raise LoginRequired
        return allow(caller, role)

    return dependency


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    caller = caller_of(request)
    context.update(
        caller=caller,
        can=lambda role: caller is not None and role_allows(caller.role, role),
        nav=request.url.path.split("/")[1] if request.url.path != "/" else "",
        words=OUTCOME_WORDS,
        flash=request.session.pop("flash", None),
    )
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def web_aware(
    json_handler: Callable[[Request, Any], Awaitable[Response]],
) -> Callable[[Request, Any], Awaitable[Response]]:
    """Errors under ``/api/`` (and the docs) as JSON, on the page as an HTML page saying the same."""

    async def handler(request: Request, exc: Any) -> Response:
        path = request.url.path
        if isinstance(exc, LoginRequired):
            return RedirectResponse(f"/login?next={path}", status_code=303)
        if path.startswith(PREFIX) or path.startswith(("/docs", "/openapi", "/static")):
            return await json_handler(request, exc)
        response = await json_handler(request, exc)  # the same status and message, as a page
        error = json.loads(bytes(response.body))["error"]
        return render(request, "error.html", error["status"], error=error)

    return handler


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def preview(page: np.ndarray) -> dict[str, Any]:
    """A page as a JPEG data URI at most :data:`PREVIEW_WIDTH` wide, with its full size for the boxes."""
    height, width = page.shape[:2]
    scale = min(1.0, PREVIEW_WIDTH / width)
    small = cv2.resize(page, (max(1, round(width * scale)), max(1, round(height * scale))), cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    if not ok:
        raise ApiError(422, "cannot encode the page preview")
    return {
        "uri": "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode(),
        "w": width,
        "h": height,
    }


def boxes_on_pages(svc: Service, processed: Processed) -> list[dict[str, Any]]:
    """Each page's preview with its detections as percentages of the page (CSS overlays)."""
    pages = [{"number": i + 1, **preview(p), "boxes": []} for i, p in enumerate(processed.pages)]
    for index, (signature, det_id) in enumerate(
        zip(processed.document.signatures, processed.detection_ids, strict=True)
    ):
        where = signature.provenance
        page = pages[where.page - 1]
        x0, y0, x1, y1 = where.box or (0, 0, page["w"], page["h"])
        page["boxes"].append(
            {
                "index": index,
                "detection_id": det_id,
                "score": where.detector_score,
                "left": 100 * x0 / page["w"],
                "top": 100 * y0 / page["h"],
                "width": 100 * (x1 - x0) / page["w"],
                "height": 100 * (y1 - y0) / page["h"],
            }
        )
    return pages


def score_bar(score: float, reject: float, accept: float) -> dict[str, float]:
    """Where the score and both thresholds sit on a bar spanning the interesting range (percent)."""
    low = min(score, reject) - 0.1 * max(accept - reject, 0.05)
    high = max(score, accept) + 0.1 * max(accept - reject, 0.05)
    span = high - low if high > low else 1.0

    def at(value: float) -> float:
        return round(100 * (value - low) / span, 2)

    return {"score": at(score), "reject": at(reject), "accept": at(accept)}


# --------------------------------------------------------------------------------------------- routes

Svc = Annotated[Service, Depends(service)]
Reader = Annotated[Caller, Depends(need("read"))]
Enroller = Annotated[Caller, Depends(need("enrol"))]
Admin = Annotated[Caller, Depends(need("admin"))]


def build_web_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    # ---- session ----------------------------------------------------------------------------------

    @router.get("/login")
    def login_form(request: Request, target: Annotated[str, Query(alias="next")] = "/") -> HTMLResponse:
        return render(request, "login.html", next=_local(target))

    @router.post("/login")
    def login(
        request: Request, key: Annotated[str, Form()], target: Annotated[str, Form(alias="next")] = "/"
    ) -> Response:
        ring = request.app.state.keyring
        caller = ring.authenticate(key)
        if caller is None:
            return render(
                request, "login.html", 401, next=_local(target), error="That key is not recognised."
            )
        request.session.clear()
        request.session.update(key_id=caller.key_id, name=caller.name, role=caller.role)
        return RedirectResponse(_local(target), status_code=303)

    @router.post("/logout")
    def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @router.get("/")
    def home(caller: Reader) -> Response:
        return RedirectResponse("/identities", status_code=303)

    # ---- identities -------------------------------------------------------------------------------

    @router.get("/identities")
    def identities(
        request: Request, svc: Svc, caller: Reader, page: Annotated[int, Query(ge=1)] = 1
    ) -> HTMLResponse:
        total = svc.store.count_identities()
        items = svc.store.list_identities((page - 1) * PAGE_SIZE, PAGE_SIZE)
        thumbs = {i.external_id: [r.id for r in svc.store.list_references(i.external_id)[:4]] for i in items}
        return render(
            request,
            "identities.html",
            items=items,
            thumbs=thumbs,
            page=page,
            pages=max(1, math.ceil(total / PAGE_SIZE)),
            total=total,
        )

    @router.post("/identities")
    def create_identity(
        request: Request,
        svc: Svc,
        caller: Enroller,
        external_id: Annotated[str, Form()],
        name: Annotated[str, Form()] = "",
    ) -> Response:
        svc.store.create_identity(checked_id(external_id.strip()), name.strip(), {})
        svc.store.log_event("create_identity", caller.name, {"external_id": external_id})
        flash(request, f"Identity {external_id} created. Enrol reference signatures next.")
        return RedirectResponse(f"/enrol?external_id={external_id}", status_code=303)

    @router.get("/identities/{external_id}")
    def identity(request: Request, svc: Svc, caller: Reader, external_id: str) -> HTMLResponse:
        person = svc.store.get_identity(external_id)
        references = svc.store.list_references(external_id)
        hits, search_error = [], ""
        if references:
            try:
                hits = documents_signed_by(svc.store, svc.bundle, external_id)
            except ValueError as exc:  # e.g. an uncalibrated bundle
                search_error = str(exc)
        return render(
            request,
            "identity.html",
            person=person,
            references=references,
            hits=hits,
            search_error=search_error,
        )

    @router.post("/identities/{external_id}/rename")
    def rename(
        request: Request, svc: Svc, caller: Enroller, external_id: str, name: Annotated[str, Form()]
    ) -> Response:
        svc.store.rename_identity(external_id, name.strip())
        svc.store.log_event("rename_identity", caller.name, {"external_id": external_id})
        flash(request, f"Renamed {external_id}.")
        return RedirectResponse(f"/identities/{external_id}", status_code=303)

    @router.post("/identities/{external_id}/delete")
    def delete_identity(request: Request, svc: Svc, caller: Admin, external_id: str) -> Response:
        removed = svc.delete_identity(external_id, caller.name)
        flash(request, f"Deleted {external_id} and its {removed} reference signatures.")
        return RedirectResponse("/identities", status_code=303)

    @router.post("/references/{reference_id}/delete")
    def delete_reference(request: Request, svc: Svc, caller: Enroller, reference_id: int) -> Response:
        external_id, status = svc.delete_reference(reference_id, caller.name)
        flash(request, f"Reference {reference_id} deleted; {external_id} is now {status}.")
        return RedirectResponse(f"/identities/{external_id}", status_code=303)

    # ---- enrolment --------------------------------------------------------------------------------

    @router.get("/enrol")
    def enrol_form(request: Request, svc: Svc, caller: Enroller, external_id: str = "") -> HTMLResponse:
        known = svc.store.list_identities(0, 1000)
        return render(request, "enrol.html", known=known, external_id=external_id)

    @router.post("/enrol")
    def enrol_upload(
        request: Request,
        svc: Svc,
        caller: Enroller,
        external_id: Annotated[str, Form()],
        file: Annotated[UploadFile, File()],
        name: Annotated[str, Form()] = "",
        kind: Annotated[str, Form()] = "auto",
    ) -> HTMLResponse:
        external_id = checked_id(external_id.strip())
        upload = read_upload(request, file)
        processed = svc.process(upload, kind)
        svc.store.log_event(
            "document", caller.name, {"sha256": upload.sha256, "detections": processed.detection_ids}
        )
        return render(
            request,
            "enrol_choose.html",
            external_id=external_id,
            name=name.strip(),
            document=processed.document,
            pages=boxes_on_pages(svc, processed),
            detection_ids=processed.detection_ids,
        )

    @router.post("/enrol/keep")
    def enrol_keep(
        request: Request,
        svc: Svc,
        caller: Enroller,
        external_id: Annotated[str, Form()],
        detection_ids: Annotated[list[int], Form()],
        name: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        result = svc.enrol_detections(external_id, detection_ids, name, caller.name)
        references = svc.store.list_references(external_id)
        return render(
            request,
            "enrol_result.html",
            result=result,
            references=references,
            person=svc.store.get_identity(external_id),
        )

    # ---- verification and identification ----------------------------------------------------------

    @router.get("/verify")
    def verify_form(request: Request, svc: Svc, caller: Reader, external_id: str = "") -> HTMLResponse:
        known = svc.store.list_identities(0, 1000, "enrolled")
        return render(request, "verify.html", known=known, external_id=external_id, modes=MODES)

    @router.post("/verify")
    def verify(
        request: Request,
        svc: Svc,
        caller: Reader,
        external_id: Annotated[str, Form()],
        file: Annotated[UploadFile, File()],
        mode: Annotated[str, Form()] = "distance",
        kind: Annotated[str, Form()] = "auto",
    ) -> HTMLResponse:
        if mode not in MODES:
            raise ApiError(422, f"mode={mode!r}: expected one of {', '.join(MODES)}")
        upload = read_upload(request, file)
        decisions, processed = svc.verify_upload(external_id, upload, kind, mode, caller.name)
        references = {r.id: r for r in svc.store.list_references(external_id)}
        rows = []
        for decision, det_id in zip(decisions, processed.detection_ids, strict=True):
            ranked = sorted(decision.reference_scores.items(), key=lambda kv: -kv[1])
            rows.append(
                {
                    "decision": decision,
                    "detection_id": det_id,
                    "bar": score_bar(decision.score, decision.reject_threshold, decision.accept_threshold),
                    "references": [(references[i], s) for i, s in ranked if i in references],
                }
            )
        return render(
            request,
            "verify_result.html",
            rows=rows,
            person=svc.store.get_identity(external_id),
            document=processed.document,
        )

    @router.get("/identify")
    def identify_form(request: Request, caller: Reader) -> HTMLResponse:
        return render(request, "identify.html")

    @router.post("/identify")
    def identify_upload(
        request: Request,
        svc: Svc,
        caller: Reader,
        file: Annotated[UploadFile, File()],
        kind: Annotated[str, Form()] = "auto",
    ) -> HTMLResponse:
        upload = read_upload(request, file)
        results, processed = svc.identify_upload(upload, kind, 5, actor=caller.name)
        return render(
            request,
            "identify_result.html",
            rows=list(zip(results, processed.detection_ids, strict=True)),
            document=processed.document,
            names={i.external_id: i.name for i in svc.store.list_identities(0, 1000)},
        )

    # ---- documents --------------------------------------------------------------------------------

    @router.get("/documents")
    def documents(
        request: Request, svc: Svc, caller: Reader, page: Annotated[int, Query(ge=1)] = 1
    ) -> HTMLResponse:
        items = svc.store.list_documents((page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        return render(
            request, "documents.html", items=items[:PAGE_SIZE], page=page, more=len(items) > PAGE_SIZE
        )

    @router.post("/documents")
    def upload_document(
        request: Request,
        svc: Svc,
        caller: Enroller,
        file: Annotated[UploadFile, File()],
        kind: Annotated[str, Form()] = "auto",
    ) -> HTMLResponse:
        upload = read_upload(request, file)
        processed = svc.process(upload, kind)
        svc.store.log_event(
            "document", caller.name, {"sha256": upload.sha256, "detections": processed.detection_ids}
        )
        return _document_page(request, svc, upload.sha256, caller, pages=boxes_on_pages(svc, processed))

    @router.get("/documents/{sha256}")
    def document(request: Request, svc: Svc, caller: Reader, sha256: str, who: bool = False) -> HTMLResponse:
        return _document_page(request, svc, sha256, caller, who=who)

    # ---- audit log --------------------------------------------------------------------------------

    @router.get("/audit")
    def audit(
        request: Request,
        svc: Svc,
        caller: Admin,
        page: Annotated[int, Query(ge=1)] = 1,
        kind: str | None = None,
    ) -> HTMLResponse:
        kind = kind or None
        total = svc.store.count_audit(kind)
        end = max(total - (page - 1) * PAGE_SIZE, 0)  # newest first
        start = max(end - PAGE_SIZE, 0)
        events = list(reversed(svc.store.list_audit(start, end - start, kind))) if end > start else []
        return render(
            request,
            "audit.html",
            events=events,
            page=page,
            pages=max(1, math.ceil(total / PAGE_SIZE)),
            total=total,
            kind=kind or "",
            kinds=("verify", "identify", "enrol", "document", "delete_identity", "delete_reference"),
        )

    # ---- images (session-checked) -----------------------------------------------------------------

    @router.get("/img/reference/{reference_id}/thumbnail.png")
    def reference_thumbnail(svc: Svc, caller: Reader, reference_id: int) -> Response:
        return png(svc.store.get_reference(reference_id).thumbnail_png)

    @router.get("/img/reference/{reference_id}/crop.png")
    def reference_crop(svc: Svc, caller: Reader, reference_id: int) -> Response:
        return png(svc.store.reference_crop(reference_id))

    @router.get("/img/detection/{detection_id}.png")
    def detection_crop(svc: Svc, caller: Reader, detection_id: int) -> Response:
        return png(svc.store.detection_crop(detection_id))

    return router


def _document_page(
    request: Request,
    svc: Service,
    sha256: str,
    caller: Caller,
    pages: list[dict[str, Any]] | None = None,
    who: bool = False,
) -> HTMLResponse:
    stored = svc.store.get_document(sha256)
    detections = svc.store.list_detections(stored.id)
    answers: dict[int, Any] = {}
    if who:
        ids, matrix = svc.store.detections_embeddings(stored.id)
        by_id = {d.id: d for d in detections}
        signatures = [svc.stored_signature(by_id[int(i)], row) for i, row in zip(ids, matrix, strict=True)]
        if signatures:
            results = identify(svc.store, svc.bundle, signatures, 3, actor=caller.name)
            answers = {int(i): r for i, r in zip(ids, results, strict=True)}
    return render(
        request,
        "document.html",
        stored=stored,
        detections=detections,
        pages=pages or [],
        answers=answers,
        who=who,
    )


def _local(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
