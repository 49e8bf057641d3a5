"""SigNet / SigNet-F losses against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from sigbench.features.losses import SigNetFLoss, SigNetLoss

LN2, LN43 = math.log(2.0), math.log(4.0 / 3.0)


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    # sample A: genuine of writer 0, logits (0, 0) -> CE = ln 2; forgery logit 0, target 0 -> BCE = ln 2
    # sample B: forgery claiming writer 1, logits (0, ln 3) -> p(1) = 3/4 -> CE = ln(4/3);
    #           forgery logit ln 3, target 1 -> sigmoid = 3/4 -> BCE = ln(4/3)
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
    forgery = torch.tensor([[0.0], [math.log(3.0)]])
    return logits, forgery, torch.tensor([0, 1]), torch.tensor([0, 1])


def test_signet_loss_uses_genuine_only() -> None:
    logits, _, y, yforg = batch()
    assert SigNetLoss()(logits, None, y, yforg).loss.item() == pytest.approx(LN2)


def test_signet_f_l2() -> None:
    out = SigNetFLoss(lamb=0.95, variant="L2")(*batch())
    expected = 0.05 * LN2 + 0.95 * (LN2 + LN43) / 2
    assert out.loss.item() == pytest.approx(expected)
    assert out.parts["ce"].item() == pytest.approx(LN2)
    assert out.parts["forgery_bce"].item() == pytest.approx((LN2 + LN43) / 2)


def test_signet_f_l1_labels_forgeries_with_their_target_writer() -> None:
    out = SigNetFLoss(lamb=0.5, variant="L1")(*batch())
    assert out.loss.item() == pytest.approx(0.5 * (LN2 + LN43) / 2 + 0.5 * (LN2 + LN43) / 2)


def test_batch_without_genuine_contributes_zero_ce_and_keeps_gradients() -> None:
    logits, forgery, y, _ = batch()
    logits.requires_grad_(True)
    yforg = torch.tensor([1, 1])
    out = SigNetFLoss(lamb=0.95)(logits, forgery, y, yforg)
    # both forgeries: BCE targets 1 -> -ln sigmoid(0) = ln 2 and ln(4/3)
    assert out.parts["ce"].item() == 0.0
    assert out.loss.item() == pytest.approx(0.95 * (LN2 + LN43) / 2)
    out.loss.backward()
    assert logits.grad is not None and not torch.isnan(logits.grad).any()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="loss.lamb"):
        SigNetFLoss(lamb=1.5)
    with pytest.raises(ValueError, match="loss.variant"):
        SigNetFLoss(variant="L3")
