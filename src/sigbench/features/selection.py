"""Model selection of distillation with continual learning: the mean of two validation accuracies.

Viana et al. keep the epoch whose *mean* of the inverted-data accuracy (teacher classes) and the continual
accuracy (new writers) is highest; an equal mean goes to the epoch whose two accuracies are closer (smaller
standard deviation), an equal standard deviation to the later epoch (the reference compares with ``<=``).
A plain ``ModelCheckpoint`` cannot express the tie rule, so :class:`SelectionCheckpoint` adds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

SCORE_KEY = "val/selection"
STD_KEY = "val/selection_std"


def selection_score(accuracies: Sequence[float]) -> tuple[float, float]:
    """(mean, population std) of the validation accuracies (one accuracy: itself, std 0)."""
    values = np.asarray([float(a) for a in accuracies], dtype=np.float64)
    return float(values.mean()), float(values.std())


def is_better(candidate: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """Does ``candidate`` (mean, std) replace ``best``?  Higher mean; on an equal mean, std ``<=``."""
    if best is None:
        return True
    (mean, std), (best_mean, best_std) = candidate, best
    if mean != best_mean:
        return mean > best_mean
    return std <= best_std


class SelectionCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` on ``val/selection`` (max) that breaks ties by ``val/selection_std``.

    Only ``save_top_k=1`` (the reference keeps one best model); ``save_last`` and the file naming are the
    usual ones.
    """

    def __init__(self, *args: Any, std_monitor: str = STD_KEY, **kwargs: Any) -> None:
        kwargs.setdefault("monitor", SCORE_KEY)
        kwargs.setdefault("mode", "max")
        super().__init__(*args, **kwargs)
        if self.save_top_k != 1 or self.mode != "max":
            raise ValueError("SelectionCheckpoint keeps the single best epoch: save_top_k=1, mode=max")
        self.std_monitor = std_monitor
        self.best_std: float | None = None
        self._candidate_std: float | None = None

    def check_monitor_top_k(self, trainer: pl.Trainer, current: torch.Tensor | None = None) -> bool:
        if current is None:
            return False
        std = trainer.callback_metrics.get(self.std_monitor)
        self._candidate_std = float(std) if std is not None else 0.0
        best = None
        if self.best_k_models:
            best_score = float(self.best_k_models[self.kth_best_model_path])
            best = (best_score, self.best_std if self.best_std is not None else float("inf"))
        decision = is_better((float(current), self._candidate_std), best)
        return trainer.strategy.reduce_boolean_decision(bool(decision))

    def _update_best_and_save(
        self, current: torch.Tensor, trainer: pl.Trainer, monitor_candidates: dict[str, torch.Tensor]
    ) -> None:
        self.best_std = self._candidate_std  # before saving: the checkpoint stores this callback's state
        super()._update_best_and_save(current, trainer, monitor_candidates)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_std": self.best_std}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_std = state_dict.get("best_std", self.best_std)
