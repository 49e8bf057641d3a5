"""The shared configure_optimizers builder: what Lightning receives for each scheduler set-up."""

from __future__ import annotations

import functools

import pytest
import torch

from sigbench.optim import optimizer_config


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(3))]


SGD = functools.partial(torch.optim.SGD, lr=0.1)


def test_no_scheduler_gives_only_the_optimizer() -> None:
    config = optimizer_config(_params(), SGD)
    assert set(config) == {"optimizer"} and isinstance(config["optimizer"], torch.optim.SGD)
    assert config["optimizer"].param_groups[0]["lr"] == 0.1


def test_epoch_scheduler_is_built_as_configured() -> None:
    step = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=3, gamma=0.5)
    config = optimizer_config(_params(), SGD, step)
    assert config["lr_scheduler"]["interval"] == "epoch"
    assert config["lr_scheduler"]["scheduler"].step_size == 3


def test_per_step_poly_decay_spans_the_whole_run() -> None:
    """The poly config counts epochs; per step, total_iters becomes the run's optimiser steps, so the rate
    after k of n steps is lr * (1 - k/n) ** power."""
    poly = functools.partial(torch.optim.lr_scheduler.PolynomialLR, total_iters=4, power=0.9)
    config = optimizer_config(_params(), SGD, poly, interval="step", total_steps=100)
    scheduler, opt = config["lr_scheduler"]["scheduler"], config["optimizer"]
    assert config["lr_scheduler"]["interval"] == "step" and scheduler.total_iters == 100
    for _ in range(10):
        opt.step()
        scheduler.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * (1 - 10 / 100) ** 0.9)


def test_epoch_interval_keeps_the_configured_total_iters() -> None:
    poly = functools.partial(torch.optim.lr_scheduler.PolynomialLR, total_iters=4, power=0.9)
    config = optimizer_config(_params(), SGD, poly, total_steps=100)
    assert config["lr_scheduler"]["scheduler"].total_iters == 4


def test_unknown_interval_is_named() -> None:
    with pytest.raises(ValueError, match="'bat'"):
        step = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1)
        optimizer_config(_params(), SGD, step, interval="bat")
