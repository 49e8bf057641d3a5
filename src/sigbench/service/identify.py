"""Identification (1:N) and document search over the store.

**Who is this?** The store's vector index returns each query's nearest references; the identities they
belong to are the candidates, and each candidate is scored exactly as verification scores it (distance
mode over *all* its references, with the bundle's calibrated fusion), so identification and verification
agree and the calibrated thresholds mean the same thing in both. The answer is ``unknown`` when the best
score is under ``threshold`` (default: the distance mode's accept threshold) or when the first two
identities are closer than ``margin``: a query between two people is not attributed to either.

**Documents signed by X**: every stored detection (a signature found on a stored document page) that
verification against X would not reject (score at least the distance mode's reject threshold, unless a
threshold is given), best first, each with its outcome: ``accept`` hits are X's by the calibrated
false-acceptance target, ``refer`` hits are for a person to look at.

**Who signed this document**: identification of each signature found on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sigbench.service.bundle import Bundle, BundleError
from sigbench.service.decisions import decide
from sigbench.service.pipeline import Signature
from sigbench.service.verify import calibrated_fusion, distance_mode_scores

UNKNOWN = "unknown"
DEFAULT_MARGIN = 0.02
CANDIDATE_REFERENCES = 50


@dataclass(frozen=True)
class Candidate:
    external_id: str
    score: float
    best_reference_id: int


@dataclass
class Identification:
    """Top-k candidates of one query and the attribution (an external id, or ``unknown``)."""

    answer: str
    candidates: list[Candidate]
    threshold: float
    margin: float
    query: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_threshold(bundle: Bundle, which: str = "accept") -> float:
    """The distance mode's calibrated ``accept`` (or ``reject``) threshold."""
    try:
        return getattr(bundle.thresholds("distance"), which)
    except BundleError as exc:
        raise BundleError(f"{exc}; identification and search need a threshold (pass one)") from None


def score_candidates(
    store: Any, embedding: np.ndarray, external_ids: Sequence[str], fusion: str
) -> list[Candidate]:
    """Each identity's distance-mode score for one query, best first."""
    out = []
    for external_id in dict.fromkeys(external_ids):
        ids, refs = store.references_embeddings(external_id)
        if len(ids) == 0:
            continue
        score = float(distance_mode_scores(embedding[None], refs, fusion)[0])
        best = int(ids[int(np.argmax(refs @ embedding))])
        out.append(Candidate(external_id, score, best))
    return sorted(out, key=lambda c: -c.score)


def identify(
    store: Any,
    bundle: Bundle,
    queries: Sequence[Signature],
    k: int = 5,
    threshold: float | None = None,
    margin: float = DEFAULT_MARGIN,
    enrolled_only: bool = True,
    actor: str = "unknown",
    audit: bool = True,
) -> list[Identification]:
    """Top-``k`` identities per query and the attribution (see the module docstring)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    threshold = default_threshold(bundle) if threshold is None else float(threshold)
    if not queries:
        return []
    matrix = np.stack([q.embedding for q in queries]).astype(np.float32)
    hits = store.search(matrix, CANDIDATE_REFERENCES)
    fusion = calibrated_fusion(bundle)
    enrolled = None
    if enrolled_only:
        enrolled = {i.external_id for i in _all_identities(store, "enrolled")}
    out = []
    for query, embedding, found in zip(queries, matrix, hits, strict=True):
        ids = [h.external_id for h in found if enrolled is None or h.external_id in enrolled]
        candidates = score_candidates(store, embedding, ids, fusion)[:k]
        answer, reason = UNKNOWN, ""
        if not candidates:
            reason = "no enrolled identity"
        elif candidates[0].score < threshold:
            reason = f"best score {candidates[0].score:.4f} < threshold {threshold:.4f}"
        elif len(candidates) > 1 and candidates[0].score - candidates[1].score < margin:
            reason = (
                f"{candidates[0].external_id} and {candidates[1].external_id} are within the margin {margin}"
            )
        else:
            answer = candidates[0].external_id
        result = Identification(answer, candidates, threshold, margin, query.provenance.to_dict(), reason)
        if audit:
            store.log_event("identify", actor, {**result.to_dict(), "fingerprint": bundle.fingerprint})
        out.append(result)
    return out


def _all_identities(store: Any, status: str | None = None, page: int = 1000) -> list[Any]:
    out: list[Any] = []
    while True:
        chunk = store.list_identities(len(out), page, status)
        out.extend(chunk)
        if len(chunk) < page:
            return out


def _all_documents(store: Any, page: int = 1000) -> list[Any]:
    out: list[Any] = []
    while True:
        chunk = store.list_documents(len(out), page)
        out.extend(chunk)
        if len(chunk) < page:
            return out


@dataclass(frozen=True)
class DocumentHit:
    """A stored signature on a document page that matches an identity."""

    document_sha256: str
    document_name: str
    page: int
    box: tuple[float, float, float, float]
    detection_id: int
    score: float
    outcome: str


def documents_signed_by(
    store: Any, bundle: Bundle, external_id: str, threshold: float | None = None
) -> list[DocumentHit]:
    """Every stored detection whose distance-mode score against ``external_id`` reaches ``threshold``
    (default: the reject threshold), best first, with the outcome verification would give; detections
    that are the identity's own references are included (they are its signatures)."""
    accept, reject = default_threshold(bundle, "accept"), default_threshold(bundle, "reject")
    threshold = reject if threshold is None else float(threshold)
    ref_ids, refs = store.references_embeddings(external_id)
    if len(ref_ids) == 0:
        raise ValueError(f"identity {external_id!r} has no references")
    det_ids, dets = store.detections_embeddings()
    if len(det_ids) == 0:
        return []
    scores = distance_mode_scores(dets, refs, calibrated_fusion(bundle))
    documents = {d.id: d for d in _all_documents(store)}
    hits = []
    for det_id, score in zip(det_ids, scores, strict=True):
        if score < threshold:
            continue
        detection = store.get_detection(int(det_id))
        document = documents[detection.document_id]
        outcome = decide(float(score), accept, reject)
        hits.append(
            DocumentHit(
                document.sha256,
                document.name,
                detection.page,
                detection.box,
                int(det_id),
                float(score),
                outcome,
            )
        )
    return sorted(hits, key=lambda h: -h.score)


def store_document(store: Any, bundle: Bundle, document: Any) -> list[int]:
    """Record a processed document and its (embedded) signatures as detections; returns their ids.

    Idempotent: a signature already stored for the same page and box (e.g. kept as a reference at
    enrolment) is not stored twice.
    """
    with store.transaction():
        stored = store.add_document(document.sha256, document.name, document.n_pages, {"kind": document.kind})
        existing = {(d.page, _rounded(d.box)): d.id for d in store.list_detections(stored.id)}
        ids = []
        for signature in document.signatures:
            where = signature.provenance
            box = where.box if where.box is not None else (0.0, 0.0, *map(float, signature.crop.shape[::-1]))
            if (where.page, _rounded(box)) in existing:
                ids.append(existing[(where.page, _rounded(box))])
                continue
            detection = store.add_detection(
                stored.id,
                where.page,
                box,
                1.0 if where.detector_score is None else where.detector_score,
                signature.crop_png(),
                signature.embedding,
                bundle.fingerprint,
            )
            ids.append(detection.id)
        return ids


def _rounded(box: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(float(v), 1) for v in box)


def who_signed(
    store: Any, bundle: Bundle, document: Any, k: int = 3, threshold: float | None = None, **options: Any
) -> list[Identification]:
    """Identification of every signature found on ``document`` (a processed :class:`Document`)."""
    return identify(store, bundle, document.signatures, k=k, threshold=threshold, **options)
