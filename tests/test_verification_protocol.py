"""run_protocol: the front door, determinism across n_jobs, and the clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from sigbench.verification.metrics import METRIC_KEYS
from sigbench.verification.protocol import protocol_options, run_protocol


def make_set(n_users=20, n_gen=24, n_skilled=10, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_users, dim))
    y = np.repeat(np.arange(n_users), n_gen + n_skilled)
    yforg = np.tile(np.r_[np.zeros(n_gen), np.ones(n_skilled)], n_users).astype(int)
    x = centres[y] + 0.8 * rng.normal(size=(len(y), dim))
    forg = yforg == 1  # skilled forgeries: halfway between the user and another user
    x[forg] = 0.5 * (centres[y[forg]] + centres[rng.integers(0, n_users, forg.sum())]) + 0.8 * rng.normal(
        size=(forg.sum(), dim)
    )
    return x.astype(np.float32), y, yforg


X, Y, YFORG = make_set()
EXP, DEV = range(0, 12), range(12, 20)


def _scores(folds):
    keys = ("genuinePreds", "randomPreds", "skilledPreds")
    return [np.concatenate(f["predictions"][k]) for f in folds for k in keys]


@pytest.mark.parametrize(
    ("protocol", "params", "n_random"),
    [
        ("wd", {}, 110),
        ("wd", {"test_protocol": "balanced", "svm_type": "linear"}, 10),
        ("wi", {}, 10),
        ("wi", {"fusion": "mean", "test_protocol": "sigver", "gen_for_train": 6}, 110),
        ("distance", {"metric": "euclidean", "fusion": "min"}, 110),
    ],
)
def test_layout_of_each_protocol(protocol, params, n_random):
    folds = run_protocol(X, Y, YFORG, protocol, EXP, DEV, folds=2, **params)
    assert len(folds) == 2
    for fold in folds:
        assert set(fold) == {"all_metrics", "predictions"}
        assert list(fold["all_metrics"]) == list(METRIC_KEYS)
        preds = fold["predictions"]
        assert set(preds) == {"genuinePreds", "randomPreds", "skilledPreds"}
        assert [len(p) for p in preds["genuinePreds"]] == [10] * 12
        assert [len(p) for p in preds["randomPreds"]] == [n_random] * 12
        assert [len(p) for p in preds["skilledPreds"]] == [10] * 12
        assert 0.0 <= fold["all_metrics"]["EER"] < 0.5
    # folds come from one RNG: they differ
    assert not np.array_equal(_scores(folds[:1])[0], _scores(folds[1:])[0])


def test_same_seed_same_results_and_separable_data():
    a = run_protocol(X, Y, YFORG, "distance", EXP, None, folds=2, seed=5)
    b = run_protocol(X, Y, YFORG, "distance", EXP, None, folds=2, seed=5)
    for u, v in zip(_scores(a), _scores(b), strict=True):
        np.testing.assert_array_equal(u, v)
    assert a[0]["all_metrics"]["EER"] < 0.2  # users are well separated from their skilled forgeries


@pytest.mark.parametrize(
    ("protocol", "backend"), [("wd", "loky"), ("wd", "threading"), ("wi", "threading"), ("distance", "loky")]
)
def test_parallel_equals_serial(protocol, backend):
    serial = run_protocol(X, Y, YFORG, protocol, EXP, DEV, folds=2, n_jobs=1)
    par = run_protocol(X, Y, YFORG, protocol, EXP, DEV, folds=2, n_jobs=2, backend=backend)
    for u, v in zip(_scores(serial), _scores(par), strict=True):
        np.testing.assert_array_equal(u, v)
    assert [f["all_metrics"]["EER"] for f in serial] == [f["all_metrics"]["EER"] for f in par]


def test_protocol_options_lists_reference_defaults():
    wd = protocol_options("wd")
    counts = (wd["gen_for_train"], wd["gen_for_test"], wd["forg_from_dev"], wd["forg_from_exp"])
    assert counts == (12, 10, 14, 0)
    assert wd["C"] == 1.0 and wd["gamma"] == 2**-11 and wd["test_protocol"] == "sigver"
    wi = protocol_options("wi")
    assert wi["fusion"] == "max" and wi["gen_for_ref"] == 12 and wi["test_protocol"] == "balanced"


# ---- clear errors --------------------------------------------------------------------------------------


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="unknown protocol 'svm'; valid: wd, wi, distance"):
        run_protocol(X, Y, YFORG, "svm", EXP, DEV)
    with pytest.raises(ValueError, match="unknown fusion 'sum'; valid: mean, min, max, median"):
        run_protocol(X, Y, YFORG, "wi", EXP, DEV, fusion="sum")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['gen_for_tets'\].*gen_for_test"):
        run_protocol(X, Y, YFORG, "wd", EXP, DEV, gen_for_tets=5)
    with pytest.raises(ValueError, match="unknown test protocol 'fair'; valid: sigver, balanced"):
        run_protocol(X, Y, YFORG, "wd", EXP, DEV, test_protocol="fair")
    with pytest.raises(ValueError, match="unknown svm_type 'poly'; valid: rbf, linear"):
        run_protocol(X, Y, YFORG, "wd", EXP, DEV, svm_type="poly")
    with pytest.raises(ValueError, match="unknown distance metric 'l1'"):
        run_protocol(X, Y, YFORG, "distance", EXP, DEV, metric="l1")
    with pytest.raises(ValueError, match="unknown joblib backend 'dask'"):
        run_protocol(X, Y, YFORG, "wd", EXP, DEV, folds=1, n_jobs=2, backend="dask")


def test_too_few_genuine_signatures():
    keep = ~((Y == 3) & (YFORG == 0) & (np.arange(len(Y)) % 34 < 5))  # user 3 keeps 19 genuines
    with pytest.raises(ValueError, match=r"needs 22 genuine signatures per user; too few for user 3: 19"):
        run_protocol(X[keep], Y[keep], YFORG[keep], "wd", EXP, DEV)
    with pytest.raises(ValueError, match=r"needs 30 genuine.*user 0: 24"):
        run_protocol(X, Y, YFORG, "distance", EXP, DEV, gen_for_ref=20)
    with pytest.raises(ValueError, match=r"forg_from_dev=30 needs 30 genuine.*user 12: 24"):
        run_protocol(X, Y, YFORG, "wd", EXP, DEV, forg_from_dev=30)


def test_user_set_errors():
    with pytest.raises(ValueError, match="exp_users is empty"):
        run_protocol(X, Y, YFORG, "wd", range(5, 5), DEV)
    with pytest.raises(ValueError, match=r"must not overlap; shared ids: \[10, 11\]"):
        run_protocol(X, Y, YFORG, "wd", EXP, range(10, 20))
    with pytest.raises(ValueError, match=r"exp_users has 2 id\(s\) with no signature in y: \[20, 21\]"):
        run_protocol(X, Y, YFORG, "distance", range(12, 22), None)
    with pytest.raises(ValueError, match="forg_from_dev=14 needs development users"):
        run_protocol(X, Y, YFORG, "wd", EXP, None)
    with pytest.raises(ValueError, match="WI trains on development users"):
        run_protocol(X, Y, YFORG, "wi", EXP, [])
    with pytest.raises(ValueError, match=r"need at least 7 development users, got 3"):
        run_protocol(X, Y, YFORG, "wi", EXP, range(12, 15))
    with pytest.raises(ValueError, match="needs 10 other exploitation users"):
        run_protocol(X, Y, YFORG, "wd", range(0, 5), DEV, test_protocol="balanced")
    with pytest.raises(ValueError, match=r"needs 10 skilled forgeries per user; got user 0: 9"):
        keep = ~((Y == 0) & (YFORG == 1) & (np.arange(len(Y)) % 34 == 33))
        run_protocol(X[keep], Y[keep], YFORG[keep], "wd", EXP, DEV, test_protocol="balanced")


def test_feature_shape_errors():
    with pytest.raises(ValueError, match="dimension 32 but 2048 was expected"):
        run_protocol(X, Y, YFORG, "wd", EXP, DEV, expected_dim=2048)
    with pytest.raises(ValueError, match="same length; got 680, 679, 680"):
        run_protocol(X, Y[:-1], YFORG, "wd", EXP, DEV)
    with pytest.raises(ValueError, match=r"2-D \(N, D\)"):
        run_protocol(X[:, 0], Y, YFORG, "wd", EXP, DEV)
    bad = X.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        run_protocol(bad, Y, YFORG, "wd", EXP, DEV)
