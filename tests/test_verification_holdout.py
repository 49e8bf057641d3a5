"""holdout_verification: the quick distance-based check used during training."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sigbench.verification.holdout import holdout_verification
from sigbench.verification.metrics import METRIC_KEYS


def _writers(n_writers: int, n_gen: int, n_skilled: int, dim: int, seed: int = 0, noise: float = 0.05):
    """Writers with well separated centres; skilled forgeries drawn around unrelated centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_writers, dim))
    y = np.repeat(np.arange(n_writers), n_gen + n_skilled)
    yforg = np.tile(np.r_[np.zeros(n_gen), np.ones(n_skilled)], n_writers).astype(int)
    x = centres[y] + noise * rng.normal(size=(len(y), dim))
    forg = yforg == 1
    x[forg] = rng.normal(size=(forg.sum(), dim))
    return x.astype(np.float32), y, yforg


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("fusion", ["mean", "min", "max", "median"])
def test_separable_features_give_zero_eer(metric, fusion):
    x, y, yforg = _writers(12, 8, 5, 16)
    out = holdout_verification(x, y, yforg, num_references=5, seed=3, metric=metric, fusion=fusion)
    assert set(out) == set(METRIC_KEYS)
    assert out["EER"] == 0.0
    assert out["EER_userthresholds"] == 0.0
    assert out["mean_AUC"] == 1.0
    assert len(out["auc_list"]) == 12


def test_identical_features_give_chance_eer():
    x, y, yforg = _writers(10, 8, 5, 16)
    x[:] = 1.0  # every signature identical: all scores tie
    out = holdout_verification(x, y, yforg)
    assert out["EER"] == pytest.approx(0.5)
    assert out["mean_AUC"] == pytest.approx(0.5)


def test_random_forgery_count_and_seed_determinism():
    x, y, yforg = _writers(7, 8, 5, 16)
    a = holdout_verification(x, y, yforg, seed=1)
    b = holdout_verification(x, y, yforg, seed=1)
    assert a == b
    # With random forgeries being far from every writer, FAR_random at a very low threshold is 1.
    low = holdout_verification(x, y, yforg, seed=1, threshold=-1e9)
    assert low["FAR_random"] == 1.0 and low["FRR"] == 0.0


def test_too_few_genuines_names_writer():
    x, y, yforg = _writers(4, 6, 2, 8)
    keep = ~((y == 2) & (yforg == 0) & (np.arange(len(y)) % 8 < 2))  # writer 2 keeps 4 genuines
    with pytest.raises(ValueError, match=r"writer 2: 4 genuine"):
        holdout_verification(x[keep], y[keep], yforg[keep], num_references=5)


def test_unknown_names_and_single_writer():
    x, y, yforg = _writers(3, 8, 2, 8)
    with pytest.raises(ValueError, match="valid: cosine, euclidean"):
        holdout_verification(x, y, yforg, metric="manhattan")
    with pytest.raises(ValueError, match="valid: mean, min, max, median"):
        holdout_verification(x, y, yforg, fusion="sum")
    with pytest.raises(ValueError, match="at least 2 writers"):
        holdout_verification(x[y == 0], y[y == 0], yforg[y == 0])


def test_fast_for_hundreds_of_writers():
    x, y, yforg = _writers(300, 12, 6, 256, noise=0.5)
    holdout_verification(x[:100], y[:100], yforg[:100], num_references=5)  # warm-up
    start = time.perf_counter()
    holdout_verification(x, y, yforg, num_references=5)
    assert time.perf_counter() - start < 1.0
