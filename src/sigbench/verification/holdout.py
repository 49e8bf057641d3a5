"""A quick a-posteriori verification check on held-out writers, cheap enough to run every epoch.

It is *not* a published protocol (no SVMs, one split): use :mod:`sigbench.verification.protocol` for
numbers comparable with papers. Per held-out writer:

* references: ``num_references`` genuine signatures drawn with ``seed`` (one ``default_rng(seed)`` draws
  a random key per sample; each writer's genuines are ordered by key, the first ones are references);
* genuine queries: the writer's other genuine signatures;
* skilled queries: all the writer's skilled forgeries (``yforg == 1``; simple forgeries, 2, ignored);
* random queries: **one** genuine query of every other writer (its first query in the random order),
  the same signature for every claimed writer. This keeps the cost at one ``(W, W * k)`` matrix product
  instead of all-pairs and gives each writer W - 1 random forgeries.

Scores are negated fused distances (:mod:`sigbench.verification.distance`), so the returned dict is
:func:`sigbench.verification.metrics.compute_metrics` output; FRR/FAR are at ``threshold`` (default 0,
which for negated distances accepts nothing but exact matches: read the EERs and AUC, not FRR/FAR).
"""

from __future__ import annotations

import numpy as np

from sigbench.verification.distance import check_fusion, check_metric, fuse, l2_normalize
from sigbench.verification.metrics import compute_metrics


def _distances(q: np.ndarray, r: np.ndarray, metric: str, q_sq: np.ndarray, r_sq: np.ndarray) -> np.ndarray:
    """Distances on pre-normalised (cosine) or raw (euclidean, with squared norms) float64 rows."""
    dots = q @ r.T
    if metric == "cosine":
        return 1.0 - dots
    return np.sqrt(np.maximum(q_sq[:, None] + r_sq[None, :] - 2.0 * dots, 0.0))


def holdout_score_lists(
    features: np.ndarray,
    y: np.ndarray,
    yforg: np.ndarray,
    num_references: int = 5,
    seed: int = 0,
    metric: str = "cosine",
    fusion: str = "mean",
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per-writer (genuine, random, skilled) score arrays over the writers present in ``y`` (see module
    docstring); :func:`holdout_verification` turns them into metrics.

    Raises ValueError when a writer has fewer than ``num_references + 1`` genuine signatures, when there
    are fewer than two writers (no random forgeries), or on unknown metric/fusion names.
    """
    check_metric(metric)
    check_fusion(fusion)
    features = np.asarray(features)
    y = np.asarray(y).reshape(-1)
    yforg = np.asarray(yforg).reshape(-1)
    if features.ndim != 2 or not (len(features) == len(y) == len(yforg)):
        raise ValueError(
            f"features must be (N, D) with N == len(y) == len(yforg); got {features.shape}, {len(y)}, "
            f"{len(yforg)}"
        )
    if num_references < 1:
        raise ValueError(f"num_references must be >= 1, got {num_references}")
    writers, writer_pos = np.unique(y, return_inverse=True)
    if len(writers) < 2:
        raise ValueError(f"holdout_verification needs at least 2 writers, got {len(writers)}")
    genuine = yforg == 0
    counts = np.bincount(writer_pos[genuine], minlength=len(writers))
    short = np.flatnonzero(counts < num_references + 1)
    if short.size:
        detail = ", ".join(f"writer {writers[i]}: {counts[i]} genuine" for i in short[:10])
        raise ValueError(
            f"holdout_verification needs num_references + 1 = {num_references + 1} genuine signatures per "
            f"writer; {short.size} writer(s) have fewer ({detail})"
        )

    x = features.astype(np.float64, copy=False)
    if metric == "cosine":
        x = l2_normalize(x)
    sq = np.einsum("nd,nd->n", x, x)

    # Random order of each writer's genuines: sort by (writer, random key).
    keys = np.random.default_rng(seed).random(len(y))
    gen_idx = np.flatnonzero(genuine)
    gen_idx = gen_idx[np.lexsort((keys[gen_idx], writer_pos[gen_idx]))]
    starts = np.concatenate([[0], np.cumsum(counts)])
    rank = np.arange(len(gen_idx)) - starts[writer_pos[gen_idx]]
    is_ref = rank < num_references
    ref_idx = gen_idx[is_ref].reshape(len(writers), num_references)
    query_idx = gen_idx[~is_ref]
    random_idx = gen_idx[rank == num_references]  # first query genuine of each writer

    skilled_idx = np.flatnonzero(yforg == 1)
    # Random forgeries: (W random samples) x (W writers) x k references in one product.
    all_refs = ref_idx.reshape(-1)
    rnd = _distances(x[random_idx], x[all_refs], metric, sq[random_idx], sq[all_refs])
    rnd = -fuse(rnd.reshape(len(writers), len(writers), num_references), fusion, axis=2)

    q_writer = writer_pos[query_idx]
    s_writer = writer_pos[skilled_idx]
    q_bounds = np.searchsorted(q_writer, np.arange(len(writers) + 1))
    s_order = np.argsort(s_writer, kind="stable")
    skilled_idx, s_writer = skilled_idx[s_order], s_writer[s_order]
    s_bounds = np.searchsorted(s_writer, np.arange(len(writers) + 1))

    genuine_scores, random_scores, skilled_scores = [], [], []
    others = ~np.eye(len(writers), dtype=bool)
    for w in range(len(writers)):
        refs = ref_idx[w]
        both = np.concatenate(
            [query_idx[q_bounds[w] : q_bounds[w + 1]], skilled_idx[s_bounds[w] : s_bounds[w + 1]]]
        )
        scores = -fuse(_distances(x[both], x[refs], metric, sq[both], sq[refs]), fusion, axis=1)
        n_gen = q_bounds[w + 1] - q_bounds[w]
        genuine_scores.append(scores[:n_gen])
        skilled_scores.append(scores[n_gen:])
        random_scores.append(rnd[others[:, w], w])
    return genuine_scores, random_scores, skilled_scores


def holdout_verification(
    features: np.ndarray,
    y: np.ndarray,
    yforg: np.ndarray,
    num_references: int = 5,
    seed: int = 0,
    metric: str = "cosine",
    fusion: str = "mean",
    threshold: float = 0.0,
) -> dict:
    """Distance-based verification metrics over the writers present in ``y`` (see module docstring).

    Raises ValueError when a writer has fewer than ``num_references + 1`` genuine signatures, when there
    are fewer than two writers (no random forgeries), or on unknown metric/fusion names.
    """
    scores = holdout_score_lists(features, y, yforg, num_references, seed, metric, fusion)
    return compute_metrics(*scores, threshold=threshold)
