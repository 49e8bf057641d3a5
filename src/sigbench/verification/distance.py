"""Distance baselines: verify a query by its distance to a writer's reference signatures.

No classifier is trained, so these work straight after feature extraction (metric-learning models such as
the contrastive/SignVer embeddings are evaluated this way). Scores are *negated* fused distances, so that
higher means more genuine and :func:`sigbench.verification.metrics.compute_metrics` applies unchanged
(its "accept if score >= threshold" becomes "accept if distance <= -threshold").

* ``cosine``: ``1 - <q, r> / (|q| |r|)`` (0 identical direction, 2 opposite). A zero vector is left at
  zero by the normalisation, so its cosine distance to anything is 1.
* ``euclidean``: L2 distance on the raw features, computed with the BLAS expansion
  ``|q|^2 + |r|^2 - 2 <q, r>`` (clamped at 0): fast for thousands of queries, accurate to ~1e-7
  relative, not bit-exact for near-identical vectors.
* Fusion over the references of one writer: ``mean`` (default), ``min`` (nearest reference), ``max``,
  ``median``. Fusion applies to *distances*; the score is the negated result.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np

from sigbench.verification._parallel import parallel_map
from sigbench.verification.results import fold_result
from sigbench.verification.splits import (
    QuerySet,
    UserSplit,
    check_test_protocol,
    draw_query_sets,
    score_query_set,
    split_references_test,
    validate_inputs,
)

METRICS = ("cosine", "euclidean")
FUSIONS = ("mean", "min", "max", "median")


def check_metric(metric: str) -> None:
    """Raise a ValueError listing the valid distance names."""
    if metric not in METRICS:
        raise ValueError(f"unknown distance metric {metric!r}; valid: {', '.join(METRICS)}")


def check_fusion(fusion: str) -> None:
    """Raise a ValueError listing the valid fusion names."""
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm, in float64 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.sqrt(np.einsum("...d,...d->...", x, x))[..., None]
    return x / np.maximum(norms, eps)


def pairwise_distances(queries: np.ndarray, references: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Distance matrix ``(n_queries, n_references)`` in float64."""
    check_metric(metric)
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    r = np.atleast_2d(np.asarray(references, dtype=np.float64))
    if q.shape[1] != r.shape[1]:
        raise ValueError(
            f"query features have dimension {q.shape[1]} but references have {r.shape[1]}; "
            "were they extracted by the same model?"
        )
    if metric == "cosine":
        return 1.0 - l2_normalize(q) @ l2_normalize(r).T
    sq = (q * q).sum(1)[:, None] + (r * r).sum(1)[None, :] - 2.0 * (q @ r.T)
    return np.sqrt(np.maximum(sq, 0.0))


def fuse(values: np.ndarray, fusion: str = "mean", axis: int = -1) -> np.ndarray:
    """Reduce scores/distances over the references axis with the named fusion."""
    check_fusion(fusion)
    return {"mean": np.mean, "min": np.min, "max": np.max, "median": np.median}[fusion](values, axis=axis)


def distance_scores(
    queries: np.ndarray, references: np.ndarray, metric: str = "cosine", fusion: str = "mean"
) -> np.ndarray:
    """Verification scores of ``queries`` against one writer's ``references``: ``-fuse(distances)``."""
    check_fusion(fusion)
    q = np.atleast_2d(np.asarray(queries))
    if q.shape[0] == 0:
        return np.empty(0)
    return -fuse(pairwise_distances(q, references, metric), fusion, axis=1)


class DistanceMatcher:
    """SignVer-style matcher: enrol L2-normalisable embeddings per user, verify by distance threshold.

    ``enrol`` appends to a user's references (call it again to add signatures); ``reset(user)`` forgets
    them. ``score`` returns negated fused distances (higher = more genuine); ``verify`` accepts when the
    fused distance is ``<= threshold`` (SignVer: cosine distance below a threshold).
    """

    def __init__(self, metric: str = "cosine", fusion: str = "mean") -> None:
        check_metric(metric)
        check_fusion(fusion)
        self.metric = metric
        self.fusion = fusion
        self._refs: dict[Hashable, np.ndarray] = {}

    @property
    def users(self) -> list[Hashable]:
        """Enrolled users, in enrolment order."""
        return list(self._refs)

    def enrol(self, user: Hashable, feats: np.ndarray) -> None:
        """Add reference embeddings (``(n, D)`` or one ``(D,)`` vector) for ``user``."""
        feats = np.atleast_2d(np.asarray(feats, dtype=np.float64))
        if feats.shape[0] == 0:
            raise ValueError(f"enrol({user!r}) got no reference embeddings")
        if self._refs:
            dim = next(iter(self._refs.values())).shape[1]
            if feats.shape[1] != dim:
                raise ValueError(
                    f"enrol({user!r}) got {feats.shape[1]}-d embeddings but the matcher holds {dim}-d ones"
                )
        old = self._refs.get(user)
        self._refs[user] = feats if old is None else np.concatenate([old, feats])

    def reset(self, user: Hashable) -> None:
        """Forget a user's references."""
        self._refs.pop(user, None)

    def _references(self, user: Hashable) -> np.ndarray:
        try:
            return self._refs[user]
        except KeyError:
            raise KeyError(f"user {user!r} is not enrolled; enrolled: {self.users}") from None

    def distance(self, user: Hashable, query_feats: np.ndarray) -> np.ndarray:
        """Fused distance of each query to the user's references."""
        return -distance_scores(query_feats, self._references(user), self.metric, self.fusion)

    def score(self, user: Hashable, query_feats: np.ndarray) -> np.ndarray:
        """Scores (negated fused distances), one per query row."""
        return distance_scores(query_feats, self._references(user), self.metric, self.fusion)

    def verify(self, user: Hashable, query: np.ndarray, threshold: float) -> np.ndarray:
        """Boolean accept decision per query row: fused distance ``<= threshold``."""
        return self.distance(user, query) <= threshold


def distance_user_scores(
    item: tuple[UserSplit, QuerySet], features: np.ndarray, metric: str = "cosine", fusion: str = "mean"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score one user's queries against its references (negated fused distances)."""
    split, queries = item
    refs = features[split.references]
    return score_query_set(lambda rows: distance_scores(features[rows], refs, metric, fusion), queries)


def run_distance(
    features: np.ndarray,
    y: np.ndarray,
    yforg: np.ndarray,
    exp_users: Iterable[int],
    dev_users: Iterable[int] | None = None,
    folds: int = 10,
    seed: int = 1234,
    n_jobs: int = 1,
    backend: str = "loky",
    gen_for_ref: int = 12,
    gen_for_test: int = 10,
    metric: str = "cosine",
    fusion: str = "mean",
    test_protocol: str = "sigver",
    threshold: float = 0.0,
    include_simple_forgeries: bool = False,
    expected_dim: int | None = None,
) -> list[dict]:
    """Distance baseline under the WD/WI splits: per fold (one ``RandomState(seed)`` for all folds) the
    exploitation split then the test queries are drawn exactly as in WD/WI; a query's score is the
    negated fused distance to the user's ``gen_for_ref`` references. ``dev_users`` are not used for
    training (nothing is trained); they are only checked not to overlap the exploitation users.

    Note ``threshold``: FRR/FAR at 0 on negated distances accept only exact matches; pass a (negated)
    distance threshold or read the EERs.
    """
    features, y, yforg, exp, _ = validate_inputs(features, y, yforg, exp_users, dev_users, expected_dim)
    check_metric(metric)
    check_fusion(fusion)
    check_test_protocol(test_protocol)
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    rng = np.random.RandomState(seed)
    results = []
    for _ in range(folds):
        splits = split_references_test(
            y, yforg, exp, gen_for_ref, gen_for_test, rng, include_simple_forgeries
        )
        queries = draw_query_sets(splits, test_protocol, rng, gen_for_test)

        scores = parallel_map(
            distance_user_scores,
            list(zip(splits, queries, strict=True)),
            n_jobs,
            backend,
            dict(features=features, metric=metric, fusion=fusion),
        )
        genuine, random, skilled = (list(s) for s in zip(*scores, strict=True))
        results.append(fold_result(genuine, random, skilled, threshold))
    return results
