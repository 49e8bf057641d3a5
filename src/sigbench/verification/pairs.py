"""Pair verification: is this pair of signatures by one writer? Every pair of the writers' signatures.

For a set where writers have few signatures and no forgeries (Tobacco800 signatures cut from document pages:
one to five per author), a reference / test split leaves nothing to test. This protocol scores every
unordered pair of genuine signatures of the exploitation users instead:

* a **genuine pair** is two signatures of one writer, an **impostor pair** two of different writers (the
  random-forgery setting; writers with one signature give impostor pairs only);
* the score is the negated distance (:func:`sigbench.verification.distance.pairwise_distances`:
  ``cosine`` or ``euclidean``), so higher means "same writer", as in every protocol here;
* the pair set is enumerated with ``np.triu_indices`` and scored from one distance matrix: no Python loop
  over pairs.

Results use the reference per-fold layout (:func:`sigbench.verification.results.fold_result`) with one
"user" standing for the whole pair set: ``genuinePreds = [genuine pair scores]``, ``randomPreds =
[impostor pair scores]``, ``skilledPreds = [no scores]``, so :func:`summarize`, ``results.json``, the ROC /
DET plots and the training report read it without special cases. The metrics:

* ``EER`` and ``global_threshold``: the global-threshold EER of genuine vs impostor pairs
  (:func:`~sigbench.verification.metrics.compute_eer`, the rule of every EER here);
* ``mean_AUC`` (and ``auc_list``, one entry): ROC AUC of genuine vs impostor pairs
  (:func:`~sigbench.verification.metrics.user_auc`);
* ``FRR`` / ``FAR_random``: genuine pairs rejected / impostor pairs accepted at ``threshold`` (a negated
  distance; ``None``, the default, takes the fold's EER threshold, so their mean is the EER and their
  difference shows how uneven the errors are there);
* ``FAR_skilled`` and ``EER_userthresholds``: NaN. There are no skilled forgeries, and a per-writer
  threshold needs per-writer negatives that pairs do not define; :func:`compute_metrics` gives NaN for a
  user without skilled scores, which is what the empty ``skilledPreds`` makes it do.

Folds. The pair set is fixed, so folds cannot redraw references. Fold 0 is the pair set itself (its value is
``per_fold[0]`` in ``results.json``; its scores are the ones plotted). Each further fold is a bootstrap of
the *writers* (``np.random.RandomState(seed)``: writers drawn with replacement, as many as there are):
a writer drawn ``c`` times counts its genuine pairs ``c`` times, a pair of two different writers drawn
``c`` and ``d`` times counts ``c * d`` times, and the pairs between two copies of one writer are left out
(they would be a signature paired with itself, or genuine pairs called impostors). Pairs of one writer are
not independent, so resampling writers, not pairs, is what gives an honest spread: read the std over
folds as the bootstrap standard error of the figure. The mean over folds mixes fold 0 with the bootstrap
replicates; the CI of that mean that :func:`summarize` prints narrows with more folds and is not a
population interval. A draw without any genuine or any impostor pair is drawn again (from the same
generator, so it stays reproducible). ``folds=1`` is the pair set alone (std 0).

Skilled and simple forgeries (``yforg > 0``) in the data are not used: pairs are of genuine signatures.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sigbench.verification.distance import check_metric, pairwise_distances
from sigbench.verification.metrics import compute_eer, user_auc
from sigbench.verification.results import fold_result
from sigbench.verification.splits import validate_inputs

#: Bootstrap draws tried for one fold before giving up (a draw needs a genuine and an impostor pair).
MAX_REDRAWS = 1000


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(i, j)`` of every unordered pair of ``n`` items, ``i < j``, in row-major order."""
    return np.triu_indices(int(n), k=1)


def pair_scores(features: np.ndarray, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, score)`` for every unordered pair of rows of ``features``; score = negated distance."""
    i, j = pair_indices(len(features))
    distances = pairwise_distances(features, features, metric)
    return i, j, -distances[i, j]


def count_pairs(y: np.ndarray) -> tuple[int, int]:
    """(genuine, impostor) pair counts of signatures labelled ``y``: ``sum C(n_w, 2)`` and the rest."""
    counts = np.unique(np.asarray(y), return_counts=True)[1].astype(np.int64)
    total = int(counts.sum())
    genuine = int((counts * (counts - 1) // 2).sum())
    return genuine, total * (total - 1) // 2 - genuine


def pair_metrics(genuine: np.ndarray, impostor: np.ndarray, threshold: float | None = None) -> dict:
    """One fold in the reference layout (see the module docstring) from genuine and impostor pair scores."""
    genuine = np.asarray(genuine, dtype=np.float64).reshape(-1)
    impostor = np.asarray(impostor, dtype=np.float64).reshape(-1)
    if genuine.size == 0 or impostor.size == 0:
        raise ValueError(
            f"pairs protocol needs genuine and impostor pairs; got {genuine.size} genuine and "
            f"{impostor.size} impostor pairs (a genuine pair needs a writer with two signatures)"
        )
    eer, eer_threshold = compute_eer(genuine, impostor)
    fold = fold_result(
        [genuine], [impostor], [np.empty(0)], eer_threshold if threshold is None else float(threshold)
    )
    auc = user_auc(genuine, impostor)
    fold["all_metrics"].update(EER=eer, global_threshold=eer_threshold, mean_AUC=auc, auc_list=[auc])
    return fold


def bootstrap_weights(
    writer: np.ndarray, i: np.ndarray, j: np.ndarray, n_writers: int, rng: np.random.RandomState
) -> np.ndarray:
    """How often each pair ``(i, j)`` counts in one bootstrap of the writers (module docstring):
    ``c[w]`` for a pair of writer ``w``, ``c[a] * c[b]`` for writers ``a != b``; ``writer`` holds the
    0-based writer index of every signature."""
    counts = np.bincount(rng.randint(0, n_writers, size=n_writers), minlength=n_writers)
    wi, wj = writer[i], writer[j]
    return np.where(wi == wj, counts[wi], counts[wi] * counts[wj])


def run_pairs(
    features: np.ndarray,
    y: np.ndarray,
    yforg: np.ndarray,
    exp_users: Iterable[int],
    dev_users: Iterable[int] | None = None,
    folds: int = 1,
    seed: int = 1234,
    n_jobs: int = 1,
    metric: str = "cosine",
    threshold: float | None = None,
    expected_dim: int | None = None,
) -> list[dict]:
    """Every unordered pair of the exploitation users' genuine signatures, scored by negated ``metric``
    distance; fold 0 the pair set, folds 1.. writer bootstraps (see the module docstring).

    ``dev_users`` are not used (nothing is trained); they are only checked not to overlap the exploitation
    users. ``n_jobs`` is accepted for the common interface; one distance matrix needs no workers.
    Raises ValueError when the users' signatures make no genuine pair or no impostor pair.
    """
    features, y, yforg, exp, _ = validate_inputs(features, y, yforg, exp_users, dev_users, expected_dim)
    check_metric(metric)
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    rows = np.flatnonzero(np.isin(y, exp) & (yforg == 0))
    n_genuine, n_impostor = count_pairs(y[rows])
    if n_genuine == 0 or n_impostor == 0:
        raise ValueError(
            f"pairs protocol: the {exp.size} exploitation user(s) have {rows.size} genuine signature(s), "
            f"which make {n_genuine} genuine and {n_impostor} impostor pairs; it needs both (a writer "
            "with two signatures, and two writers)"
        )
    i, j, scores = pair_scores(features[rows], metric)
    _, writer = np.unique(y[rows], return_inverse=True)
    same = writer[i] == writer[j]
    results = [pair_metrics(scores[same], scores[~same], threshold)]
    rng = np.random.RandomState(seed)
    n_writers = int(writer.max()) + 1
    for fold in range(1, folds):
        for _ in range(MAX_REDRAWS):
            weights = bootstrap_weights(writer, i, j, n_writers, rng)
            if weights[same].any() and weights[~same].any():
                break
        else:
            raise ValueError(
                f"pairs protocol: fold {fold}: {MAX_REDRAWS} bootstrap draws of the {n_writers} writers gave "
                "no genuine or no impostor pair; too few writers have two signatures to bootstrap"
            )
        results.append(
            pair_metrics(
                np.repeat(scores[same], weights[same]), np.repeat(scores[~same], weights[~same]), threshold
            )
        )
    return results
