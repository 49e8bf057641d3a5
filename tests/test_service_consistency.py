"""The enrolment consistency check on hand-made embeddings, and where its spread floor comes from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigbench.service.bundle import Bundle
from sigbench.service.enrol import MIN_SPREAD, consistency, genuine_spread

# three copies of one direction and one orthogonal to them: leave-one-out mean cosine similarity is
# (1 + 1 + 0) / 3 for each copy and 0 for the odd one; median 2/3, MAD 0, so the floor sets the spread
EMBEDDINGS = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_leave_one_out_scores_and_z_by_hand():
    check = consistency([10, 11, 12, 13], EMBEDDINGS, "mean", z_max=3.5, min_spread=0.1)
    assert check.loo_scores == pytest.approx([2 / 3, 2 / 3, 2 / 3, 0.0])
    assert check.z_scores == pytest.approx([0.0, 0.0, 0.0, -(2 / 3) / 0.1])
    assert check.outliers == [13]
    assert check.score == pytest.approx(0.5)


def test_the_spread_floor_decides_at_the_boundary():
    # z of the odd one is -(2/3) / floor: -3.33 (kept) with a floor of 0.2, -3.51 (named) just under 0.19
    assert consistency([1, 2, 3, 4], EMBEDDINGS, "mean", z_max=3.5, min_spread=0.2).outliers == []
    assert consistency([1, 2, 3, 4], EMBEDDINGS, "mean", z_max=3.5, min_spread=0.19).outliers == [4]


def _bundle(report: dict) -> Bundle:
    thresholds = {"accept": 0.9, "reject": 0.8, "targets": {}, "report": report}
    return Bundle(Path("unused"), {"thresholds": {"distance": thresholds}})


def test_genuine_spread_is_the_larger_calibration_estimate():
    both = {"development": {"genuine_std": 0.021}, "held_out": {"genuine_std": 0.038}}
    assert genuine_spread(_bundle(both)) == pytest.approx(0.038)
    reversed_ = {"development": {"genuine_std": 0.05}, "held_out": {"genuine_std": 0.03}}
    assert genuine_spread(_bundle(reversed_)) == pytest.approx(0.05)
    assert genuine_spread(_bundle({"development": {"genuine_std": 0.021}})) == pytest.approx(0.021)
    assert genuine_spread(Bundle(Path("unused"), {})) == MIN_SPREAD
