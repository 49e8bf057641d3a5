"""Reference/test/negative construction (WD, WI, shared test sets) and parity with the reference draws."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sigbench.verification.splits import (
    draw_dev_negatives,
    draw_exp_negatives,
    draw_query_sets,
    merge_exp_dev,
    split_references_test,
)
from sigbench.verification.wd import plan_wd_fold, run_wd
from sigbench.verification.wi import plan_training_pairs, run_wi


def make_set(n_users=20, n_gen=24, n_skilled=10, dim=32, seed=0, n_simple=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_users, dim))
    per_user = np.r_[np.zeros(n_gen), np.ones(n_skilled), 2 * np.ones(n_simple)].astype(int)
    y = np.repeat(np.arange(n_users), len(per_user))
    yforg = np.tile(per_user, n_users)
    x = centres[y] + 0.8 * rng.normal(size=(len(y), dim))
    return x.astype(np.float32), y, yforg


X, Y, YFORG = make_set()
EXP, DEV = np.arange(0, 12), np.arange(12, 20)


def test_reference_test_split_counts_and_disjointness():
    splits = split_references_test(Y, YFORG, EXP, 12, 10, np.random.RandomState(0))
    assert [s.user for s in splits] == list(EXP)
    for s in splits:
        assert len(s.references) == 12 and len(s.test_genuine) == 10 and len(s.skilled) == 10
        assert not set(s.references) & set(s.test_genuine)
        assert set(Y[np.r_[s.references, s.test_genuine, s.skilled]]) == {s.user}
        assert (YFORG[s.references] == 0).all() and (YFORG[s.skilled] == 1).all()


def test_wd_negatives_come_from_development_users_only():
    tasks = plan_wd_fold(Y, YFORG, EXP, DEV, np.random.RandomState(1))
    assert [t.user for t in tasks] == list(EXP)
    neg = tasks[0].negatives
    assert len(neg) == 14 * len(DEV)
    assert np.bincount(Y[neg], minlength=20)[DEV].tolist() == [14] * len(DEV)
    assert (YFORG[neg] == 0).all() and len(set(neg)) == len(neg)
    for t in tasks:
        np.testing.assert_array_equal(t.negatives, neg)  # drawn once per fold, shared by all users
        used = np.r_[t.positives, t.queries.genuine, t.queries.random, t.queries.skilled]
        assert not np.isin(Y[used], DEV).any()  # development users never exploitation users
        assert len(t.positives) == 12 and len(t.queries.genuine) == 10


def test_wd_negatives_from_exploitation_references():
    tasks = plan_wd_fold(Y, YFORG, EXP, DEV, np.random.RandomState(1), forg_from_exp=3)
    refs = {t.user: set(t.positives) for t in tasks}
    for t in tasks:
        assert len(t.negatives) == 3 * (len(EXP) - 1) + 14 * len(DEV)
        exp_neg = t.negatives[: 3 * (len(EXP) - 1)]
        assert t.user not in set(Y[exp_neg])
        assert all(int(r) in refs[int(Y[r])] for r in exp_neg)  # other users' references, never test rows


def test_sigver_and_balanced_random_forgeries():
    rng = np.random.RandomState(2)
    splits = split_references_test(Y, YFORG, EXP, 12, 10, rng)
    sigver = draw_query_sets(splits, "sigver", rng, 10)
    for s, q in zip(splits, sigver, strict=True):
        assert len(q.random) == 10 * (len(EXP) - 1)  # every test genuine of every other user
        assert s.user not in set(Y[q.random])
        all_test = np.concatenate([o.test_genuine for o in splits if o.user != s.user])
        np.testing.assert_array_equal(np.sort(q.random), np.sort(all_test))
    balanced = draw_query_sets(splits, "balanced", rng, 10)
    for s, q in zip(splits, balanced, strict=True):
        assert (len(q.genuine), len(q.skilled), len(q.random)) == (10, 10, 10)
        assert len(set(Y[q.random])) == 10 and s.user not in set(Y[q.random])  # 10 distinct other users
        others = np.concatenate([o.test_genuine for o in splits])
        assert np.isin(q.random, others).all()
        assert set(q.genuine) == set(s.test_genuine)


def test_simple_forgeries_ignored_unless_asked():
    _, y, yforg = make_set(n_users=4, n_gen=8, n_skilled=3, n_simple=2, dim=4)
    plain = split_references_test(y, yforg, np.arange(4), 4, 4, np.random.RandomState(0))
    both = split_references_test(y, yforg, np.arange(4), 4, 4, np.random.RandomState(0), True)
    assert len(plain[0].skilled) == 3 and len(both[0].skilled) == 5
    assert set(yforg[np.concatenate([s.references for s in plain])]) == {0}


def test_wi_training_pairs():
    plan = plan_training_pairs(Y, YFORG, DEV, 12, np.random.RandomState(3))
    n_dev = len(DEV)
    assert len(plan.pos_a) == 66 * n_dev and len(plan.neg_a) == 66 * n_dev
    assert (Y[plan.pos_a] == Y[plan.pos_b]).all() and (Y[plan.neg_a] != Y[plan.neg_b]).all()
    for u in DEV:
        mine = Y[plan.pos_a] == u
        pairs = {frozenset(p) for p in zip(plan.pos_a[mine], plan.pos_b[mine], strict=True)}
        assert len(pairs) == 66  # all C(12, 2) distinct pairs
        kept = set(np.r_[plan.pos_a[mine], plan.pos_b[mine]])
        assert len(kept) == 12
        neg = Y[plan.neg_a] == u
        assert len(set(plan.neg_a[neg])) == 11  # the user's first 11 kept genuines
        assert np.bincount(plan.neg_a[neg]).max() == 6  # each paired with 6 other users
        assert len(set(Y[plan.neg_b[neg]])) == 6  # 6 distinct other users, one signature each
        assert len(set(plan.neg_b[neg])) == 6
    assert (YFORG[np.r_[plan.pos_a, plan.neg_a, plan.neg_b]] == 0).all()


def test_merge_exp_dev_offsets_ids_and_checks_dimensions():
    a = (np.zeros((4, 8)), np.array([0, 0, 1, 1]), np.zeros(4, int))
    b = (np.ones((2, 8)), np.array([0, 0]), np.zeros(2, int))
    f, y, _, exp, dev = merge_exp_dev(a, b)
    assert f.shape == (6, 8) and exp.tolist() == [0, 1] and dev.tolist() == [2]
    assert y.tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match=r"same dimension.*same model"):
        merge_exp_dev(a, (np.ones((2, 16)), np.array([0, 0]), np.zeros(2, int)))


# ---- parity with the reference procedure -------------------------------------------------------------
# The functions below restate, on per-subset arrays as luizgh/sigver and contrastive_sigver organise
# them, the order of RandomState calls the reference makes; our index-based implementation must select
# the same signatures and therefore produce the same SVM scores.


def _subset(users):
    keep = np.isin(Y, users)
    return X[keep], Y[keep], YFORG[keep]


def _ref_split(x, y, yforg, n_train, n_test, rng):
    train, test = [], []
    for u in np.unique(y):
        gen = np.flatnonzero((y == u) & (yforg == 0))
        rng.shuffle(gen)
        train += gen[:n_train].tolist()
        test += gen[-n_test:].tolist() + np.flatnonzero((y == u) & (yforg == 1)).tolist()
    return (x[train], y[train], yforg[train]), (x[test], y[test], yforg[test])


def _svm(weight=None):
    cw = None if weight is None else {1: weight}
    return Pipeline([("s", StandardScaler(with_mean=False)), ("c", SVC(C=1, gamma=2**-11, class_weight=cw))])


def _reference_wd_fold(rng, balanced):
    (tx, ty, tf), (sx, sy, sf) = _ref_split(*_subset(EXP), 12, 10, rng)
    dx, dy, df = _subset(DEV)
    dev_neg = np.concatenate(
        [dx[rng.choice(np.flatnonzero((dy == u) & (df == 0)), 14, replace=False)] for u in np.unique(dy)]
    )
    models = {}
    for u in np.unique(ty):
        pos = tx[(ty == u) & (tf == 0)]
        xs = np.concatenate([pos, dev_neg])
        labels = np.r_[np.ones(len(pos)), -np.ones(len(dev_neg))]
        models[u] = _svm(len(dev_neg) / len(pos)).fit(xs, labels)
    out = []
    users = np.unique(sy)
    for u in users:
        sk, ge = np.flatnonzero((sy == u) & (sf == 1)), np.flatnonzero((sy == u) & (sf == 0))
        rd = np.flatnonzero((sy != u) & (sf == 0))
        if balanced:
            sk, ge = rng.choice(sk, 10, replace=False), rng.choice(ge, 10, replace=False)
            chosen = rng.choice(np.delete(users, np.where(users == u)), 10, replace=False)
            rd = np.array([rng.choice(np.flatnonzero((sy == c) & (sf == 0))) for c in chosen])
        out.append([models[u].decision_function(sx[i]) for i in (ge, rd, sk)])
    return out


@pytest.mark.parametrize("test_protocol", ["sigver", "balanced"])
def test_wd_matches_reference_draws_and_scores(test_protocol):
    ours = run_wd(X, Y, YFORG, EXP, DEV, folds=2, seed=1234, test_protocol=test_protocol)
    rng = np.random.RandomState(1234)
    for fold in ours:
        ref = _reference_wd_fold(rng, test_protocol == "balanced")
        for i, key in enumerate(("genuinePreds", "randomPreds", "skilledPreds")):
            for a, b in zip(fold["predictions"][key], (r[i] for r in ref), strict=True):
                np.testing.assert_array_equal(a, b)


def _reference_wi_fold(rng):
    (rx, ry, rf), (sx, sy, sf) = _ref_split(*_subset(EXP), 12, 10, rng)
    dx, dy, df = _subset(DEV)
    kept = []
    for u in np.unique(dy):
        gen = np.flatnonzero((dy == u) & (df == 0))
        rng.shuffle(gen)
        kept.append(dx[gen[:12]].astype(np.float64))
    S = np.stack(kept)
    within = [np.abs(S[i][k] - S[i][j]) for i in range(len(S)) for j, k in combinations(range(12), 2)]
    between = []
    for i in range(len(S)):
        for j in rng.choice([k for k in range(len(S)) if k != i], 6, replace=False):
            between += list(np.abs(S[i, :11] - S[j, rng.randint(11)]))
    model = _svm().fit(np.array(within + between), np.r_[np.ones(len(within)), -np.ones(len(between))])
    users, out = np.unique(sy), []
    for u in users:
        sk = rng.choice(np.flatnonzero((sy == u) & (sf == 1)), 10, replace=False)
        ge = rng.choice(np.flatnonzero((sy == u) & (sf == 0)), 10, replace=False)
        chosen = rng.choice(np.delete(users, np.where(users == u)), 10, replace=False)
        rd = np.array([rng.choice(np.flatnonzero((sy == c) & (sf == 0))) for c in chosen])
        refs = rx[(ry == u) & (rf == 0)]
        fused = [
            np.array([model.decision_function(np.abs(q - refs)).max() for q in sx[i]]) for i in (ge, rd, sk)
        ]
        out.append(fused)
    return out


def test_wi_matches_reference_draws_and_scores():
    ours = run_wi(X, Y, YFORG, EXP, DEV, folds=2, seed=1234)
    rng = np.random.RandomState(1234)
    for fold in ours:
        ref = _reference_wi_fold(rng)
        for i, key in enumerate(("genuinePreds", "randomPreds", "skilledPreds")):
            for a, b in zip(fold["predictions"][key], (r[i] for r in ref), strict=True):
                np.testing.assert_array_equal(a, b)


def test_exp_negative_order_follows_python_set_iteration():
    # For ids whose set order is not increasing, the reference visits users in set order.
    ids = np.array([5, 900, 37, 64])
    y = np.repeat(ids, 6)
    yforg = np.zeros(len(y), int)
    splits = split_references_test(y, yforg, np.sort(ids), 3, 2, np.random.RandomState(0))
    neg = draw_exp_negatives(splits, 1, np.random.RandomState(0))
    order = [int(u) for u in set(np.sort(ids)).difference({5})]
    assert [int(y[r]) for r in neg[0]] == order
    assert draw_dev_negatives(y, yforg, np.array([5]), 0, np.random.RandomState(0)).size == 0
