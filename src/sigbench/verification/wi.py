"""Writer-independent (WI) protocol: one SVM in the dichotomy space (Souza et al., BRACIS 2018, as
implemented in contrastive_sigver ``wi``; notes section 7).

A pair of signatures becomes ``|f_i - f_j|``; one SVM, trained on development users, says "same writer"
(positive decision) or not, for any writer. Per fold, one ``np.random.RandomState(seed)`` shared by all
folds draws, in the reference order:

1. the exploitation split (``gen_for_ref`` references, ``gen_for_test`` test genuines per user);
2. per development user (increasing id) a shuffle of its genuines, the first ``gen_for_train`` (12) kept;
3. the training pairs (:func:`plan_training_pairs`): positives are all ``C(12, 2) = 66`` within-writer
   pairs; negatives: for each development user, ``n_against = gen_for_train // 2 = 6`` other users drawn
   without replacement, and for each of them ONE random signature among its first ``gen_for_train - 1``
   (11) kept genuines, paired with each of the user's own first 11 kept genuines: ``11 x 6 = 66``
   negatives per user (the 12th kept genuine is used only in positive pairs);
4. the test queries (default ``"balanced"``, the only random-forgery protocol of the WI reference code;
   ``"sigver"`` is allowed but scores every test genuine of every other user against 12 references).

Classifier: std-only scaler + ``SVC(C=1, gamma=2**-11)``, no class weight (the classes are balanced).
A query's score is the fusion (``max`` default; ``min``, ``mean``, ``median``) of the decision values of
``|q - r_k|`` over the user's references. Reference dtype behaviour is kept: training pairs are built
from features cast to float64, test differences in the features' own dtype.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline

from sigbench.verification._parallel import parallel_map
from sigbench.verification.distance import check_fusion, fuse
from sigbench.verification.results import fold_result
from sigbench.verification.splits import (
    QuerySet,
    UserSplit,
    check_min_genuine,
    check_test_protocol,
    draw_query_sets,
    genuine_rows,
    score_query_set,
    split_references_test,
    validate_inputs,
)
from sigbench.verification.wd import SVM_TYPES, make_svm


@dataclass(frozen=True)
class PairPlan:
    """Row indices of the training pairs: ``|f[pos_a] - f[pos_b]|`` label 1, ``neg`` label -1."""

    pos_a: np.ndarray
    pos_b: np.ndarray
    neg_a: np.ndarray
    neg_b: np.ndarray


def within_pair_positions(n: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``C(n, 2)`` position pairs in the reference order: for j, every k > j gives ``(k, j)``."""
    j, k = np.triu_indices(n, k=1)
    return k, j


def plan_training_pairs(
    y: np.ndarray, yforg: np.ndarray, dev_users: np.ndarray, gen_for_train: int, rng: np.random.RandomState
) -> PairPlan:
    """Shuffle each development user's genuines, keep ``gen_for_train``, draw the negative pairs
    (module docstring, steps 2-3). Needs at least ``gen_for_train // 2 + 1`` development users."""
    n_against = gen_for_train // 2
    if gen_for_train < 2:
        raise ValueError(f"WI gen_for_train must be >= 2 to form pairs, got {gen_for_train}")
    if len(dev_users) < n_against + 1:
        raise ValueError(
            f"WI negatives pair each development user with {n_against} others: need at least "
            f"{n_against + 1} development users, got {len(dev_users)}"
        )
    check_min_genuine(y, yforg, dev_users, gen_for_train, f"WI gen_for_train={gen_for_train}")
    kept = []
    for user in dev_users:
        gen = genuine_rows(y, yforg, user)
        rng.shuffle(gen)
        kept.append(gen[:gen_for_train])
    kept = np.stack(kept)  # (n_users, gen_for_train)

    k, j = within_pair_positions(gen_for_train)
    pos_a, pos_b = kept[:, k].reshape(-1), kept[:, j].reshape(-1)

    n_signs = gen_for_train - 1
    neg_a, neg_b = [], []
    n_users = len(dev_users)
    for i in range(n_users):
        candidates = [u for u in range(n_users) if u != i]
        for other in rng.choice(candidates, n_against, replace=False):
            neg_a.append(kept[i, :n_signs])
            neg_b.append(np.full(n_signs, kept[other, rng.randint(n_signs)]))
    return PairPlan(pos_a, pos_b, np.concatenate(neg_a), np.concatenate(neg_b))


def dichotomy(features: np.ndarray, a: np.ndarray, b: np.ndarray, dtype=np.float64) -> np.ndarray:
    """``|f[a] - f[b]|`` row-wise, computed in ``dtype``."""
    return np.abs(features[a].astype(dtype, copy=False) - features[b].astype(dtype, copy=False))


def train_wi_classifier(
    features: np.ndarray, plan: PairPlan, svm_type: str = "rbf", C: float = 1.0, gamma: float = 2**-11
) -> Pipeline:
    """Fit the WI SVM on the planned pairs (positives first, then negatives, reference order)."""
    x = np.concatenate(
        [dichotomy(features, plan.pos_a, plan.pos_b), dichotomy(features, plan.neg_a, plan.neg_b)]
    )
    labels = np.concatenate([np.ones(len(plan.pos_a), dtype=int), -np.ones(len(plan.neg_a), dtype=int)])
    return make_svm(svm_type, C, gamma).fit(x, labels)


def wi_scores(
    model: Pipeline, features: np.ndarray, references: np.ndarray, queries: np.ndarray, fusion: str = "max"
) -> np.ndarray:
    """Fused decision values of ``|q - r|`` over the references, one per query row (feature dtype)."""
    check_fusion(fusion)
    if len(queries) == 0:
        return np.empty(0)
    q = features[queries]
    r = features[references]
    diffs = np.abs(q[:, None, :] - r[None, :, :]).reshape(-1, q.shape[1])
    return fuse(model.decision_function(diffs).reshape(len(queries), len(references)), fusion, axis=1)


@dataclass(frozen=True)
class WIFold:
    """One fold's draws: training pairs, and the exploitation splits with their queries."""

    pairs: PairPlan
    splits: list[UserSplit]
    queries: list[QuerySet]


def wi_fold_scores(
    fold: WIFold,
    features: np.ndarray,
    svm_type: str = "rbf",
    C: float = 1.0,
    gamma: float = 2**-11,
    fusion: str = "max",
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Train one fold's WI SVM and score every exploitation user's queries (one worker per fold, so the
    possibly large model never crosses a process boundary)."""
    model = train_wi_classifier(features, fold.pairs, svm_type, C, gamma)
    return [
        score_query_set(lambda rows, refs=s.references: wi_scores(model, features, refs, rows, fusion), q)
        for s, q in zip(fold.splits, fold.queries, strict=True)
    ]


def run_wi(
    features: np.ndarray,
    y: np.ndarray,
    yforg: np.ndarray,
    exp_users: Iterable[int],
    dev_users: Iterable[int],
    folds: int = 10,
    seed: int = 1234,
    n_jobs: int = 1,
    backend: str = "loky",
    gen_for_train: int = 12,
    gen_for_ref: int = 12,
    gen_for_test: int = 10,
    fusion: str = "max",
    svm_type: str = "rbf",
    C: float = 1.0,
    gamma: float = 2**-11,
    test_protocol: str = "balanced",
    threshold: float = 0.0,
    include_simple_forgeries: bool = False,
    expected_dim: int | None = None,
) -> list[dict]:
    """Run ``folds`` WI folds; one reference-layout dict per fold (users in increasing id).

    All folds are drawn first, then folds run in parallel (train + score in one worker). Results do not
    depend on ``n_jobs``/``backend``.
    """
    features, y, yforg, exp, dev = validate_inputs(features, y, yforg, exp_users, dev_users, expected_dim)
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    if svm_type not in SVM_TYPES:
        raise ValueError(f"unknown svm_type {svm_type!r}; valid: {', '.join(SVM_TYPES)}")
    check_fusion(fusion)
    check_test_protocol(test_protocol)
    if dev.size == 0:
        raise ValueError("WI trains on development users, but dev_users is empty")
    check_min_genuine(y, yforg, exp, gen_for_ref + gen_for_test, "WI references + test genuines")
    check_min_genuine(y, yforg, dev, gen_for_train, f"WI gen_for_train={gen_for_train}")

    rng = np.random.RandomState(seed)
    plans = []
    for _ in range(folds):
        splits = split_references_test(
            y, yforg, exp, gen_for_ref, gen_for_test, rng, include_simple_forgeries
        )
        pairs = plan_training_pairs(y, yforg, dev, gen_for_train, rng)
        plans.append(WIFold(pairs, splits, draw_query_sets(splits, test_protocol, rng, gen_for_test)))

    fold_scores = parallel_map(
        wi_fold_scores,
        plans,
        n_jobs,
        backend,
        dict(features=features, svm_type=svm_type, C=C, gamma=gamma, fusion=fusion),
        chunks_per_job=1,
    )
    results = []
    for scores in fold_scores:
        genuine, random, skilled = (list(s) for s in zip(*scores, strict=True))
        results.append(fold_result(genuine, random, skilled, threshold))
    return results
