"""Distance baselines and the SignVer-style matcher on tiny hand-made features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sigbench.verification.distance import DistanceMatcher, distance_scores, pairwise_distances

REFS = np.array([[1.0, 0.0], [0.0, 1.0]])
QUERY = np.array([[2.0, 0.0], [1.0, 1.0]])


def test_pairwise_distances_by_hand():
    # cosine: [2,0] is parallel to [1,0] (0) and orthogonal to [0,1] (1);
    # [1,1] makes 45 degrees with both: 1 - 1/sqrt(2)
    cos = pairwise_distances(QUERY, REFS, "cosine")
    np.testing.assert_allclose(cos, [[0.0, 1.0], [1 - 1 / math.sqrt(2)] * 2], atol=1e-12)
    # euclidean: |[2,0]-[1,0]| = 1, |[2,0]-[0,1]| = sqrt(5); |[1,1]-[1,0]| = 1 = |[1,1]-[0,1]|
    euc = pairwise_distances(QUERY, REFS, "euclidean")
    np.testing.assert_allclose(euc, [[1.0, math.sqrt(5)], [1.0, 1.0]], atol=1e-12)


@pytest.mark.parametrize(
    ("metric", "fusion", "expected"),
    [
        ("cosine", "mean", [-0.5, -(1 - 1 / math.sqrt(2))]),
        ("cosine", "min", [0.0, -(1 - 1 / math.sqrt(2))]),
        ("cosine", "max", [-1.0, -(1 - 1 / math.sqrt(2))]),
        ("euclidean", "mean", [-(1 + math.sqrt(5)) / 2, -1.0]),
        ("euclidean", "median", [-(1 + math.sqrt(5)) / 2, -1.0]),
    ],
)
def test_scores_are_negated_fused_distances(metric, fusion, expected):
    np.testing.assert_allclose(distance_scores(QUERY, REFS, metric, fusion), expected, atol=1e-12)


def test_matcher_enrol_score_verify():
    m = DistanceMatcher()
    m.enrol("alice", REFS)
    m.enrol("bob", np.array([0.0, -1.0]))
    assert m.users == ["alice", "bob"]
    np.testing.assert_allclose(m.score("alice", QUERY), [-0.5, -(1 - 1 / math.sqrt(2))], atol=1e-12)
    # cosine distances to alice (mean fusion): 0.5 and 0.293 -> accepted below 0.4 only the second
    assert m.verify("alice", QUERY, threshold=0.4).tolist() == [False, True]
    # bob's only reference points down: [2, 0] is orthogonal (distance 1), [1, 1] at 135 degrees
    np.testing.assert_allclose(m.distance("bob", QUERY), [1.0, 1 + 1 / math.sqrt(2)], atol=1e-12)
    m.enrol("bob", np.array([[1.0, 0.0]]))  # enrol appends
    np.testing.assert_allclose(m.distance("bob", QUERY[:1]), [0.5], atol=1e-12)
    with pytest.raises(KeyError, match="'carol' is not enrolled"):
        m.score("carol", QUERY)
    with pytest.raises(ValueError, match="3-d embeddings but the matcher holds 2-d"):
        m.enrol("dave", np.ones((1, 3)))
    with pytest.raises(ValueError, match="dimension 3 but references have 2"):
        m.score("alice", np.ones((1, 3)))
    m.reset("bob")
    assert m.users == ["alice"]


def test_matcher_rejects_bad_names():
    with pytest.raises(ValueError, match="valid: cosine, euclidean"):
        DistanceMatcher(metric="hamming")
    with pytest.raises(ValueError, match="valid: mean, min, max, median"):
        DistanceMatcher(fusion="vote")


def test_zero_vector_has_cosine_distance_one():
    assert pairwise_distances(np.zeros((1, 2)), REFS, "cosine").tolist() == [[1.0, 1.0]]
