"""Triplet mining and NT-Xent pinned to the definitions of the notes (section 4) on hand-made batches."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sigbench.features.losses import NTXentLoss, TripletLoss


def unit(*angles_deg: float) -> torch.Tensor:
    """Points on the unit circle (already L2-normalised, so distances are easy to reason about)."""
    a = torch.tensor(angles_deg, dtype=torch.float64).deg2rad()
    return torch.stack([a.cos(), a.sin()], dim=1)


def chord(deg: float) -> float:
    """Euclidean distance between two unit vectors ``deg`` degrees apart."""
    return 2.0 * math.sin(math.radians(deg) / 2.0)


# writer 0 at 0 and 10 degrees, writer 1 at 14 and 40 degrees, writer 2 at 180 degrees
EMB = unit(0.0, 10.0, 14.0, 40.0, 180.0)
LABELS = torch.tensor([0, 0, 1, 1, 2])


def all_triplets(labels: torch.Tensor) -> list[tuple[int, int, int]]:
    n = len(labels)
    return [
        (a, p, q)
        for a, p, q in itertools.product(range(n), repeat=3)
        if a != p and labels[a] == labels[p] and labels[q] != labels[a]
    ]


def dist(x: torch.Tensor, i: int, j: int) -> float:
    return float(torch.linalg.norm(x[i] - x[j]))


def as_set(triplets: tuple[torch.Tensor, ...]) -> set[tuple[int, int, int]]:
    return set(zip(*(t.tolist() for t in triplets), strict=True))


def test_semihard_triplets_are_exactly_the_band_above_the_positive() -> None:
    margin = 0.3
    loss = TripletLoss(margin=margin, mining="semihard")
    mined = as_set(loss.mine(EMB, LABELS))
    expected = {
        (a, p, n)
        for a, p, n in all_triplets(LABELS)
        if dist(EMB, a, p) < dist(EMB, a, n) <= dist(EMB, a, p) + margin
    }
    # by hand: anchor 1 (10 deg), positive 0 (10 deg away), negative 2 (4 deg away) is *hard*, not semi-hard;
    # anchor 2 (14), positive 3 (26 deg away), negative 0 (14 deg away) is hard too; anchor 0 -> 1 -> 2 is
    # semi-hard (d_an = chord(14) within chord(10) + 0.3)
    assert (1, 0, 2) not in mined and (2, 3, 0) not in mined
    assert (0, 1, 2) in mined
    assert mined == expected and expected


def on_arc(d: float) -> list[float]:
    """Unit vector at distance ``d`` from the anchor U = (1, 1, 1, 1, 0) / 2, turned towards e5.

    It is cos(t) U + sin(t) e5 with cos(t) = 1 - d^2 / 2; e5 is orthogonal to U and to the positive P, so
    its distance to P is sqrt(2 - cos(t)) (P . U = 1/2).
    """
    c = 1.0 - d * d / 2.0
    return [0.5 * c, 0.5 * c, 0.5 * c, 0.5 * c, math.sqrt(1.0 - c * c)]


def test_semihard_boundary_is_exclusive_at_the_positive_inclusive_at_the_margin() -> None:
    """pytorch-metric-learning's semi-hard rule is ``0 < d_an - d_ap <= m``: negatives placed on, just inside
    and just outside both ends of the band ``d(a,p) < d(a,n) <= d(a,p) + m``.

    Coordinates are multiples of 1/4 wherever a distance must be exact, so the float distances are the exact
    ones: U = (1,1,1,1,0)/2 (anchor) and P = (1,1,1,-1,0)/2 (its positive) are 1 apart; with m = 1/2 the
    band around U is (1, 1.5].
    """
    margin, eps = 0.5, 1e-6
    points = [
        [0.5, 0.5, 0.5, 0.5, 0.0],  # 0: anchor U
        [0.5, 0.5, 0.5, -0.5, 0.0],  # 1: positive P, d(U, P) = 1
        on_arc(1.0 - eps),  # 2: d(U, .) = 1 - eps: hard            d(P, .) = sqrt(1.5 - ~eps): in P's band
        [0.5, 0.5, -0.5, 0.5, 0.0],  # 3: d(U, .) = 1 exactly: out    d(P, .) = sqrt(2): in P's band
        on_arc(1.0 + eps),  # 4: d(U, .) = 1 + eps: in             d(P, .) = sqrt(1.5 + ~eps): in
        [0.5, 0.5, -0.5, -0.5, 0.0],  # 5: d(U, .) = sqrt(2): in     d(P, .) = 1 exactly: out of P's band
        on_arc(1.5 - eps),  # 6: d(U, .) = 1.5 - eps: in           d(P, .) = sqrt(2.125 - ~eps): in
        [-0.75, 0.5, 0.25, -0.25, 0.25],  # 7: d(U, .) = 1.5 exactly: in   d(P, .) = sqrt(1.75): in
        on_arc(1.5 + eps),  # 8: d(U, .) = 1.5 + eps: out          d(P, .) = sqrt(2.125 + ~eps): in
        [0.5, -0.5, -0.5, -0.5, 0.0],  # 9: d(U, .) = sqrt(3): easy   d(P, .) = sqrt(2): in
    ]
    emb = torch.tensor(points, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6, 7, 8])  # one writer with two samples, singletons else
    # the construction holds: unit norms, and the exact distances are exact in floating point
    assert torch.allclose(emb.norm(dim=1), torch.ones(10, dtype=torch.float64), atol=1e-15)
    exact = {(0, 1): 1.0, (0, 3): 1.0, (0, 7): 1.5, (1, 5): 1.0, (1, 0): 1.0}
    assert all(dist(emb, i, j) == d for (i, j), d in exact.items())
    assert dist(emb, 0, 7) - dist(emb, 0, 1) == margin  # on the margin end, with no rounding

    mined = as_set(TripletLoss(margin=margin, mining="semihard").mine(emb, labels))
    from_anchor = {(0, 1, n) for n in (4, 5, 6, 7)}  # not 2 (hard), 3 (= d_ap), 8 (past m), 9 (easy)
    from_positive = {(1, 0, n) for n in (2, 3, 4, 6, 7, 8, 9)}  # not 5 (= d_ap)
    assert mined == from_anchor | from_positive


def test_batch_hard_takes_farthest_positive_and_closest_negative() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    emb = unit(0.0, 20.0, 50.0, 30.0, 100.0, 170.0)
    mined = as_set(TripletLoss(margin=0.2, mining="batch_hard").mine(emb, labels))
    expected = set()
    for a in range(len(labels)):
        pos = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        neg = [n for n in range(len(labels)) if labels[n] != labels[a]]
        if pos and neg:
            hardest_pos = max(pos, key=lambda p: dist(emb, a, p))
            expected.add((a, hardest_pos, min(neg, key=lambda n: dist(emb, a, n))))
    assert mined == expected
    assert (0, 2, 3) in mined  # anchor at 0: farthest positive at 50 deg, closest negative at 30 deg


def direct_triplet_loss(x: torch.Tensor, triplets: set[tuple[int, int, int]], margin: float) -> float:
    x = torch.nn.functional.normalize(x, dim=1)
    losses = [max(dist(x, a, p) - dist(x, a, n) + margin, 0.0) for a, p, n in triplets]
    nonzero = [v for v in losses if v > 0]
    return sum(nonzero) / len(nonzero) if nonzero else 0.0


@pytest.mark.parametrize("mining", TripletLoss.MININGS)
def test_triplet_loss_is_the_mean_over_violating_triplets_of_the_mined_set(mining: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(12, 5, dtype=torch.float64) * 3 + 1  # un-normalised: the loss normalises
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 3])
    loss_fn = TripletLoss(margin=0.4, mining=mining)
    mined = as_set(loss_fn.mine(x, labels))
    if mining == "all":
        normed = torch.nn.functional.normalize(x, dim=1)
        triplets = all_triplets(labels)
        violating = {(a, p, n) for a, p, n in triplets if dist(normed, a, p) + 0.4 >= dist(normed, a, n)}
        assert mined == violating
    out = loss_fn(x.clone().requires_grad_(True), labels)
    assert float(out.loss.detach()) == pytest.approx(direct_triplet_loss(x, mined, 0.4), rel=1e-9, abs=1e-12)
    assert out.loss.requires_grad and float(out.parts["mined_triplets"]) == len(mined)


def test_triplet_loss_without_triplets_is_a_differentiable_zero() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    out = TripletLoss(margin=0.1)(x, torch.tensor([0, 1, 2, 3]))  # no positives at all
    assert float(out.loss.detach()) == 0.0
    out.loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) == 0.0


def test_one_margin_drives_miner_and_loss() -> None:
    loss = TripletLoss(margin=0.37, mining="semihard")
    assert loss.miner.margin == loss.loss.margin == 0.37


def direct_ntxent(x: torch.Tensor, labels: torch.Tensor, t: float) -> float:
    z = torch.nn.functional.normalize(x, dim=1)
    s = (z @ z.T).tolist()
    terms = []
    n = len(labels)
    for a in range(n):
        for p in range(n):
            if a == p or labels[a] != labels[p]:
                continue
            num = math.exp(s[a][p] / t)
            den = num + sum(math.exp(s[a][q] / t) for q in range(n) if labels[q] != labels[a])
            terms.append(-math.log(num / den))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("temperature", [0.5, 0.1])
def test_ntxent_matches_the_loop_formula(temperature: float) -> None:
    torch.manual_seed(1)
    x = torch.randn(9, 4, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 0])
    out = NTXentLoss(temperature=temperature)(x, labels)
    assert float(out.loss.detach()) == pytest.approx(direct_ntxent(x, labels, temperature), rel=1e-9)


def test_ntxent_is_exact_where_the_exponentials_underflow() -> None:
    # a positive pair pointing in opposite directions, a negative on top of the anchor: at t = 0.01 the
    # ratio is exp(-200); the loss must be ~200, not capped by an epsilon inside the log
    x = unit(0.0, 180.0, 0.0)
    out = NTXentLoss(temperature=0.01)(x, torch.tensor([0, 0, 1]))
    # pairs (0,1) and (1,0): s_ap = -1, the negative has s = 1 for anchor 0 and s = -1 for anchor 1
    expected = (math.log1p(math.exp(-200.0)) + 200.0 + math.log(2.0)) / 2
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-9)


def test_ntxent_gradients_flow_and_single_sample_writers_are_ignored() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    out = NTXentLoss(0.1)(x, torch.tensor([0, 0, 1, 2, 3]))
    out.loss.backward()
    assert x.grad is not None and float(x.grad[:2].abs().sum()) > 0
    none = NTXentLoss(0.1)(torch.randn(3, 2, requires_grad=True), torch.tensor([0, 1, 2]))
    assert float(none.loss.detach()) == 0.0 and none.loss.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "cls"),
    [({"margin": -1.0}, TripletLoss), ({"mining": "easy"}, TripletLoss), ({"temperature": 0.0}, NTXentLoss)],
)
def test_invalid_settings_are_named(kwargs: dict, cls: type) -> None:
    with pytest.raises(ValueError, match="loss\\."):
        cls(**kwargs)
