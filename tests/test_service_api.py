"""The HTTP API through FastAPI's test client: every operation, and every way a request is refused.

The service runs on the cached calibrated test bundle (``tests/service_helpers.py``) with the annotated
stand-in detector, on synthesised pages whose writers are known; limits are small so the refusals are
cheap to provoke. Scores are checked against values computed here from the stored embeddings.
"""

from __future__ import annotations

import base64
import html
import io
import json
import struct
import zlib
from itertools import count
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip(
    "fastapi", reason="the HTTP API needs the service extra (pip install 'sigbench[service]')"
)
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from fastapi.testclient import TestClient

from sigbench.data.synthetic import render_raw_scan
from sigbench.service.api import create_app
from sigbench.service.api.auth import KeyRing, KeysError, role_allows
from sigbench.service.api.uploads import Limits, display_name, sniff
from sigbench.service.synthetic import Signed
from tests.service_helpers import (
    DIFFICULTY,
    AnnotatedDetector,
    calibrated_bundle,
    page_pipeline,
    write_signed_page,
)

API = "/api/v1"
LIMITS = Limits(max_bytes=3_000_000, max_pixels=2_000_000, max_pdf_pages=3, dpi=72)
ROLES = {"reader": "read", "clerk": "enrol", "boss": "admin"}
_page_index = count(500)


def make_service(folder: Path, min_references: int = 3, limits: Limits = LIMITS):
    """(app, keys by name, detector, folder) for a fresh store on the cached test bundle."""
    bundle_path = calibrated_bundle()
    _, pipeline, detector = page_pipeline(bundle_path)
    ring = KeyRing(folder / "keys.json")
    keys = {name: ring.add(name, role) for name, role in ROLES.items()}
    app = create_app(
        bundle_path,
        folder / "store.db",
        folder / "keys.json",
        limits=limits,
        min_references=min_references,
        pipeline=pipeline,
        session_secret="test-secret",
    )
    return app, keys, detector


def page_file(folder: Path, detector, writer: int, sample: int, forgery: bool = False) -> Path:
    """A synthesised page signed by ``writer`` (the detector knows its box)."""
    index = next(_page_index)
    name = f"{'forgery' if forgery else 'page'}_{writer}_{sample}_{index}"
    return write_signed_page(folder, name, [Signed(writer, sample, forgery)], index, detector)


def signature_png(writer: int, sample: int) -> bytes:
    return cv2.imencode(".png", render_raw_scan(writer, sample, False, DIFFICULTY, 0))[1].tobytes()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` grey pixels and holds none (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def pdf_bytes(pages: int, size: tuple[int, int] = (60, 40), resolution: float = 72.0) -> bytes:
    from PIL import Image

    images = [Image.new("L", size, 255) for _ in range(pages)]
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=resolution)
    return out.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A client on a fresh store with W60 enrolled from three pages (one upload per page)."""
    folder = tmp_path_factory.mktemp("api")
    app, keys, detector = make_service(folder)
    with TestClient(app) as client:
        results = []
        for sample in range(3):
            page = page_file(folder, detector, 60, sample)
            response = client.post(
                f"{API}/identities/W60/references",
                headers={"X-API-Key": keys["clerk"]},
                files={"file": (page.name, page.read_bytes(), "image/png")},
                data={"kind": "page", "name": "Writer Sixty"},
            )
            assert response.status_code == 201, response.text
            results.append(response.json())
        yield {"client": client, "keys": keys, "detector": detector, "folder": folder, "enrolment": results}


def key(world, name: str) -> dict[str, str]:
    return {"X-API-Key": world["keys"][name]}


def upload(path: Path, name: str | None = None, content_type: str = "image/png") -> dict:
    return {"file": (name or path.name, path.read_bytes(), content_type)}


def error_of(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == response.status_code
    return body["error"]["message"]


# --------------------------------------------------------------------------------------------- basics


def test_health_and_version_need_no_key(world):
    client = world["client"]
    health = client.get(f"{API}/health").json()
    assert health["status"] == "ok" and health["identities"] == 1 and health["references"] == 3
    version = client.get(f"{API}/version").json()
    assert version["fingerprint"] == client.app.state.service.bundle.fingerprint
    assert version["limits"]["max_pdf_pages"] == LIMITS.max_pdf_pages


def test_openapi_documents_the_routes(world):
    schema = world["client"].get("/openapi.json").json()
    for path in ("/identities", "/verify", "/identify", "/documents", "/detect", "/audit"):
        assert f"{API}{path}" in schema["paths"]
    assert "APIKeyHeader" in schema["components"]["securitySchemes"]
    assert world["client"].get("/docs").status_code == 200


def test_enrolment_from_pages_reaches_enrolled(world):
    statuses = [r["status"] for r in world["enrolment"]]
    assert statuses == ["pending", "pending", "enrolled"]
    person = world["client"].get(f"{API}/identities/W60", headers=key(world, "reader")).json()
    assert person["name"] == "Writer Sixty" and person["n_references"] == 3
    assert [r["provenance"]["page"] for r in person["references"]] == [1, 1, 1]
    thumb = world["client"].get(person["references"][0]["thumbnail_url"], headers=key(world, "reader"))
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")


# --------------------------------------------------------------------------------------------- decisions


def test_verify_serialises_the_core_decision(world):
    client, store = world["client"], world["client"].app.state.service.store
    page = page_file(world["folder"], world["detector"], 60, 8)
    response = client.post(
        f"{API}/verify", headers=key(world, "reader"), files=upload(page), data={"external_id": "W60"}
    )
    assert response.status_code == 200, response.text
    (decision,) = response.json()["decisions"]
    # independent computation from the stored embeddings: cosine similarities and their mean
    ref_ids, refs = store.references_embeddings("W60")
    det_ids, dets = store.detections_embeddings()
    query = dets[list(det_ids).index(decision["detection_id"])]
    similarities = refs @ query
    assert decision["reference_scores"] == {
        str(i): pytest.approx(s, abs=1e-5) for i, s in zip(ref_ids, similarities, strict=True)
    }
    assert decision["score"] == pytest.approx(similarities.mean(), abs=1e-5)
    assert decision["best_reference_id"] == int(ref_ids[np.argmax(similarities)])
    accept, reject = decision["accept_threshold"], decision["reject_threshold"]
    expected = (
        "accept" if decision["score"] >= accept else "reject" if decision["score"] < reject else "refer"
    )
    assert decision["outcome"] == expected
    assert decision["query"]["box"] is not None and decision["query"]["page"] == 1
    # the audit log has it, with the key's name
    audit = client.get(f"{API}/audit", headers=key(world, "boss"), params={"kind": "verify"}).json()
    event = next(e for e in audit["items"] if e["id"] == decision["audit_id"])
    assert event["actor"] == "reader" and event["payload"]["score"] == decision["score"]


def test_genuine_scores_above_other_writers(world):
    """Scores through the API mean something: W60's own signatures score above other writers' (random
    forgeries; separated almost perfectly by the test extractor, see test_service_flow). Means of two
    each: one pair alone can swap on a small extractor, and skilled forgeries are the flow tests' job."""
    client = world["client"]
    scores: dict[bool, list[float]] = {True: [], False: []}
    for writer, sample in ((60, 8), (60, 9), (61, 0), (62, 0)):
        page = page_file(world["folder"], world["detector"], writer, sample)
        response = client.post(
            f"{API}/verify", headers=key(world, "reader"), files=upload(page), data={"external_id": "W60"}
        )
        assert response.status_code == 200, response.text
        scores[writer == 60].append(response.json()["decisions"][0]["score"])
    assert np.mean(scores[True]) > np.mean(scores[False]), scores


def test_identify_finds_the_writer_and_logs_it(world):
    client = world["client"]
    page = page_file(world["folder"], world["detector"], 60, 7)
    response = client.post(f"{API}/identify", headers=key(world, "reader"), files=upload(page), data={"k": 3})
    assert response.status_code == 200, response.text
    (result,) = response.json()["identifications"]
    assert result["candidates"][0]["external_id"] == "W60"
    audit = client.get(f"{API}/audit", headers=key(world, "boss"), params={"kind": "identify"}).json()
    assert audit["items"][-1]["actor"] == "reader"


def test_documents_detect_and_enrol_from_detections(world):
    client, detector, folder = world["client"], world["detector"], world["folder"]
    page = page_file(folder, detector, 61, 0)
    stored = client.post(
        f"{API}/documents", headers=key(world, "clerk"), files=upload(page), data={"inline_crops": "true"}
    )
    assert stored.status_code == 201, stored.text
    body = stored.json()
    (detection,) = body["detections"]
    rgb = np.ascontiguousarray(cv2.imread(str(page))[:, :, ::-1])
    (annotated,) = detector.boxes[AnnotatedDetector._key(rgb)]
    assert detection["box"] == pytest.approx(annotated.tolist(), abs=0.01)
    crop = cv2.imdecode(np.frombuffer(base64.b64decode(detection["crop_png_base64"]), np.uint8), 0)
    x0, y0, x1, y1 = detection["box"]
    assert crop.shape == (int(np.ceil(y1)) - int(np.floor(y0)), int(np.ceil(x1)) - int(np.floor(x0)))
    listed = client.get(f"{API}/documents/{body['sha256']}", headers=key(world, "reader")).json()
    assert [d["id"] for d in listed["detections"]] == [detection["id"]]
    # the stateless detector finds the same box and stores nothing
    before = client.get(f"{API}/documents", headers=key(world, "reader")).json()["items"]
    detected = client.post(f"{API}/detect", headers=key(world, "reader"), files=upload(page)).json()
    assert [d["box"] for d in detected["detections"]] == [detection["box"]]
    assert client.get(f"{API}/documents", headers=key(world, "reader")).json()["items"] == before
    # keep the detection as W61's first reference: the detection is attributed to it
    kept = client.post(
        f"{API}/identities/W61/references/from-detections",
        headers=key(world, "clerk"),
        json={"detection_ids": [detection["id"]], "name": "Writer 61"},
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["status"] == "pending" and len(kept.json()["added"]) == 1
    linked = client.get(f"{API}/documents/{body['sha256']}", headers=key(world, "reader")).json()
    assert linked["detections"][0]["external_id"] == "W61"
    assert linked["detections"][0]["reference_id"] == kept.json()["added"][0]
    hits = client.get(f"{API}/identities/W61/documents", headers=key(world, "reader")).json()["hits"]
    assert body["sha256"] in {h["document_sha256"] for h in hits}


def test_propose_then_keep_by_index(world):
    client, folder, detector = world["client"], world["folder"], world["detector"]
    page = page_file(folder, detector, 62, 1)
    proposed = client.post(
        f"{API}/identities/W62/references",
        headers=key(world, "clerk"),
        files=upload(page),
        data={"propose": "true"},
    )
    assert proposed.status_code == 201 and len(proposed.json()["proposed"]) == 1
    assert (
        client.get(f"{API}/identities/W62", headers=key(world, "reader")).status_code == 404
    )  # nothing stored
    kept = client.post(
        f"{API}/identities/W62/references",
        headers=key(world, "clerk"),
        files=upload(page),
        data={"keep": "0"},
    )
    assert kept.status_code == 201 and len(kept.json()["added"]) == 1
    again = client.post(
        f"{API}/identities/W62/references",
        headers=key(world, "clerk"),
        files=upload(page),
        data={"keep": "0"},
    )
    assert again.json()["added"] == [] and "same pixels" in again.json()["refused"][0]
    bad = client.post(
        f"{API}/identities/W62/references",
        headers=key(world, "clerk"),
        files=upload(page),
        data={"keep": "5"},
    )
    assert bad.status_code == 422 and "out of range" in error_of(bad)


# --------------------------------------------------------------------------------------------- identities


def test_identity_create_rename_page_and_delete(world):
    client = world["client"]
    for external_id in ("P-1", "P-2", "P-3"):
        made = client.post(
            f"{API}/identities", headers=key(world, "clerk"), json={"external_id": external_id, "name": "x"}
        )
        assert made.status_code == 201 and made.json()["status"] == "pending"
    duplicate = client.post(f"{API}/identities", headers=key(world, "clerk"), json={"external_id": "P-1"})
    assert duplicate.status_code == 409 and "P-1" in error_of(duplicate)
    bad = client.post(f"{API}/identities", headers=key(world, "clerk"), json={"external_id": "../etc"})
    assert bad.status_code == 422 and "external_id" in error_of(bad)
    total = client.get(f"{API}/identities", headers=key(world, "reader")).json()["total"]
    first = client.get(f"{API}/identities", headers=key(world, "reader"), params={"limit": 2}).json()
    rest = client.get(
        f"{API}/identities", headers=key(world, "reader"), params={"offset": 2, "limit": 1000}
    ).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == total - 2
    assert {i["external_id"] for i in first["items"]}.isdisjoint({i["external_id"] for i in rest["items"]})
    renamed = client.patch(f"{API}/identities/P-2", headers=key(world, "clerk"), json={"name": "Second"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Second"
    gone = client.delete(f"{API}/identities/P-3", headers=key(world, "boss"))
    assert gone.json() == {"deleted": "P-3", "references": 0}
    assert client.get(f"{API}/identities/P-3", headers=key(world, "reader")).status_code == 404


def test_delete_reference_rechecks_and_delete_identity_erases(tmp_path):
    app, keys, detector = make_service(tmp_path, min_references=2)
    clerk, boss = {"X-API-Key": keys["clerk"]}, {"X-API-Key": keys["boss"]}
    with TestClient(app) as client:
        for sample in range(2):
            page = page_file(tmp_path, detector, 63, sample)
            response = client.post(f"{API}/identities/W63/references", headers=clerk, files=upload(page))
            assert response.status_code == 201, response.text
        assert response.json()["status"] == "enrolled"
        refs = client.get(f"{API}/identities/W63/references", headers=clerk).json()
        deleted = client.delete(f"{API}/references/{refs[0]['id']}", headers=clerk)
        assert deleted.json() == {
            "deleted_reference": refs[0]["id"],
            "external_id": "W63",
            "status": "pending",
        }
        assert client.get(refs[0]["thumbnail_url"], headers=clerk).status_code == 404
        erased = client.delete(f"{API}/identities/W63", headers=boss)
        assert erased.json() == {"deleted": "W63", "references": 1}
        assert client.get(refs[1]["crop_url"], headers=clerk).status_code == 404
        assert app.state.service.store.search(
            np.eye(1, app.state.service.store.dim, dtype=np.float32), 5
        ) == [[]]
        events = client.get(f"{API}/audit", headers=boss, params={"kind": "delete_identity"}).json()["items"]
        assert events[-1]["actor"] == "boss" and events[-1]["payload"]["external_id"] == "W63"


# --------------------------------------------------------------------------------------------- refusals


def test_no_key_or_bad_key_is_401(world):
    client = world["client"]
    assert client.get(f"{API}/identities").status_code == 401
    bad = client.get(f"{API}/identities", headers={"X-API-Key": "sbk_00000000_" + "A" * 43})
    assert bad.status_code == 401 and "not recognised" in error_of(bad)
    anonymous = client.post(f"{API}/verify", files={"file": ("a.png", signature_png(60, 0))})
    assert anonymous.status_code == 401 and "X-API-Key" in error_of(anonymous)


def test_anonymous_upload_is_refused_before_its_body_is_read(world):
    sent = []

    def body():
        for _ in range(200):
            sent.append(1)
            yield b"x" * 65536

    response = world["client"].post(
        f"{API}/documents", content=body(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 401
    assert len(sent) <= 2  # 200 chunks were on offer


def test_page_upload_without_session_goes_to_login_unread(world):
    sent = []

    def body():
        for _ in range(200):
            sent.append(1)
            yield b"x" * 65536

    world["client"].cookies.clear()
    response = world["client"].post(
        "/verify",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert len(sent) <= 2


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("reader", "post", "/identities"),
        ("reader", "post", "/documents"),
        ("reader", "post", "/identities/W60/references"),
        ("reader", "delete", "/references/1"),
        ("clerk", "delete", "/identities/W60"),
        ("clerk", "get", "/audit"),
    ],
)
def test_wrong_role_is_403(world, who, method, path):
    kwargs = {"json": {"external_id": "X"}} if path == "/identities" else {}
    if path in ("/documents", "/identities/W60/references"):
        kwargs = {"files": {"file": ("a.png", signature_png(60, 0))}}
    response = getattr(world["client"], method)(f"{API}{path}", headers=key(world, who), **kwargs)
    assert response.status_code == 403
    assert f"role {ROLES[who]!r}" in error_of(response)


def test_oversized_upload_is_413(world):
    client = world["client"]
    too_big = b"\x89PNG\r\n\x1a\n" + bytes(LIMITS.max_body)
    response = client.post(
        f"{API}/detect", headers=key(world, "reader"), files={"file": ("big.png", too_big)}
    )
    assert response.status_code == 413 and "limit" in error_of(response)
    # a file just over max_bytes fits the body limit (multipart framing) and is refused by name
    just_over = b"\x89PNG\r\n\x1a\n" + bytes(LIMITS.max_bytes - 7)
    named = client.post(
        f"{API}/detect", headers=key(world, "reader"), files={"file": ("over.png", just_over)}
    )
    assert (
        named.status_code == 413
        and "over.png" in error_of(named)
        and str(LIMITS.max_bytes) in error_of(named)
    )


def test_oversized_body_without_length_is_413(world):
    """A chunked body (no Content-Length) is counted as it arrives; how little of it a live server reads
    is checked in tests/test_service_browser.py against uvicorn."""

    def body():
        for _ in range(60):  # 60 x 64 KiB = 3.75 MiB, the limit is about 2.9 MiB
            yield b"x" * 65536

    response = world["client"].post(
        f"{API}/detect",
        content=body(),
        headers={**key(world, "reader"), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413 and str(LIMITS.max_body) in error_of(response)


def test_pixel_bomb_is_refused_from_its_header(world):
    client = world["client"]
    bomb = png_header(30000, 30000)  # 900 Mpx declared in 57 bytes: beyond Pillow's own guard too
    assert len(bomb) < 100
    response = client.post(f"{API}/detect", headers=key(world, "reader"), files={"file": ("bomb.png", bomb)})
    assert response.status_code == 413
    assert "bomb.png" in error_of(response) and "900000000 pixels" in error_of(response)
    small_bomb = png_header(3000, 3000)  # 9 Mpx: under Pillow's guard, over this service's 2 Mpx
    response = client.post(
        f"{API}/detect", headers=key(world, "reader"), files={"file": ("wide.png", small_bomb)}
    )
    message = error_of(response)  # the bench's reader's words: the size and the limit it broke
    assert response.status_code == 413 and "wide.png" in message
    assert "3000 x 3000" in message and "max_pixels=2000000" in message


def test_pdf_pages_are_limited_before_rendering(world):
    client = world["client"]
    many = client.post(
        f"{API}/detect",
        headers=key(world, "reader"),
        files={"file": ("many.pdf", pdf_bytes(LIMITS.max_pdf_pages + 1), "application/pdf")},
    )
    assert many.status_code == 413 and f"{LIMITS.max_pdf_pages + 1} PDF pages" in error_of(many)
    huge = client.post(
        f"{API}/detect",
        headers=key(world, "reader"),
        files={"file": ("huge.pdf", pdf_bytes(1, (1500, 1500), resolution=50.0))},
    )  # 1500 px at 50 dpi = 30 inches = 2160 px at 72 dpi: 4.7 Mpx > 2 Mpx
    assert huge.status_code == 413 and "page 1 renders to 2160 x 2160" in error_of(huge)
    fine = client.post(
        f"{API}/detect", headers=key(world, "reader"), files={"file": ("two.pdf", pdf_bytes(2))}
    )
    assert fine.status_code == 200 and fine.json()["n_pages"] == 2 and fine.json()["detections"] == []


def test_type_is_sniffed_from_content(world):
    client = world["client"]
    text = client.post(
        f"{API}/detect",
        headers=key(world, "reader"),
        files={"file": ("page.png", b"just some text, not an image", "image/png")},
    )
    assert text.status_code == 415 and "page.png" in error_of(text)
    # a real PNG under a misleading name and content type is accepted (the content decides)
    page = page_file(world["folder"], world["detector"], 60, 3)
    renamed = client.post(
        f"{API}/detect", headers=key(world, "reader"), files=upload(page, "notes.txt", "text/plain")
    )
    assert renamed.status_code == 200 and len(renamed.json()["detections"]) == 1


def test_truncated_image_is_422(world):
    page = page_file(world["folder"], world["detector"], 60, 4).read_bytes()
    response = world["client"].post(
        f"{API}/detect", headers=key(world, "reader"), files={"file": ("cut.png", page[: len(page) // 2])}
    )
    assert response.status_code == 422 and "cut.png" in error_of(response)


def test_unknown_things_are_404(world):
    client = world["client"]
    page = page_file(world["folder"], world["detector"], 60, 5)
    verify = client.post(
        f"{API}/verify", headers=key(world, "reader"), files=upload(page), data={"external_id": "nobody"}
    )
    assert verify.status_code == 404 and "nobody" in error_of(verify)
    for path in ("/identities/nobody", "/identities/nobody/references", "/references/999999/crop.png"):
        assert client.get(f"{API}{path}", headers=key(world, "reader")).status_code == 404
    assert client.delete(f"{API}/identities/nobody", headers=key(world, "boss")).status_code == 404
    assert client.get(f"{API}/documents/{'0' * 64}", headers=key(world, "reader")).status_code == 404


def test_bad_form_values_are_422(world):
    client = world["client"]
    page = page_file(world["folder"], world["detector"], 60, 6)
    mode = client.post(
        f"{API}/verify",
        headers=key(world, "reader"),
        files=upload(page),
        data={"external_id": "W60", "mode": "guess"},
    )
    assert mode.status_code == 422 and "mode='guess'" in error_of(mode)
    missing = client.post(f"{API}/verify", headers=key(world, "reader"), files=upload(page))
    assert missing.status_code == 422 and "external_id" in error_of(missing)
    paging = client.get(f"{API}/identities", headers=key(world, "reader"), params={"limit": 0})
    assert paging.status_code == 422 and "limit" in error_of(paging)


# --------------------------------------------------------------------------------------------- units


def test_keys_are_stored_hashed_and_checked(tmp_path):
    ring = KeyRing(tmp_path / "keys.json")
    secret = ring.add("alice", "enrol")
    text = (tmp_path / "keys.json").read_text()
    assert secret not in text and secret.split("_")[-1] not in text
    assert json.loads(text)["keys"][0]["role"] == "enrol"
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
    caller = ring.authenticate(secret)
    assert (caller.name, caller.role) == ("alice", "enrol")
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert ring.authenticate(tampered) is None
    assert KeyRing(tmp_path / "keys.json").authenticate(secret) == caller  # another process reads it
    with pytest.raises(KeysError, match="already exists"):
        ring.add("alice", "read")
    with pytest.raises(KeysError, match="role 'root'"):
        ring.add("bob", "root")
    ring.revoke("alice")
    assert ring.authenticate(secret) is None


def test_roles_are_ordered():
    assert role_allows("admin", "enrol") and role_allows("enrol", "read") and role_allows("read", "read")
    assert not role_allows("read", "enrol") and not role_allows("enrol", "admin")


def test_sniffing_and_names():
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"II*\x00") == "tiff" and sniff(b"MM\x00*") == "tiff"
    assert sniff(b"BM\x00\x00") == "bmp"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp" and sniff(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert sniff(b"%PDF-1.7") == "pdf"
    assert sniff(b"<svg") is None and sniff(b"") is None
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\scans\\a b;c.png") == "a b_c.png"
    assert display_name("..") == "upload" and display_name(None) == "upload"


# --------------------------------------------------------------------------------------------- web page


def test_page_login_session_and_roles(world):
    client = world["client"]
    client.cookies.clear()
    assert client.get("/identities", follow_redirects=False).headers["location"] == "/login?next=/identities"
    wrong = client.post("/login", data={"key": "nope"})
    assert wrong.status_code == 401 and "not recognised" in wrong.text
    client.post(
        "/login", data={"key": world["keys"]["reader"], "next": "//evil.example"}, follow_redirects=False
    )
    cookie = client.cookies.get("sigbench_session")
    assert cookie and world["keys"]["reader"] not in cookie
    page = client.get("/identities")
    assert page.status_code == 200 and "W60" in page.text and "Create identity" not in page.text
    audit = client.get("/audit")
    assert audit.status_code == 403 and "role 'read'" in html.unescape(audit.text) and "<html" in audit.text
    client.post("/logout")
    assert client.get("/identities", follow_redirects=False).status_code == 303


def test_page_errors_are_pages_naming_the_problem(world):
    client = world["client"]
    client.cookies.clear()
    client.post("/login", data={"key": world["keys"]["clerk"]})
    page = page_file(world["folder"], world["detector"], 60, 6)
    unknown = client.post("/verify", data={"external_id": "nobody"}, files=upload(page))
    assert unknown.status_code == 404 and "nobody" in html.unescape(unknown.text) and "<html" in unknown.text
    big = b"\x89PNG\r\n\x1a\n" + bytes(LIMITS.max_body)
    refused = client.post("/enrol", data={"external_id": "W99"}, files={"file": ("big.png", big)})
    assert refused.status_code == 413 and "limit" in refused.text and "<html" in refused.text
    text = client.post("/identify", files={"file": ("a.png", b"hello")})
    assert text.status_code == 415 and "a.png" in html.unescape(text.text)
    client.post("/logout")


def test_keys_and_serve_commands(tmp_path, capsys):
    from sigbench.service.cli import main

    keys_file = tmp_path / "keys.json"
    assert main(["keys", "add", "desk", "--role", "enrol", "--keys-file", str(keys_file)]) == 0
    printed = capsys.readouterr().out.strip()
    caller = KeyRing(keys_file).authenticate(printed)
    assert (caller.name, caller.role) == ("desk", "enrol")
    assert main(["keys", "list", "--keys-file", str(keys_file)]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("desk\tenrol\t") and printed not in listed
    with pytest.raises(SystemExit) as exited:
        main(["keys", "revoke", "nobody", "--keys-file", str(keys_file)])
    assert exited.value.code == 2 and "no key named 'nobody'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(
            ["serve", "--bundle", str(tmp_path / "missing"), "--store", "s.db", "--keys-file", str(keys_file)]
        )
    assert exited.value.code == 2 and "missing" in capsys.readouterr().err
