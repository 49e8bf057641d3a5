"""Pixel losses for segmentation: (binary) cross-entropy, soft Dice, and their weighted sum.

Why both: signature ink covers a few percent of a page or crop, so per-pixel cross-entropy alone is dominated
by the background and learns to predict "paper" everywhere; Dice measures the overlap of the foreground
directly and is insensitive to that imbalance, but gives noisy gradients early on. Their sum (the usual
recipe of U-Net / DeepLab signature segmenters) trains stably and optimises what fgIoU / F measure.

Conventions: ``logits`` are N x C x H x W; ``target`` holds class indices N x H x W (any integer dtype, 0 =
background). With ``C == 1`` the task is binary: sigmoid of the single channel is the foreground probability
and the target is ``target > 0``. With ``C > 1`` softmax over classes, one-hot targets.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _check(logits: torch.Tensor, target: torch.Tensor) -> None:
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"expected logits N x C x H x W and target N x H x W, got {tuple(logits.shape)} and "
            f"{tuple(target.shape)}"
        )


def probabilities_and_onehot(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities and the matching float one-hot target, both N x C x H x W."""
    if logits.shape[1] == 1:
        return torch.sigmoid(logits), (target > 0).unsqueeze(1).to(logits.dtype)
    onehot = F.one_hot(target.long(), logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    return torch.softmax(logits, dim=1), onehot


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s)`` per image and class, averaged.

    Per image (not over the whole batch) so that a crop with little ink counts as much as one with a lot;
    ``smooth`` keeps the empty-target case defined (predicting nothing on it gives loss 0).
    """
    _check(logits, target)
    prob, onehot = probabilities_and_onehot(logits, target)
    return soft_dice(prob, onehot, smooth=smooth)


def soft_dice(
    prob: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    smooth: float = 1.0,
    per_image: bool = True,
) -> torch.Tensor:
    """Soft Dice loss of probabilities against a float target, both N x C x H x W, per image and channel
    (``per_image=False``: per channel over the whole batch), averaged.

    ``mask`` (broadcastable to them, 1 = counts, 0 = ignored) leaves pixels out of both sums: the
    ambiguous border between a box and its shrunk kernel in heatmap detection, for instance. Over the batch
    suits targets that are often empty (pages without a signature): per image, an empty target costs almost
    1 until every pixel is far below ``smooth``, with next to no gradient.
    """
    if mask is not None:
        prob, target = prob * mask, target * mask
    dims = (2, 3) if per_image else (0, 2, 3)
    inter = (prob * target).sum(dims)
    total = prob.sum(dims) + target.sum(dims)
    return (1.0 - (2.0 * inter + smooth) / (total + smooth)).mean()


def cross_entropy_loss(
    logits: torch.Tensor, target: torch.Tensor, pos_weight: float | None = None
) -> torch.Tensor:
    """Mean per-pixel BCE-with-logits (one channel, ``pos_weight`` on ink) or cross-entropy (several)."""
    _check(logits, target)
    if logits.shape[1] == 1:
        weight = None if pos_weight is None else torch.tensor(pos_weight, device=logits.device)
        t = (target > 0).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits[:, 0], t, pos_weight=weight)
    if pos_weight is not None:
        raise ValueError("pos_weight applies to binary (one-channel) segmentation only")
    return F.cross_entropy(logits, target.long())


class SegmentationLoss(nn.Module):
    """``ce_weight * (B)CE + dice_weight * Dice``; a zero weight switches that term off.

    Returns the total; :attr:`last_parts` keeps the unweighted terms of the last call for logging.
    """

    interface = "prediction_target"  # loss(logits, masks), checked against the task's loss_interface

    def __init__(
        self,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        pos_weight: float | None = None,
        smooth: float = 1.0,
    ) -> None:
        super().__init__()
        if ce_weight < 0 or dice_weight < 0 or ce_weight + dice_weight <= 0:
            raise ValueError(
                f"loss weights must be >= 0 and not both 0, got ce={ce_weight}, dice={dice_weight}"
            )
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.pos_weight = pos_weight
        self.smooth = smooth
        self.last_parts: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        parts = {}
        if self.ce_weight > 0:
            parts["ce"] = cross_entropy_loss(logits, target, self.pos_weight)
        if self.dice_weight > 0:
            parts["dice"] = dice_loss(logits, target, self.smooth)
        self.last_parts = {k: v.detach() for k, v in parts.items()}
        weights = {"ce": self.ce_weight, "dice": self.dice_weight}
        return sum(weights[k] * v for k, v in parts.items())  # type: ignore[return-value]
