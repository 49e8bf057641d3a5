"""The reference metric suite for signature verification (luizgh/sigver ``wd/metrics.py``).

Inputs are per-user lists of 1-D score arrays; a signature is *accepted* when ``score >= threshold``.
Published GPDS/MCYT/CEDAR numbers are computed with exactly these definitions, so every rule below
follows the reference (notes/protocols.md section 8). Deliberate, documented extensions:

* **EER threshold rule.** the ROC is sklearn's ``roc_curve`` with its defaults, as in the reference
  (reimplemented in numpy for speed, bit-identical, see :func:`roc_curve`):
  ``drop_intermediate=True`` removes collinear ROC points, so the chosen threshold can differ from the
  one an exhaustive search would pick (on a vertical ROC segment the dropped middle point may be closer
  to ``FPR = 1 - TPR``). ``drop_intermediate=False`` is offered as the corrected behaviour. The first
  ROC threshold is ``inf`` in sklearn >= 1.3 (``max + 1`` before): it is selected only in degenerate
  cases and gives the same EER (0.5) under both conventions, but ``global_threshold`` then is ``inf``.
  Ties (equal scores) are one ROC point, and because acceptance is ``>=``, a threshold equal to a tied
  score accepts every tied sample; integer scores behave exactly like floats.
* **Empty groups.** The reference crashes or returns NaN with warnings. Here: a user without genuine
  scores is an error (no FRR, no ROC); FAR_random / FAR_skilled are pooled over what exists (NaN when
  nothing exists); a user without skilled forgeries is skipped by the AUC and the user-threshold EER
  (its ``auc_list`` entry is NaN, ``mean_AUC`` is the mean over the other users).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRIC_KEYS = (
    "FRR",
    "FAR_random",
    "FAR_skilled",
    "mean_AUC",
    "EER",
    "EER_userthresholds",
    "auc_list",
    "global_threshold",
)
SCALAR_METRICS = ("FRR", "FAR_random", "FAR_skilled", "mean_AUC", "EER", "EER_userthresholds")

ScoreList = Sequence[np.ndarray]


def _as_score_lists(
    genuine: ScoreList, random: ScoreList, skilled: ScoreList
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Validate the per-user lists: same number of users, 1-D arrays, every user has genuine scores."""
    if not (len(genuine) == len(random) == len(skilled)):
        raise ValueError(
            f"genuine, random and skilled must hold one array per user; got {len(genuine)}, "
            f"{len(random)} and {len(skilled)} users"
        )
    if len(genuine) == 0:
        raise ValueError("no users: genuine, random and skilled score lists are empty")
    out = []
    for name, lists in (("genuine", genuine), ("random", random), ("skilled", skilled)):
        arrays = [np.asarray(a) for a in lists]
        for i, a in enumerate(arrays):
            if a.ndim != 1:
                raise ValueError(f"{name} scores of user {i} must be 1-D, got shape {a.shape}")
        out.append(arrays)
    empty = [i for i, a in enumerate(out[0]) if a.size == 0]
    if empty:
        raise ValueError(f"users at positions {empty} have no genuine scores; FRR and EER need them")
    return out[0], out[1], out[2]


def _one_minus_rate(mask_parts: list[np.ndarray]) -> float:
    """``1 - mean`` of pooled boolean arrays, in this order of operations as the reference computes it
    (``1 - 0.8`` is not ``0.2`` in floats); NaN when nothing is pooled."""
    total = sum(m.size for m in mask_parts)
    if total == 0:
        return float("nan")
    return 1.0 - float(np.mean(np.concatenate(mask_parts)))


def far_frr_at_threshold(
    genuine: ScoreList | np.ndarray,
    random: ScoreList | np.ndarray,
    skilled: ScoreList | np.ndarray,
    threshold: float,
) -> dict[str, float]:
    """FRR, FAR_random and FAR_skilled at one threshold, pooled over users (accept if ``score >= t``).

    Each argument is either one array or a per-user list of arrays. ``FRR = 1 - mean(gen >= t)``,
    ``FAR = 1 - mean(forgery < t)`` as in the reference (identical to ``mean(forgery >= t)``).
    A group with no scores gives NaN.
    """
    parts = []
    for group in (genuine, random, skilled):
        arrays = [np.asarray(group)] if isinstance(group, np.ndarray) else [np.asarray(a) for a in group]
        parts.append([a.reshape(-1) for a in arrays])
    frr = _one_minus_rate([g >= threshold for g in parts[0]])
    far_random = _one_minus_rate([r < threshold for r in parts[1]])
    far_skilled = _one_minus_rate([s < threshold for s in parts[2]])
    return {"FRR": frr, "FAR_random": far_random, "FAR_skilled": far_skilled}


def roc_curve(
    genuine: np.ndarray, impostor: np.ndarray, drop_intermediate: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC of genuine (positive) vs impostor scores, identical to ``sklearn.metrics.roc_curve`` on labels
    (1 genuine, -1 impostor) with its defaults (checked bit-for-bit by the tests).

    Reimplemented because sklearn's input validation costs ~1-5 ms per call, which dominates the
    per-user loops (300 users x 2 curves per fold). Algorithm: scores sorted decreasingly (stable), one
    point per distinct score (ties merge into one point), cumulative true/false positive counts;
    ``drop_intermediate`` removes points where neither count has a corner (``diff(., 2) == 0``); a first
    point ``(0, 0)`` with threshold ``+inf`` is prepended. Thresholds are float64.
    """
    genuine = np.asarray(genuine).reshape(-1)
    impostor = np.asarray(impostor).reshape(-1)
    scores = np.concatenate([genuine, impostor])
    is_pos = np.concatenate([np.ones(genuine.size), np.zeros(impostor.size)])
    order = np.argsort(scores, kind="stable")[::-1]
    scores, is_pos = scores[order], is_pos[order]
    idx = np.concatenate([np.flatnonzero(np.diff(scores)), [scores.size - 1]])
    tps = np.cumsum(is_pos, dtype=np.float64)[idx]
    fps = 1 + idx.astype(np.float64) - tps
    thresholds = scores[idx].astype(np.float64)
    if drop_intermediate and fps.size > 2:
        keep = np.concatenate([[True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps = np.concatenate([[0.0], fps])
    tps = np.concatenate([[0.0], tps])
    thresholds = np.concatenate([[np.inf], thresholds])
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def eer_threshold(genuine: np.ndarray, skilled: np.ndarray, drop_intermediate: bool = True) -> float:
    """The reference EER threshold: ROC of genuine (positive) vs skilled, first index minimising
    ``|FPR - (1 - TPR)|`` (``np.argmin`` returns the first minimum, as the reference's stable sort)."""
    fpr, tpr, thresholds = roc_curve(genuine, skilled, drop_intermediate)
    return float(thresholds[int(np.argmin(np.abs(fpr - (1 - tpr))))])


def compute_eer(
    genuine: np.ndarray, skilled: np.ndarray, drop_intermediate: bool = True
) -> tuple[float, float]:
    """Global EER and its threshold: errors recomputed at the chosen t, EER = (FRR(t) + FAR(t)) / 2."""
    genuine = np.asarray(genuine).reshape(-1)
    skilled = np.asarray(skilled).reshape(-1)
    if genuine.size == 0 or skilled.size == 0:
        return float("nan"), float("nan")
    t = eer_threshold(genuine, skilled, drop_intermediate)
    frr = 1.0 - float(np.mean(genuine >= t))
    far = 1.0 - float(np.mean(skilled < t))
    return (frr + far) / 2.0, t


def eer(
    scores: np.ndarray | Sequence[float], labels: np.ndarray | Sequence[int], drop_intermediate: bool = True
) -> float:
    """Equal error rate of scores with labels (1 or True: genuine, 0 or False: forgery), in [0, 1].

    The same rule as every EER sigbench reports (:func:`compute_eer`: the reference ROC threshold, then
    ``(FRR + FAR) / 2`` at it; accept when ``score >= threshold``, so higher scores must mean "genuine").
    ``compute_eer(genuine, forgeries)`` also returns the threshold.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"eer: {scores.size} scores but {labels.size} labels")
    if np.isnan(scores).any():
        raise ValueError("eer: scores contain NaN")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"eer: labels must be 1 (genuine) or 0 (forgery), got {np.unique(labels).tolist()}")
    genuine, forgeries = scores[labels == 1], scores[labels == 0]
    if genuine.size == 0 or forgeries.size == 0:
        raise ValueError(
            f"eer needs both classes; got {genuine.size} genuine and {forgeries.size} forgery scores"
        )
    return compute_eer(genuine, forgeries, drop_intermediate)[0]


def user_auc(genuine: np.ndarray, skilled: np.ndarray) -> float:
    """ROC AUC of one user's genuine (positive) vs skilled scores, as ``sklearn.metrics.roc_auc_score``
    (trapezoids under :func:`roc_curve`; ties count one half). NaN without skilled scores."""
    if len(skilled) == 0:
        return float("nan")
    fpr, tpr, _ = roc_curve(genuine, skilled)
    return float(np.trapezoid(tpr, fpr))


def eer_user_thresholds(genuine: ScoreList, skilled: ScoreList, drop_intermediate: bool = True) -> float:
    """EER with one a-posteriori threshold per user: error *counts* pooled over users, then the mean of
    the pooled genuine and skilled error rates. Users without skilled scores are skipped entirely."""
    gen_err = sk_err = n_gen = n_sk = 0
    for g, s in zip(genuine, skilled, strict=True):
        if len(s) == 0:
            continue
        t = eer_threshold(g, s, drop_intermediate)
        gen_err += int(np.sum(g < t))
        sk_err += int(np.sum(s >= t))
        n_gen += len(g)
        n_sk += len(s)
    if n_sk == 0:
        return float("nan")
    return (gen_err / n_gen + sk_err / n_sk) / 2.0


def compute_metrics(
    genuine: ScoreList,
    random: ScoreList,
    skilled: ScoreList,
    threshold: float = 0.0,
    drop_intermediate: bool = True,
) -> dict:
    """The reference ``compute_metrics``: FRR/FAR at ``threshold`` (0 = the SVM boundary), mean per-user
    AUC (genuine vs skilled), global a-posteriori EER and its threshold, user-threshold EER.

    Returns a dict with exactly the keys of ``METRIC_KEYS``; scalars are Python floats and
    ``auc_list`` a list of floats (NaN for users without skilled forgeries).
    """
    genuine, random, skilled = _as_score_lists(genuine, random, skilled)
    rates = far_frr_at_threshold(genuine, random, skilled, threshold)
    aucs = [user_auc(g, s) for g, s in zip(genuine, skilled, strict=True)]
    finite_aucs = [a for a in aucs if not np.isnan(a)]
    mean_auc = float(np.mean(finite_aucs)) if finite_aucs else float("nan")
    eer, global_threshold = compute_eer(np.concatenate(genuine), np.concatenate(skilled), drop_intermediate)
    return {
        "FRR": rates["FRR"],
        "FAR_random": rates["FAR_random"],
        "FAR_skilled": rates["FAR_skilled"],
        "mean_AUC": mean_auc,
        "EER": eer,
        "EER_userthresholds": eer_user_thresholds(genuine, skilled, drop_intermediate),
        "auc_list": aucs,
        "global_threshold": global_threshold,
    }


def a_priori_metrics(
    val_genuine: ScoreList | np.ndarray,
    val_skilled: ScoreList | np.ndarray,
    test_genuine: ScoreList | np.ndarray,
    test_random: ScoreList | np.ndarray,
    test_skilled: ScoreList | np.ndarray,
    drop_intermediate: bool = True,
) -> dict[str, float]:
    """Deployment-style ("a priori") error rates: the global EER threshold is chosen on *validation*
    scores (e.g. development users or another fold), then FRR / FAR_random / FAR_skilled are measured on
    the test scores at that fixed threshold. The published EERs are a posteriori (threshold chosen on the
    test scores themselves), so this is reported next to them, never instead.

    Returns ``{"threshold", "FRR", "FAR_random", "FAR_skilled"}``.
    """

    def pool(x: ScoreList | np.ndarray) -> np.ndarray:
        if isinstance(x, np.ndarray):
            return x.reshape(-1)
        return np.concatenate([np.asarray(a).reshape(-1) for a in x]) if len(x) else np.empty(0)

    vg, vs = pool(val_genuine), pool(val_skilled)
    if vg.size == 0 or vs.size == 0:
        raise ValueError(
            f"a priori threshold needs validation genuine and skilled scores; got {vg.size} and {vs.size}"
        )
    t = eer_threshold(vg, vs, drop_intermediate)
    out = {"threshold": t}
    out.update(far_frr_at_threshold(test_genuine, test_random, test_skilled, t))
    return out


def eer_confidence_interval(
    values: Sequence[float],
    confidence: float = 0.95,
    method: str = "t",
    n_boot: int = 10000,
    seed: int = 0,
) -> dict[str, float]:
    """Confidence interval of the mean of a per-fold metric (e.g. EER over the 10 folds).

    ``method="t"``: Student t interval ``mean ± t_{(1+c)/2, n-1} * s / sqrt(n)`` with the sample std
    (ddof=1). The folds share users and differ only by resampling, so this measures the variability due
    to the choice of references, not across populations; it is narrower than a population CI.
    ``method="bootstrap"``: percentile bootstrap of the mean (``n_boot`` resamples, seeded).
    With one value the interval is degenerate (low = high = mean). NaN values are an error.
    """
    x = np.asarray(values, dtype=float).reshape(-1)
    if x.size == 0:
        raise ValueError("eer_confidence_interval needs at least one value")
    if np.isnan(x).any():
        raise ValueError(f"eer_confidence_interval got NaN values: {x.tolist()}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(x.mean())
    if x.size == 1:
        low = high = mean
    elif method == "t":
        from scipy import stats

        half = float(stats.t.ppf((1 + confidence) / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
        low, high = mean - half, mean + half
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
        alpha = (1 - confidence) / 2
        low, high = (float(v) for v in np.quantile(means, [alpha, 1 - alpha]))
    else:
        raise ValueError(f"unknown CI method {method!r}; valid: 't', 'bootstrap'")
    return {"mean": mean, "low": low, "high": high, "confidence": confidence, "n": int(x.size)}
