"""The LightningModule of signature segmentation: pixel loss in training, the AOSSig metrics in validation.

Validation scores every image with :func:`sigbench.segmentation.evaluate.mask_scores` -- the very function
``evaluate_masks`` applies to folders -- so ``val/f_iou``, ``val/f_score`` and ``val/mssim`` mean exactly
what the published protocol means (on the validation crops or pages rather than whole test pages).

Validation crops include negatives (no ink in the ground truth), on which predicting nothing scores a
perfect 1 (see the empty-mask convention of :mod:`.evaluate`); a model that predicts nothing at all therefore
gets ``val/f_iou`` equal to the share of negatives. ``val/f_iou_ink`` -- the mean fgIoU over validation
images whose ground truth has ink -- shows whether signatures are actually found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn

from sigbench.data.transforms import to_model_input
from sigbench.optim import INTERVALS, OptimizerFactory, SchedulerFactory, optimizer_config
from sigbench.segmentation.evaluate import mask_scores, summarize
from sigbench.segmentation.losses import SegmentationLoss
from sigbench.segmentation.overlay import overlay


class SegmentationTask(pl.LightningModule):
    """Train a :class:`~sigbench.segmentation.models.SegmentationNet` on ``{"image", "mask"}`` batches.

    Args:
        backbone: the network (uint8 images become floats in [0, 1] here, the project's only conversion).
        num_classes: foreground classes of the data (1: signature ink); must match the network's output.
        optimizer: ``f(params) -> Optimizer`` (a Hydra ``_partial_``).
        scheduler: ``f(optimizer) -> LRScheduler`` or ``None``.
        loss: ``f(logits, target) -> scalar``; ``None`` = BCE + Dice.
        threshold: foreground probability above which a pixel is ink (one-channel models).
        log_images: validation samples drawn as TensorBoard overlays each epoch (0 = none).
        scheduler_interval: ``epoch`` (as every sigbench task) or ``step``. Poly decay in the AOSSig /
            DeepLab recipe decays per iteration: with ``step``, a scheduler factory that takes
            ``total_iters`` (``PolynomialLR``) is given the run's total number of optimiser steps
            (``trainer.estimated_stepping_batches``), replacing the per-epoch value in its config.
    """

    # what the task calls its loss with; checked at start-up against the loss class's `interface`
    loss_interface: ClassVar[str | None] = "prediction_target"

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        threshold: float = 0.5,
        log_images: int = 4,
        scheduler_interval: str = "epoch",
    ) -> None:
        super().__init__()
        if scheduler_interval not in INTERVALS:
            raise ValueError(
                f"task.scheduler_interval={scheduler_interval!r} is not one of {list(INTERVALS)}"
            )
        model_classes = getattr(backbone, "num_classes", None)
        if num_classes and model_classes is not None and model_classes != num_classes:
            raise ValueError(
                f"model.classes={model_classes} but the data has num_classes={num_classes}: set model.classes"
            )
        self.backbone = backbone
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loss = loss if loss is not None else SegmentationLoss()
        self.threshold = threshold
        self.log_images = log_images
        self.scheduler_interval = scheduler_interval
        self._scores: list[dict[str, float]] = []
        self._shown: list[np.ndarray] = []

    # ---- inference -----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N x C x H x W of a uint8 (or [0, 1] float) batch N x C_in x H x W."""
        return self.backbone(to_model_input(x))

    def foreground_probability(self, logits: torch.Tensor) -> torch.Tensor:
        """N x H x W probability that a pixel is ink (of any foreground class)."""
        if logits.shape[1] == 1:
            return torch.sigmoid(logits[:, 0])
        return 1.0 - torch.softmax(logits, dim=1)[:, 0]

    @torch.no_grad()
    def predict_masks(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean N x H x W ink masks of a batch (eval mode is the caller's business)."""
        return self.foreground_probability(self(x)) > self.threshold

    # ---- training ------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch["image"]), batch["mask"])
        size = batch["image"].shape[0]
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=size)
        parts = getattr(self.loss, "last_parts", {})
        if parts:
            self.log_dict(
                {f"train/{k}": v for k, v in parts.items()}, on_step=False, on_epoch=True, batch_size=size
            )
        return loss

    def on_validation_epoch_start(self) -> None:
        self._scores.clear()
        self._shown.clear()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val/loss", self.loss(logits, batch["mask"]), batch_size=logits.shape[0])
        pred = (self.foreground_probability(logits) > self.threshold).cpu().numpy()
        gt = batch["mask"].cpu().numpy()
        self._scores.extend(
            {**mask_scores(g, p), "ink": float(g.any())} for g, p in zip(gt, pred, strict=True)
        )
        missing = self.log_images - len(self._shown)
        if missing > 0:
            images = batch["image"][:missing].permute(0, 2, 3, 1).cpu().numpy()
            self._shown.extend(overlay(im, p, g) for im, p, g in zip(images, pred, gt, strict=False))

    def on_validation_epoch_end(self) -> None:
        if not self._scores or self.trainer.sanity_checking:
            return
        summary = summarize(self._scores)
        self.log("val/f_iou", float(summary["f_iou"]), prog_bar=True)
        self.log_dict({f"val/{k}": float(summary[k]) for k in ("f_score", "mssim", "precision", "recall")})
        inked = [row["f_iou"] for row in self._scores if row["ink"]]
        if inked:
            self.log("val/f_iou_ink", float(np.mean(inked)))
        if self._shown and self.global_rank == 0:
            grid = np.concatenate(
                [np.pad(o, ((2, 2), (2, 2), (0, 0)), constant_values=255) for o in self._shown]
            )
            for logger in self.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image("val/overlay", grid, self.global_step, dataformats="HWC")

    # ---- optimisation --------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict:
        total = self.trainer.estimated_stepping_batches if self.scheduler_interval == "step" else None
        return optimizer_config(
            self.parameters(), self.optimizer_factory, self.scheduler_factory, self.scheduler_interval, total
        )
