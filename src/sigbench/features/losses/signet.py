"""SigNet and SigNet-F classification losses (Hafemann et al. 2017, eqs. 3-4; notes section 3).

SigNet learns writer-independent features by classifying *genuine* signatures by writer.  SigNet-F adds a
forgery logit: ``(1 - lambda) * CE(user) + lambda * BCE(forgery logit, yforg)``.  In the paper's "L2" form
(the sigver default) the user CE uses genuine samples only and a batch without any genuine sample
contributes a CE of 0 (not NaN); in the "L1" form every sample, forgery included, is labelled with the
writer it claims to be.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass
class LossOutput:
    """The total and its parts, so each can be logged."""

    loss: torch.Tensor
    parts: dict[str, torch.Tensor]


def genuine_cross_entropy(logits: torch.Tensor, y: torch.Tensor, yforg: torch.Tensor) -> torch.Tensor:
    """Mean CE over genuine samples; exactly 0 (still differentiable) when the batch has none."""
    genuine = yforg == 0
    if not bool(genuine.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[genuine], y[genuine])


class SigNetLoss:
    """Cross-entropy over training writers on genuine signatures only."""

    requires_forgeries = False
    interface = "writer_logits"  # the call a task makes (checked against the task's loss_interface)

    def __call__(
        self, logits: torch.Tensor, forgery_logit: torch.Tensor | None, y: torch.Tensor, yforg: torch.Tensor
    ) -> LossOutput:
        ce = genuine_cross_entropy(logits, y, yforg)
        return LossOutput(ce, {"ce": ce})


class SigNetFLoss:
    """SigNet-F: writer CE plus a skilled-forgery BCE, weighted by ``lamb`` (0.95 in the paper).

    Args:
        lamb: weight of the forgery term; the user term gets ``1 - lamb``.
        variant: ``"L2"`` (CE on genuine only, paper eq. 4, sigver default) or ``"L1"`` (CE on every sample
            with forgeries labelled as their target writer, eq. 3).
    """

    requires_forgeries = True
    interface = "writer_logits"
    VARIANTS = ("L1", "L2")

    def __init__(self, lamb: float = 0.95, variant: str = "L2") -> None:
        if not 0.0 <= lamb <= 1.0:
            raise ValueError(f"loss.lamb must be in [0, 1], got {lamb}")
        if variant not in self.VARIANTS:
            raise ValueError(f"loss.variant={variant!r} is not one of {list(self.VARIANTS)}")
        self.lamb = float(lamb)
        self.variant = variant

    def __call__(
        self, logits: torch.Tensor, forgery_logit: torch.Tensor | None, y: torch.Tensor, yforg: torch.Tensor
    ) -> LossOutput:
        if forgery_logit is None:
            raise ValueError("SigNet-F needs a forgery head: the task must be built with this loss")
        ce = F.cross_entropy(logits, y) if self.variant == "L1" else genuine_cross_entropy(logits, y, yforg)
        is_forgery = (yforg > 0).to(forgery_logit.dtype)
        bce = F.binary_cross_entropy_with_logits(forgery_logit.reshape(-1), is_forgery)
        total = (1.0 - self.lamb) * ce + self.lamb * bce
        return LossOutput(total, {"ce": ce, "forgery_bce": bce})
