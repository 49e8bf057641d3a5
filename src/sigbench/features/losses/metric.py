"""Metric-learning objectives on writer labels: triplet (with mining) and NT-Xent (Viana et al. 2022).

Both compare L2-normalised embeddings, so they can sit on any backbone (SigNet's non-negative 2048-d
features or a timm model with an embedding head) without a normalisation layer in the model.

* :class:`TripletLoss` wraps pytorch-metric-learning, whose definitions are exactly the ones of the notes
  (section 4): Euclidean distance on L2-normalised features, ``[d_ap - d_an + m]_+`` averaged over triplets
  with a non-zero loss, semi-hard triplets ``d(a,p) < d(a,n) <= d(a,p) + m``.  One ``margin`` drives both
  the miner and the loss.
* :class:`NTXentLoss` is written here: pytorch-metric-learning's version adds a tiny epsilon inside the log
  (``log(ratio + 1e-38)``), which caps the per-pair loss near 87 in float32; at the recipe's temperature of
  0.01 cosine logits span 200, so the cap is reachable early in training.  Ours is exact (log-sum-exp).
"""

from __future__ import annotations

import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import TripletMarginLoss
from pytorch_metric_learning.miners import BatchHardMiner, TripletMarginMiner
from pytorch_metric_learning.reducers import AvgNonZeroReducer
from torch.nn import functional as F

from sigbench.features.losses.signet import LossOutput


class MetricLoss:
    """A loss on a batch of embeddings and their writer labels (same writer = positive pair).

    Tasks recognise metric losses by this base class; classification losses take logits instead.
    """

    requires_forgeries = False
    interface = "embeddings"  # the call a task makes (checked against the task's loss_interface at start-up)

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        raise NotImplementedError


def _zero(embeddings: torch.Tensor) -> torch.Tensor:
    """A differentiable 0 for batches with nothing to learn from (no valid triplet or pair)."""
    return embeddings.sum() * 0.0


class TripletLoss(MetricLoss):
    """Triplet margin loss with online mining.

    Args:
        margin: the margin ``m`` of the loss and of the semi-hard / "all" miners.
        mining: ``"semihard"`` (``d_ap < d_an <= d_ap + m``, Viana et al.), ``"batch_hard"`` (for each anchor
            its farthest positive and closest negative, Hermans et al. 2017) or ``"all"`` (every triplet that
            violates the margin, ``d_an <= d_ap + m``: the same average as over all triplets).
    """

    MININGS = ("semihard", "batch_hard", "all")

    def __init__(self, margin: float = 0.1, mining: str = "semihard") -> None:
        if margin < 0:
            raise ValueError(f"loss.margin must be >= 0, got {margin}")
        if mining not in self.MININGS:
            raise ValueError(f"loss.mining={mining!r} is not one of {list(self.MININGS)}")
        self.margin = float(margin)
        self.mining = mining
        distance = LpDistance(normalize_embeddings=True, p=2, power=1)
        self.loss = TripletMarginLoss(margin=self.margin, distance=distance, reducer=AvgNonZeroReducer())
        if mining == "batch_hard":
            self.miner = BatchHardMiner(distance=distance)
        else:  # "all": the triplets that violate the margin, i.e. every triplet with a non-zero loss
            self.miner = TripletMarginMiner(margin=self.margin, type_of_triplets=mining, distance=distance)

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(anchor, positive, negative) index tensors of the triplets the loss will use."""
        return self.miner(embeddings, labels)

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        triplets = self.mine(embeddings.detach(), labels)
        if triplets[0].numel() == 0:
            loss = _zero(embeddings)
        else:
            loss = self.loss(embeddings, labels, triplets)
            if not loss.requires_grad:  # every mined triplet already satisfies the margin
                loss = _zero(embeddings) + loss.detach()
        mined = torch.tensor(float(triplets[0].numel()), device=embeddings.device)
        return LossOutput(loss, {"triplet": loss.detach(), "mined_triplets": mined})


class NTXentLoss(MetricLoss):
    """Normalised-temperature cross-entropy over writer labels (SimCLR's loss with supervised positives).

    For each ordered positive pair (a, p) of different samples of one writer, with cosine similarities s:
    ``-log(exp(s_ap/t) / (exp(s_ap/t) + sum_{n: other writer} exp(s_an/t)))``, averaged over the pairs.
    Other positives of the anchor are not in the denominator (Viana et al.; contrastive_sigver).

    Args:
        temperature: ``t``; 0.01 in Viana et al.
    """

    def __init__(self, temperature: float = 0.01) -> None:
        if temperature <= 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        # float32 at least: at t = 0.01 half-precision logits would overflow
        z = F.normalize(embeddings if embeddings.dtype == torch.float64 else embeddings.float(), dim=1)
        logits = z @ z.T / self.temperature
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        if not bool(positive.any()):
            loss = _zero(embeddings)
            return LossOutput(loss, {"ntxent": loss.detach()})
        # log-sum-exp over each anchor's negatives (-inf where an anchor has none: its pairs then cost 0)
        negatives = torch.logsumexp(logits.masked_fill(same, float("-inf")), dim=1)
        anchor, pos = positive.nonzero(as_tuple=True)
        s_ap = logits[anchor, pos]
        loss = (torch.logaddexp(s_ap, negatives[anchor]) - s_ap).mean()
        return LossOutput(loss, {"ntxent": loss.detach()})
