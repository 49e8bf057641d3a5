"""Writer-dependent (WD) protocol: one SVM per exploitation user (luizgh/sigver ``wd``; notes section 6).

Per fold, with one ``np.random.RandomState(seed)`` shared by all folds, draws are made in the reference
order (which differs from "negatives first"):

1. :func:`~sigbench.verification.splits.split_references_test` over the exploitation users
   (``gen_for_train`` references, ``gen_for_test`` test genuines);
2. :func:`~sigbench.verification.splits.draw_dev_negatives`: ``forg_from_dev`` genuines of every
   development user, shared by all users of the fold;
3. :func:`~sigbench.verification.splits.draw_exp_negatives` (only if ``forg_from_exp > 0``);
4. the test queries (:func:`~sigbench.verification.splits.draw_query_sets`; ``"sigver"`` draws nothing,
   ``"balanced"`` draws after all training draws, as contrastive_sigver does).

Then every (fold, user) classifier is trained and scored independently, in parallel (joblib, ``loky``
processes by default: measured, threads did not scale here even though libsvm releases the GIL): std-only
``StandardScaler(with_mean=False)`` + ``SVC`` (RBF ``C=1, gamma=2**-11`` or linear), positives weighted
``n_neg / n_pos``, score = ``decision_function``. Training rows are positives then negatives
(exploitation negatives before development negatives), in the reference order, because libsvm's result
can depend on the sample order. Features keep their dtype (float32 features are scaled in float32, as in
the reference). With identical inputs this reproduces the reference scores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sigbench.verification._parallel import parallel_map
from sigbench.verification.results import fold_result
from sigbench.verification.splits import (
    QuerySet,
    check_min_genuine,
    check_test_protocol,
    draw_dev_negatives,
    draw_exp_negatives,
    draw_query_sets,
    score_query_set,
    split_references_test,
    validate_inputs,
)

SVM_TYPES = ("rbf", "linear")


def make_svm(
    svm_type: str = "rbf", C: float = 1.0, gamma: float = 2**-11, positive_weight: float | None = None
) -> Pipeline:
    """Std-only scaler + SVC, as the reference (``class_weight={1: positive_weight}`` when given)."""
    if svm_type not in SVM_TYPES:
        raise ValueError(f"unknown svm_type {svm_type!r}; valid: {', '.join(SVM_TYPES)}")
    class_weight = None if positive_weight is None else {1: positive_weight}
    if svm_type == "rbf":
        svm = SVC(C=C, gamma=gamma, class_weight=class_weight)
    else:
        svm = SVC(kernel="linear", C=C, class_weight=class_weight)
    return Pipeline([("scaler", StandardScaler(with_mean=False)), ("classifier", svm)])


def train_wd_classifier(
    features: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    svm_type: str = "rbf",
    C: float = 1.0,
    gamma: float = 2**-11,
) -> Pipeline:
    """Fit one user's SVM on rows ``positives`` (label 1) and ``negatives`` (label -1)."""
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError(
            f"WD training needs positives and negatives; got {len(positives)} and {len(negatives)}"
        )
    x = np.concatenate([features[positives], features[negatives]])
    labels = np.concatenate([np.ones(len(positives), dtype=int), -np.ones(len(negatives), dtype=int)])
    model = make_svm(svm_type, C, gamma, positive_weight=len(negatives) / float(len(positives)))
    return model.fit(x, labels)


@dataclass(frozen=True)
class WDTask:
    """Everything one user's classifier needs: training rows and test queries."""

    user: int
    positives: np.ndarray
    negatives: np.ndarray
    queries: QuerySet


def wd_user_scores(
    task: WDTask, features: np.ndarray, svm_type: str = "rbf", C: float = 1.0, gamma: float = 2**-11
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train one user's classifier and score its genuine, random and skilled queries."""
    model = train_wd_classifier(features, task.positives, task.negatives, svm_type, C, gamma)
    return score_query_set(lambda rows: model.decision_function(features[rows]), task.queries)


def plan_wd_fold(
    y: np.ndarray,
    yforg: np.ndarray,
    exp_users: np.ndarray,
    dev_users: np.ndarray,
    rng: np.random.RandomState,
    gen_for_train: int = 12,
    gen_for_test: int = 10,
    forg_from_dev: int = 14,
    forg_from_exp: int = 0,
    test_protocol: str = "sigver",
    include_simple_forgeries: bool = False,
) -> list[WDTask]:
    """Draw one fold (module docstring order) and return one task per exploitation user."""
    splits = split_references_test(
        y, yforg, exp_users, gen_for_train, gen_for_test, rng, include_simple_forgeries
    )
    dev_neg = draw_dev_negatives(y, yforg, dev_users, forg_from_dev, rng)
    exp_neg = draw_exp_negatives(splits, forg_from_exp, rng)
    queries = draw_query_sets(splits, test_protocol, rng, gen_for_test)
    return [
        WDTask(s.user, s.references, np.concatenate([e, dev_neg]).astype(np.int64), q)
        for s, e, q in zip(splits, exp_neg, queries, strict=True)
    ]


def run_wd(
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
    gen_for_test: int = 10,
    forg_from_dev: int = 14,
    forg_from_exp: int = 0,
    svm_type: str = "rbf",
    C: float = 1.0,
    gamma: float = 2**-11,
    test_protocol: str = "sigver",
    threshold: float = 0.0,
    include_simple_forgeries: bool = False,
    expected_dim: int | None = None,
) -> list[dict]:
    """Run ``folds`` WD folds; returns one reference-layout dict per fold (users in increasing id).

    ``threshold`` is the FRR/FAR decision threshold (0 = SVM boundary). All folds are drawn first (index
    arrays only), then every (fold, user) classifier is dispatched in one joblib call, so the workers
    stay busy across fold boundaries and the feature matrix is shared/memory-mapped once. Results do not
    depend on ``n_jobs``/``backend``.
    """
    features, y, yforg, exp, dev = validate_inputs(features, y, yforg, exp_users, dev_users, expected_dim)
    _check_wd_params(y, yforg, dev, folds, forg_from_dev, forg_from_exp, svm_type, test_protocol)
    check_min_genuine(y, yforg, exp, gen_for_train + gen_for_test, "WD references + test genuines")
    rng = np.random.RandomState(seed)

    plans = [
        plan_wd_fold(
            y,
            yforg,
            exp,
            dev,
            rng,
            gen_for_train,
            gen_for_test,
            forg_from_dev,
            forg_from_exp,
            test_protocol,
            include_simple_forgeries,
        )
        for _ in range(folds)
    ]
    scores = parallel_map(
        wd_user_scores,
        [task for plan in plans for task in plan],
        n_jobs,
        backend,
        dict(features=features, svm_type=svm_type, C=C, gamma=gamma),
        chunks_per_job=4,
    )
    results, n_users = [], len(exp)
    for f in range(folds):
        fold_scores = scores[f * n_users : (f + 1) * n_users]
        genuine, random, skilled = (list(s) for s in zip(*fold_scores, strict=True))
        results.append(fold_result(genuine, random, skilled, threshold))
    return results


def _check_wd_params(
    y: np.ndarray,
    yforg: np.ndarray,
    dev: np.ndarray,
    folds: int,
    forg_from_dev: int,
    forg_from_exp: int,
    svm_type: str,
    test_protocol: str,
) -> None:
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    if svm_type not in SVM_TYPES:
        raise ValueError(f"unknown svm_type {svm_type!r}; valid: {', '.join(SVM_TYPES)}")
    check_test_protocol(test_protocol)
    if forg_from_dev <= 0 and forg_from_exp <= 0:
        raise ValueError("WD needs negatives: set forg_from_dev > 0 (with dev_users) or forg_from_exp > 0")
    if forg_from_dev > 0:
        if dev.size == 0:
            raise ValueError(f"forg_from_dev={forg_from_dev} needs development users, but dev_users is empty")
        check_min_genuine(y, yforg, dev, forg_from_dev, f"forg_from_dev={forg_from_dev}")
