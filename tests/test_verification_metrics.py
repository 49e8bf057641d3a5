"""compute_metrics and friends against values worked out by hand (arithmetic in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from sigbench.verification.metrics import (
    METRIC_KEYS,
    a_priori_metrics,
    compute_eer,
    compute_metrics,
    eer_confidence_interval,
    far_frr_at_threshold,
    roc_curve,
)

A = np.array


def test_two_users_by_hand():
    genuine = [A([0.5, 1.0, -0.2]), A([2.0, 0.0])]
    random = [A([-1.0, 0.3]), A([-0.4])]
    skilled = [A([0.1, -0.5]), A([0.0, 1.5, -3.0])]
    m = compute_metrics(genuine, random, skilled, threshold=0.0)
    assert list(m) == list(METRIC_KEYS)
    # Threshold 0, accept if score >= 0.
    # genuine pooled [0.5, 1, -0.2, 2, 0]: 4 of 5 accepted -> FRR = 1/5
    assert m["FRR"] == pytest.approx(0.2)
    # random [-1, 0.3, -0.4]: 1 of 3 accepted -> FAR_random = 1/3
    assert m["FAR_random"] == pytest.approx(1 / 3)
    # skilled [0.1, -0.5, 0, 1.5, -3]: 0.1, 0 (tie with threshold counts as accepted), 1.5 -> 3/5
    assert m["FAR_skilled"] == pytest.approx(0.6)
    # AUC user A: 6 genuine/skilled pairs, genuine wins all except (-0.2 vs 0.1) -> 5/6
    # AUC user B: 2.0 beats 3; 0.0 ties 0.0 (1/2), loses to 1.5, beats -3 -> 4.5/6 = 0.75
    assert m["auc_list"] == pytest.approx([5 / 6, 0.75])
    assert m["mean_AUC"] == pytest.approx((5 / 6 + 0.75) / 2)
    # Global ROC, scores sorted down: 2G 1.5S 1G 0.5G 0.1S 0(G,S) -0.2G -0.5S -3S
    # cumulative (tp, fp): (1,0) (1,1) (2,1) (3,1) (3,2) (4,3) (5,3) (5,4) (5,5)
    # drop_intermediate drops 1.0 and -0.5 (no corner in either count).
    # |FPR - (1 - TPR)| = |fp + tp - 5| / 5 -> inf:5 2:4 1.5:3 0.5:1 0.1:0 0:2 -0.2:3 -3:5 -> t = 0.1
    # FRR(0.1) = 1 - 3/5 = 0.4 (2, 1, 0.5 accepted); FAR(0.1) = 1 - 3/5 = 0.4 (0.1, 1.5 accepted)
    assert m["global_threshold"] == pytest.approx(0.1)
    assert m["EER"] == pytest.approx(0.4)
    # User A: 1G .5G .1S -.2G -.5S, (tp,fp) (1,0)(2,0)(2,1)(3,1)(3,2); |fp/2 - (3-tp)/3| minimal
    #   (1/6) at t=0.1 -> genuine errors 1 (-0.2), skilled errors 1 (0.1 >= 0.1)
    # User B: 2G 1.5S 0(G,S) -3S, (1,0)(1,1)(2,2)(2,3); |fp/3 - (2-tp)/2| minimal (1/6) at t=1.5
    #   -> genuine errors 1 (0.0), skilled errors 1 (1.5)
    # pooled: (2/5 + 2/5) / 2 = 0.4
    assert m["EER_userthresholds"] == pytest.approx(0.4)


def test_user_thresholds_beat_a_global_threshold():
    # User 1 lives around 10, user 2 around 2: each is separable on its own, not together.
    genuine = [A([10.0, 11.0]), A([2.0, 3.0])]
    skilled = [A([8.0, 9.0]), A([0.0, 1.0])]
    m = compute_metrics(genuine, [A([]), A([])], skilled)
    # Global: 11G 10G 9S 8S 3G 2G 1S 0S, kept (tp,fp): inf(0,0) 11(1,0) 10(2,0) 8(2,2) 3(3,2) 2(4,2) 0(4,4)
    # (9 and 1 dropped); |fp + tp - 4| / 4 first zero at t = 8:
    # FRR = 1 - 2/4 (10, 11 accepted) = 0.5, FAR = 1 - 2/4 (8, 9 accepted) = 0.5 -> EER 0.5
    assert m["global_threshold"] == 8.0
    assert m["EER"] == pytest.approx(0.5)
    # Per user, t = 10 and t = 2 separate perfectly: no errors.
    assert m["EER_userthresholds"] == 0.0
    assert m["mean_AUC"] == 1.0
    assert math.isnan(m["FAR_random"])  # no random forgeries at all


def test_ties_and_integer_scores():
    genuine = [A([1, 1, 2])]
    skilled = [A([0, 1, 1])]
    m = compute_metrics(genuine, [A([], dtype=int)], skilled, threshold=1)
    # At threshold 1: every genuine >= 1 -> FRR 0; skilled 1, 1 accepted -> FAR_skilled 2/3
    assert m["FRR"] == 0.0
    assert m["FAR_skilled"] == pytest.approx(2 / 3)
    # AUC: 9 pairs; each genuine 1 beats 0 and ties two 1s (1 + 0.5 + 0.5 = 2), genuine 2 beats 3 -> 7/9
    assert m["mean_AUC"] == pytest.approx(7 / 9)
    # ROC: 2(G) ; 1 (G,G,S,S tied: one point) ; 0 (S): (tp,fp) inf(0,0) 2(1,0) 1(3,2) 0(3,3)
    # |FPR - (1 - TPR)|: inf 1, t=2: |0 - (1 - 1/3)|, t=1: |2/3 - 0|, t=0: 1. In exact arithmetic 2 and 1
    # tie, but in floats 1 - 0.333.. = 0.6666666666666667 > 2/3 = 0.6666666666666666, so the minimum is
    # t = 1 (the reference computes the same floats, hence the same choice).
    # FRR(1) = 0, FAR(1) = 1 - 1/3 (only 0 rejected) = 2/3 -> EER 1/3
    assert m["global_threshold"] == 1.0
    assert m["EER"] == pytest.approx(1 / 3)


def test_drop_intermediate_quirk_is_reproduced_and_optional():
    genuine, skilled = A([4.0, 3.0, 2.0]), A([5.0, 1.0])
    # Sorted: 5S 4G 3G 2G 1S; (tp,fp): (0,1) (1,1) (2,1) (3,1) (3,2). 4 and 3 lie on a vertical segment
    # and sklearn's default drops them: kept inf(0,0) 5(0,1) 2(3,1) 1(3,2);
    # |fp/2 - (3-tp)/3| = 1, 0.5, 0.5, 1 -> t = 5: FRR = 1, FAR = 1 - 1/2 -> EER 0.75.
    assert compute_eer(genuine, skilled) == (pytest.approx(0.75), 5.0)
    # All points: 4 (1,1) and 3 (2,1) both give 1/6 in exact arithmetic; in floats
    # |0.5 - 0.6666666666666667| > |0.5 - 0.33333333333333337|, so t = 3:
    # FRR = 1 - 2/3 (2 rejected), FAR = 1 - 1/2 (5 accepted) -> EER (1/3 + 1/2) / 2
    eer, t = compute_eer(genuine, skilled, drop_intermediate=False)
    assert t == 3.0 and eer == pytest.approx((1 / 3 + 0.5) / 2)


@pytest.mark.parametrize("drop", [True, False])
@pytest.mark.parametrize("kind", ["float", "float32", "int", "ties"])
def test_roc_curve_is_bit_identical_to_sklearn(kind, drop):
    rng = np.random.default_rng(7)
    g, s = rng.normal(1, 1, 40), rng.normal(0, 1, 35)
    if kind == "float32":
        g, s = g.astype(np.float32), s.astype(np.float32)
    elif kind == "int":
        g, s = np.round(3 * g).astype(int), np.round(3 * s).astype(int)
    elif kind == "ties":
        g, s = np.round(g, 1), np.round(s, 1)
    ours = roc_curve(g, s, drop_intermediate=drop)
    labels = np.r_[np.ones(len(g)), -np.ones(len(s))]
    ref = sk_metrics.roc_curve(labels, np.r_[g, s], drop_intermediate=drop)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(a, b)
    if drop:
        m = compute_metrics([g], [s[:3]], [s])
        assert m["mean_AUC"] == sk_metrics.roc_auc_score(labels, np.r_[g, s])


def test_empty_groups():
    genuine = [A([1.0, 2.0]), A([3.0])]
    random = [A([]), A([0.5])]
    skilled = [A([0.0]), A([])]
    m = compute_metrics(genuine, random, skilled)
    assert m["FAR_random"] == 1.0  # 0.5 >= 0: pooled over the one random forgery that exists
    assert m["FAR_skilled"] == 1.0  # 0.0 >= 0
    assert m["auc_list"][0] == 1.0 and math.isnan(m["auc_list"][1])  # user 2 skipped
    assert m["mean_AUC"] == 1.0
    assert m["EER"] == 0.0 and m["EER_userthresholds"] == 0.0
    none = compute_metrics([A([1.0])], [A([])], [A([])])
    assert math.isnan(none["EER"]) and math.isnan(none["mean_AUC"]) and math.isnan(none["EER_userthresholds"])
    with pytest.raises(ValueError, match=r"positions \[1\] have no genuine"):
        compute_metrics([A([1.0]), A([])], [A([]), A([])], [A([0.0]), A([0.0])])
    with pytest.raises(ValueError, match="one array per user"):
        compute_metrics([A([1.0])], [], [A([0.0])])


def test_far_frr_at_threshold_accepts_arrays_or_lists():
    out = far_frr_at_threshold(A([1.0, 2.0, 3.0]), [A([0.0]), A([5.0])], [A([2.0, 2.5])], threshold=2.0)
    # genuine: 1 < 2 rejected -> 1/3; random: 5 accepted -> 1/2; skilled: both accepted (>= 2) -> 1
    assert out == {"FRR": pytest.approx(1 / 3), "FAR_random": 0.5, "FAR_skilled": 1.0}


def test_a_priori_threshold_from_validation_scores():
    # Validation: 3G 2G 1S 0S, kept (tp,fp) inf(0,0) 3(1,0) 2(2,0) 0(2,2) ("1" dropped);
    # |fp/2 - (2-tp)/2| = 1, 0.5, 0, ... -> t = 2
    out = a_priori_metrics(
        [A([2.0, 3.0])], [A([0.0, 1.0])], [A([1.5, 2.5, 3.0])], [A([2.0, -1.0])], [A([1.9, 2.1, 0.0, 0.0])]
    )
    assert out["threshold"] == 2.0
    assert out["FRR"] == pytest.approx(1 / 3)  # 1.5 < 2
    assert out["FAR_random"] == 0.5  # 2.0 >= 2
    assert out["FAR_skilled"] == 0.25  # 2.1
    with pytest.raises(ValueError, match="validation genuine and skilled"):
        a_priori_metrics([A([1.0])], [A([])], [A([1.0])], [A([])], [A([])])


def test_confidence_interval():
    ci = eer_confidence_interval([0.1, 0.2, 0.3])
    # mean 0.2, s = 0.1, t_{0.975, 2} = 4.302653 -> half width 4.302653 * 0.1 / sqrt(3) = 0.248414
    assert ci["mean"] == pytest.approx(0.2)
    assert ci["high"] - ci["mean"] == pytest.approx(0.248414, abs=1e-6)
    assert ci["mean"] - ci["low"] == pytest.approx(0.248414, abs=1e-6)
    boot = eer_confidence_interval([0.1, 0.2, 0.3], method="bootstrap", seed=1)
    assert 0.1 <= boot["low"] < 0.2 < boot["high"] <= 0.3
    assert eer_confidence_interval([0.25])["low"] == 0.25
    with pytest.raises(ValueError, match="valid: 't', 'bootstrap'"):
        eer_confidence_interval([0.1, 0.2], method="normal")
    with pytest.raises(ValueError, match="NaN"):
        eer_confidence_interval([0.1, float("nan")])


def _sklearn_restatement(genuine, random, skilled, thr):
    """The reference definitions written directly on sklearn (slow path) for an exact comparison."""
    g, r, s = np.concatenate(genuine), np.concatenate(random), np.concatenate(skilled)

    def threshold(gen, sk):
        fpr, tpr, t = sk_metrics.roc_curve(np.r_[np.ones(len(gen)), -np.ones(len(sk))], np.r_[gen, sk])
        return t[np.argmin(np.abs(fpr - (1 - tpr)))]

    t = threshold(g, s)
    errors, counts = np.zeros(2), np.zeros(2)
    for gu, su in zip(genuine, skilled, strict=True):
        tu = threshold(gu, su)
        errors += [np.sum(gu < tu), np.sum(su >= tu)]
        counts += [len(gu), len(su)]
    aucs = [
        sk_metrics.roc_auc_score(np.r_[np.ones(len(gu)), -np.ones(len(su))], np.r_[gu, su])
        for gu, su in zip(genuine, skilled, strict=True)
    ]
    return {
        "FRR": 1 - np.mean(g >= thr),
        "FAR_random": 1 - np.mean(r < thr),
        "FAR_skilled": 1 - np.mean(s < thr),
        "mean_AUC": np.mean(aucs),
        "EER": ((1 - np.mean(g >= t)) + (1 - np.mean(s < t))) / 2,
        "EER_userthresholds": np.mean(errors / counts),
        "auc_list": aucs,
        "global_threshold": t,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_the_reference_definitions_exactly(seed):
    rng = np.random.default_rng(seed)
    genuine = [np.round(rng.normal(1, 1, 10), 1) for _ in range(15)]
    random = [rng.normal(-1, 1, 30) for _ in range(15)]
    skilled = [np.round(rng.normal(0, 1, rng.integers(5, 20)), 1) for _ in range(15)]
    ours = compute_metrics(genuine, random, skilled, threshold=0.3)
    ref = _sklearn_restatement(genuine, random, skilled, 0.3)
    assert ours == {k: (list(v) if k == "auc_list" else float(v)) for k, v in ref.items()}
