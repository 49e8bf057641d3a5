"""SigNet / SigNet-F training: classify genuine signatures by writer (and forgeries, for SigNet-F)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torchmetrics
from torch import nn

from sigbench.features.losses import SigNetLoss
from sigbench.features.tasks.base import FeatureTask, OptimizerFactory, SchedulerFactory


class ClassificationTask(FeatureTask):
    """Writer classification on top of a feature extractor (Hafemann et al. 2017).

    Heads are named like the sigver weight tuple (``classification_head``, ``forgery_head``) so a
    checkpoint exports to the public format directly.

    Args:
        num_classes: training writers (supplied by the runner from the data module).
        loss: :class:`SigNetLoss` or :class:`SigNetFLoss`; a loss that needs forgeries adds the forgery head.
    """

    # what the task calls its loss with; checked at start-up against the loss class's `interface`
    loss_interface: ClassVar[str | None] = "writer_logits"

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        loss: object | None = None,
        scheduler: SchedulerFactory | None = None,
        holdout_references: int = 5,
        channels_last: bool = False,
        log_images: bool = True,
        init_from: str | None = None,
    ) -> None:
        super().__init__(
            backbone, optimizer, scheduler, holdout_references, channels_last, log_images, init_from=init_from
        )
        if num_classes < 2:
            raise ValueError(f"a writer classifier needs at least 2 training writers, got {num_classes}")
        self.loss_fn = loss if loss is not None else SigNetLoss()
        feature_dim = int(backbone.feature_dim)
        self.classification_head = nn.Linear(feature_dim, num_classes)
        self.forgery_head = (
            nn.Linear(feature_dim, 1) if getattr(self.loss_fn, "requires_forgeries", False) else None
        )
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.save_hyperparameters(
            {
                "num_classes": num_classes,
                "holdout_references": holdout_references,
                "channels_last": channels_last,
            }
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        feats = self.features(x)
        forgery = self.forgery_head(feats) if self.forgery_head is not None else None
        return feats, self.classification_head(feats), forgery

    def _step(self, batch: dict) -> tuple[torch.Tensor, dict, torch.Tensor]:
        _, logits, forgery = self(batch["x"])
        out = self.loss_fn(logits, forgery, batch["y"], batch["yforg"])
        return out.loss, out.parts, logits

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, parts, logits = self._step(batch)
        genuine = batch["yforg"] == 0
        if bool(genuine.any()):
            self.train_acc(logits[genuine], batch["y"][genuine])
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        self.log("train/loss", loss, prog_bar=True)
        self.log_dict({f"train/{k}": v for k, v in parts.items()}, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._val_kind(dataloader_idx) == "verification":
            self.collect_holdout(batch)
            return
        loss, _, logits = self._step(batch)
        self.val_acc(logits, batch["y"])
        self.log("val/loss", loss, add_dataloader_idx=False)
        self.log("val/acc", self.val_acc, add_dataloader_idx=False)
