"""Verification (1:1): is a questioned signature by this identity? Two scoring modes, one decision rule.

* ``distance``: the cosine similarity of the query to the identity's references, fused over references as
  the bench's distance protocol does (:func:`sigbench.verification.distance.distance_scores`; ``mean`` by
  default, ``min`` distance = the nearest reference). The score is ``1 - fused cosine distance``.
* ``wd_svm``: a writer-dependent SVM (Hafemann et al.'s WD setting, the bench's
  :func:`sigbench.verification.wd.train_wd_classifier`): the identity's references are the positives, the
  bundle's development-writer embeddings the negatives; the score is the SVM's decision value. The SVM is
  a deterministic function of the references and the bundle, so it is fitted at enrolment (to check that it
  can be) and refitted when needed (milliseconds) rather than stored: nothing executable is ever stored, and
  a deleted reference can never linger inside a stored model. Fitted SVMs are cached per process, keyed by
  the reference ids.

The outcome comes from the bundle's calibrated thresholds for the mode (:func:`decisions.decide`) and is
written to the store's audit log with the actor, the score, the thresholds and the model fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from sigbench.service.bundle import MODES, Bundle, Thresholds
from sigbench.service.decisions import Decision, decide
from sigbench.service.pipeline import Signature
from sigbench.verification.distance import distance_scores, pairwise_distances
from sigbench.verification.wd import train_wd_classifier

DEFAULT_FUSION = "mean"


def similarities(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Cosine similarity of every query to every reference, ``(n_queries, n_references)``."""
    return 1.0 - pairwise_distances(queries, references, "cosine")


def distance_mode_scores(
    queries: np.ndarray, references: np.ndarray, fusion: str = DEFAULT_FUSION
) -> np.ndarray:
    """``1 - fused cosine distance`` of each query to the references (higher = more genuine)."""
    return 1.0 + distance_scores(queries, references, "cosine", fusion)


def fit_wd_svm(references: np.ndarray, negatives: np.ndarray, svm_type: str = "rbf") -> Any:
    """The writer-dependent SVM of one identity (positives first, as the bench's WD protocol orders them)."""
    if negatives is None or len(negatives) == 0:
        raise ValueError("mode wd_svm needs development-writer negatives in the bundle (calibrate it)")
    features = np.concatenate([references, negatives]).astype(np.float32)
    positives = np.arange(len(references))
    negative_rows = np.arange(len(references), len(features))
    return train_wd_classifier(features, positives, negative_rows, svm_type)


@lru_cache(maxsize=256)
def _cached_svm(key: tuple, references: bytes, negatives: bytes, dim: int, svm_type: str) -> Any:
    refs = np.frombuffer(references, np.float32).reshape(-1, dim)
    negs = np.frombuffer(negatives, np.float32).reshape(-1, dim)
    return fit_wd_svm(refs, negs, svm_type)


def wd_svm_scores(
    queries: np.ndarray,
    references: np.ndarray,
    negatives: np.ndarray,
    key: tuple | None = None,
    svm_type: str = "rbf",
) -> np.ndarray:
    """Decision values of the identity's SVM for each query (cached by ``key`` when given)."""
    refs = np.ascontiguousarray(references, np.float32)
    negs = np.ascontiguousarray(negatives, np.float32)
    if key is None:
        model = fit_wd_svm(refs, negs, svm_type)
    else:
        model = _cached_svm(key, refs.tobytes(), negs.tobytes(), refs.shape[1], svm_type)
    return model.decision_function(np.atleast_2d(queries).astype(np.float32))


def mode_scores(
    mode: str,
    queries: np.ndarray,
    references: np.ndarray,
    negatives: np.ndarray | None = None,
    fusion: str = DEFAULT_FUSION,
    key: tuple | None = None,
) -> np.ndarray:
    """Scores of ``queries`` against one identity's references in ``mode``."""
    if mode == "distance":
        return distance_mode_scores(queries, references, fusion)
    if mode == "wd_svm":
        return wd_svm_scores(queries, references, negatives, key)
    raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")


def calibrated_fusion(bundle: Bundle) -> str:
    return str(bundle.manifest.get("calibration", {}).get("fusion", DEFAULT_FUSION))


def verify(
    store: Any,
    bundle: Bundle,
    external_id: str,
    queries: Sequence[Signature],
    mode: str = "distance",
    actor: str = "unknown",
    thresholds: Thresholds | None = None,
    require_enrolled: bool = True,
) -> list[Decision]:
    """One decision per questioned signature (each embedded by the bundle's pipeline), each audited.

    Refuses an identity that is not ``enrolled`` (too few or inconsistent references) unless
    ``require_enrolled`` is false, and queries embedded by another model (the store's fingerprint).
    """
    if store.fingerprint != bundle.fingerprint:
        from sigbench.service.store.base import FingerprintMismatch

        raise FingerprintMismatch(str(store.location), store.fingerprint, bundle.fingerprint)
    identity = store.get_identity(external_id)
    if require_enrolled and identity.status != "enrolled":
        raise ValueError(
            f"identity {external_id!r} is {identity.status!r}, not enrolled: add references first "
            "(or verify with require_enrolled=False)"
        )
    ids, refs = store.references_embeddings(external_id)
    if len(ids) == 0:
        raise ValueError(f"identity {external_id!r} has no references")
    limits = thresholds or bundle.thresholds(mode)
    missing = [i for i, q in enumerate(queries) if q.embedding is None]
    if missing:
        raise ValueError(f"queries {missing} are not embedded (run the pipeline's embed first)")
    if not queries:
        return []
    matrix = np.stack([q.embedding for q in queries])
    per_reference = similarities(matrix, refs)
    key = (bundle.fingerprint, external_id, tuple(int(i) for i in ids))
    scores = mode_scores(mode, matrix, refs, bundle.negatives, calibrated_fusion(bundle), key)
    decisions = []
    for query, score, row in zip(queries, scores, per_reference, strict=True):
        outcome = decide(float(score), limits.accept, limits.reject)
        best = int(np.argmax(row))
        decision = Decision(
            external_id=external_id,
            mode=mode,
            score=float(score),
            accept_threshold=limits.accept,
            reject_threshold=limits.reject,
            outcome=outcome,
            reference_scores={int(i): float(s) for i, s in zip(ids, row, strict=True)},
            best_reference_id=int(ids[best]),
            fingerprint=bundle.fingerprint,
            query=query.provenance.to_dict(),
        )
        event = store.log_event("verify", actor, decision.to_dict())
        decisions.append(Decision(**{**decision.__dict__, "audit_id": event.id}))
    return decisions
