"""Enrolment: reference signatures for an identity, checked for duplicates and for consistency.

From a signature image the whole image is the reference; from a page or a PDF the detected signatures are
*proposed* (:func:`propose`) and the caller keeps some of them by index. An identity becomes ``enrolled``
only when it holds at least ``min_references`` references and none of them is an outlier; until then it is
``pending``. Everything one enrolment writes (the identity, its references, the documents and detections
the references came from, the status and the audit entry) is one store transaction, so a process killed
half way leaves the identity as it was before.

**Consistency.** Each reference is scored against the others (leave-one-out: its mean cosine similarity to
the rest of the set). A reference is an *outlier* when that score is far below the set's (robust z-score
``(s_i - median) / spread`` under ``-z_max``, where the spread is ``1.4826 MAD`` of the set's scores but at
least the spread of genuine scores on the calibration writers -- a set of 3 to 6 references says little
about its own spread, and a very tight set must not flag ordinary variation). That calibration spread is
the larger of the development and held-out estimates: each comes from a dozen or so writers, and two such
estimates of one extractor were measured to differ by a factor of two (0.021 and 0.038), the smaller one
flagging a genuine reference captured with darker ink (z -3.5; -2.0 at the larger spread). A signature of
somebody else usually sits far from all the others (z -5.9 to -6.6 for three of four intruders on that
extractor at the larger spread) and is named; one the extractor cannot tell from the writer is not.
(The calibrated reject threshold is deliberately not used here: it was chosen for queries against a full
reference set, and a leave-one-out score over two or three references falls under it for ordinary
genuine signatures far more often than the 1 % it promises.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sigbench.service.bundle import Bundle, BundleError
from sigbench.service.pipeline import Document, Signature
from sigbench.service.verify import calibrated_fusion, distance_mode_scores

DEFAULT_MIN_REFERENCES = 3
Z_MAX = 3.5
MIN_SPREAD = 0.05  # used when the bundle is not calibrated


@dataclass(frozen=True)
class Consistency:
    """Leave-one-out scores of a reference set, their z-scores, the set's score and the outliers."""

    reference_ids: list[int]
    loo_scores: list[float]
    z_scores: list[float]
    score: float | None  # None: fewer than two references
    outliers: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EnrolmentResult:
    external_id: str
    status: str
    added: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    consistency: Consistency | None = None
    n_references: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["consistency"] = None if self.consistency is None else self.consistency.to_dict()
        return out


def consistency(
    reference_ids: Sequence[int],
    embeddings: np.ndarray,
    fusion: str = "mean",
    z_max: float = Z_MAX,
    min_spread: float = MIN_SPREAD,
) -> Consistency:
    """Leave-one-out consistency of a reference set (see the module docstring); needs >= 2 references."""
    n = len(reference_ids)
    if n < 2:
        return Consistency(list(map(int, reference_ids)), [], [], None, [])
    emb = np.asarray(embeddings, dtype=np.float64)
    loo = np.array(
        [distance_mode_scores(emb[i : i + 1], np.delete(emb, i, axis=0), fusion)[0] for i in range(n)]
    )
    median = float(np.median(loo))
    spread = max(1.4826 * float(np.median(np.abs(loo - median))), min_spread)
    z = (loo - median) / spread
    flagged = z < -z_max
    ids = [int(i) for i in reference_ids]
    return Consistency(
        ids,
        [float(v) for v in loo],
        [float(v) for v in z],
        float(loo.mean()),
        [ids[i] for i in np.flatnonzero(flagged)],
    )


def propose(document: Document) -> list[dict[str, Any]]:
    """The signatures found in a document, indexed, for a person to choose from (provenance only)."""
    return [{"index": i, **s.provenance.to_dict()} for i, s in enumerate(document.signatures)]


def select(documents: Sequence[Document], keep: Sequence[int] | None) -> list[Signature]:
    """The signatures of ``documents`` (numbered in order across them) whose index is in ``keep`` (all:
    ``None``). An index out of range is an error naming the valid range."""
    found = [s for d in documents for s in d.signatures]
    if keep is None:
        return found
    bad = [k for k in keep if not 0 <= k < len(found)]
    if bad:
        raise ValueError(
            f"keep: indices {bad} out of range; the inputs hold {len(found)} signatures (0..{len(found) - 1})"
        )
    return [found[k] for k in keep]


def genuine_spread(bundle: Bundle) -> float:
    """Spread of genuine distance-mode scores on the calibration writers: the larger of the development and
    held-out estimates (:data:`MIN_SPREAD` if the bundle is not calibrated)."""
    try:
        thresholds = bundle.thresholds("distance")
    except BundleError:
        return MIN_SPREAD
    estimates = [
        float(thresholds.report[part]["genuine_std"])
        for part in ("development", "held_out")
        if "genuine_std" in thresholds.report.get(part, {})
    ]
    return max(estimates, default=MIN_SPREAD)


def enrol(
    store: Any,
    bundle: Bundle,
    external_id: str,
    signatures: Sequence[Signature],
    name: str = "",
    metadata: dict[str, Any] | None = None,
    min_references: int = DEFAULT_MIN_REFERENCES,
    actor: str = "unknown",
    documents: Sequence[Document] = (),
) -> EnrolmentResult:
    """Add embedded ``signatures`` as references of ``external_id`` (created when new), in one transaction.

    Duplicates (same pixels as a reference of this identity, or twice in this call) are refused and listed
    in ``refused``; the others are added. ``documents`` the signatures came from are recorded with their
    detections (linked to the new references), so document search sees them.
    """
    if min_references < 1:
        raise ValueError(f"min_references must be >= 1, got {min_references}")
    if store.fingerprint != bundle.fingerprint:
        from sigbench.service.store.base import FingerprintMismatch

        raise FingerprintMismatch(str(store.location), store.fingerprint, bundle.fingerprint)
    unembedded = [s.provenance.document_name for s in signatures if s.embedding is None]
    if unembedded:
        raise ValueError(f"signatures from {unembedded} are not embedded (run the pipeline's embed first)")
    result = EnrolmentResult(external_id, "pending")
    with store.transaction():
        try:
            identity = store.get_identity(external_id)
        except KeyError:
            identity = store.create_identity(external_id, name, metadata or {})
        known = {r.pixel_sha256: r.id for r in store.list_references(external_id)}
        doc_ids = {
            d.sha256: store.add_document(d.sha256, d.name, d.n_pages, {"kind": d.kind}).id for d in documents
        }
        for signature in signatures:
            digest = signature.pixel_sha256
            label = f"{signature.provenance.document_name} page {signature.provenance.page}"
            if digest in known:
                result.refused.append(f"{label}: same pixels as reference {known[digest]}")
                continue
            reference = store.add_reference(
                external_id,
                signature.embedding,
                signature.crop_png(),
                signature.thumbnail_png(),
                signature.provenance.to_dict(),
                digest,
                bundle.fingerprint,
            )
            known[digest] = reference.id
            result.added.append(reference.id)
            where = signature.provenance
            if where.document_sha256 in doc_ids and where.box is not None:
                store.add_detection(
                    doc_ids[where.document_sha256],
                    where.page,
                    where.box,
                    where.detector_score,
                    signature.crop_png(),
                    signature.embedding,
                    bundle.fingerprint,
                    external_id=external_id,
                    reference_id=reference.id,
                )
        ids, embeddings = store.references_embeddings(external_id)
        check = consistency(ids, embeddings, calibrated_fusion(bundle), min_spread=genuine_spread(bundle))
        result.consistency = check
        result.n_references = len(ids)
        if len(ids) < min_references:
            result.reason = f"{len(ids)} references, {min_references} needed"
        elif check.outliers:
            result.reason = f"references {check.outliers} do not match the others (remove or replace them)"
        else:
            result.status = "enrolled"
        if identity.status != result.status:
            store.set_status(external_id, result.status)
        store.log_event(
            "enrol",
            actor,
            {**result.to_dict(), "fingerprint": bundle.fingerprint, "min_references": min_references},
        )
    return result


def recheck(
    store: Any,
    bundle: Bundle,
    external_id: str,
    min_references: int = DEFAULT_MIN_REFERENCES,
    actor: str = "unknown",
) -> EnrolmentResult:
    """Re-evaluate an identity's status after references were deleted (same rules as :func:`enrol`)."""
    return enrol(store, bundle, external_id, [], min_references=min_references, actor=actor)
