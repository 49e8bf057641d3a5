"""Three-way decisions from two thresholds, and the record every decision leaves.

``score >= accept`` accepts, ``score < reject`` rejects, anything between is referred to a person: a
single threshold forces every borderline case into an error of one kind, two thresholds let a service
promise a false-acceptance rate *and* a false-rejection rate and hand the rest to an examiner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("accept", "refer", "reject")


def decide(score: float, accept: float, reject: float) -> str:
    """``accept`` when ``score >= accept``, ``reject`` when ``score < reject``, else ``refer``."""
    if reject > accept:
        raise ValueError(f"thresholds: reject ({reject}) must be <= accept ({accept})")
    if score >= accept:
        return "accept"
    if score < reject:
        return "reject"
    return "refer"


@dataclass(frozen=True)
class Decision:
    """The answer to "did ``external_id`` sign this?" for one questioned signature.

    ``reference_scores`` maps each reference id to its similarity with the query (cosine; in both modes,
    so an examiner sees which references agree); ``best_reference_id`` is the most similar one.
    """

    external_id: str
    mode: str
    score: float
    accept_threshold: float
    reject_threshold: float
    outcome: str
    reference_scores: dict[int, float]
    best_reference_id: int | None
    fingerprint: str
    query: dict[str, Any] = field(default_factory=dict)
    audit_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reference_scores"] = {str(k): round(v, 6) for k, v in self.reference_scores.items()}
        out["score"] = round(self.score, 6)
        return out
