"""Optimiser and scheduler factories as every task receives them, and the one place they are put together.

Configs give ``optimizer`` and ``scheduler`` as Hydra ``_partial_`` nodes: the runner instantiates them into
factories and the task calls them on its parameters in ``configure_optimizers``. All tasks (features,
detection, segmentation, cleaning) share :func:`optimizer_config`, so a scheduler behaves the same way in
each of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
INTERVALS = ("epoch", "step")


def _argument_names(factory: Callable) -> set[str]:
    """Argument names of a factory (a ``functools.partial`` or a class); empty when it has no signature."""
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()


def optimizer_config(
    parameters: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]],
    optimizer: OptimizerFactory,
    scheduler: SchedulerFactory | None = None,
    interval: str = "epoch",
    total_steps: int | None = None,
) -> dict[str, Any]:
    """The dict Lightning's ``configure_optimizers`` returns, built from the runner's factories.

    Args:
        parameters: what the optimiser updates (parameters or parameter groups).
        optimizer: ``f(parameters) -> Optimizer``.
        scheduler: ``f(optimizer) -> LRScheduler`` or ``None`` for a constant learning rate.
        interval: ``"epoch"`` or ``"step"``: how often Lightning steps the scheduler.
        total_steps: the run's number of optimiser steps. With ``interval="step"`` it is passed as
            ``total_iters`` to a scheduler that takes one, replacing the config's epoch count
            (``PolynomialLR``: the "poly" decay of segmentation recipes reaches zero exactly at the end).
    """
    if interval not in INTERVALS:
        raise ValueError(f"scheduler interval: expected one of {INTERVALS}, got {interval!r}")
    opt = optimizer(parameters)
    if scheduler is None:
        return {"optimizer": opt}
    kwargs: dict[str, Any] = {}
    if interval == "step" and total_steps is not None and "total_iters" in _argument_names(scheduler):
        kwargs["total_iters"] = max(1, int(total_steps))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler(opt, **kwargs), "interval": interval}}
