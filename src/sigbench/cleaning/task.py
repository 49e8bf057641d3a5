"""Training the SignVer cleaner: pixel loss on (noisy, clean) pairs, PSNR / SSIM on fixed validation pairs.

Metrics are computed on images in [0, 1] (``data_range=1``) and accumulated over the whole validation set:
``val/psnr`` is ``10 log10(1 / MSE)`` with the MSE pooled over every validation pixel (torchmetrics'
default reduction), ``val/ssim`` the mean SSIM (11 x 11 Gaussian window, sigma 1.5). ``val/psnr_noisy`` /
``val/ssim_noisy`` score the noisy input itself: the identity baseline a cleaner has to beat.
"""

from __future__ import annotations

from typing import ClassVar

import pytorch_lightning as pl
import torch
import torchvision
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from sigbench.data.transforms import to_model_input
from sigbench.optim import OptimizerFactory, SchedulerFactory, optimizer_config


class L1SSIMLoss(nn.Module):
    """``alpha * (1 - SSIM) + (1 - alpha) * L1`` (Zhao et al. 2017, "Loss functions for image restoration
    with neural networks", alpha 0.84): L1 alone under-weights thin faint strokes on mostly empty images."""

    interface = "prediction_target"

    def __init__(self, alpha: float = 0.84) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"loss.alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ssim = structural_similarity_index_measure(pred, target, data_range=1.0)
        return self.alpha * (1.0 - ssim) + (1.0 - self.alpha) * (pred - target).abs().mean()


class CleaningTask(pl.LightningModule):
    """Image-to-image cleaning of signature crops.

    Args:
        backbone: the cleaner (float ``B x 1 x H x W`` in [0, 1] -> same), e.g.
            :class:`sigbench.cleaning.models.Cleaner`.
        num_classes: unused (the runner passes the data module's, 0); kept for the runner's contract.
        optimizer: a factory ``f(params) -> Optimizer`` (a Hydra ``_partial_``).
        scheduler: a factory ``f(optimizer) -> LRScheduler`` stepped per epoch, or ``None``.
        loss: ``f(pred, target) -> scalar``; ``None`` = L1.
        log_images: validation samples shown in TensorBoard each epoch as noisy / cleaned / clean rows
            (0 = none).
    """

    # what the task calls its loss with; checked at start-up against the loss class's `interface`
    loss_interface: ClassVar[str | None] = "prediction_target"

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        loss: nn.Module | None = None,
        log_images: int = 4,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loss_fn = loss if loss is not None else nn.L1Loss()
        self.log_images = int(log_images)
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.val_psnr_noisy = PeakSignalNoiseRatio(data_range=1.0)
        self.val_ssim_noisy = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.save_hyperparameters({"log_images": self.log_images})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Cleaned batch (float in [0, 1]) of a uint8 or float batch."""
        return self.backbone(to_model_input(x))

    def configure_optimizers(self) -> dict:
        return optimizer_config(self.parameters(), self.optimizer_factory, self.scheduler_factory)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss_fn(self(batch["noisy"]), to_model_input(batch["clean"]))
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        noisy, clean = to_model_input(batch["noisy"]), to_model_input(batch["clean"])
        pred = self.backbone(noisy).clamp(0.0, 1.0)
        self.log("val/loss", self.loss_fn(pred, clean), on_epoch=True)
        self.val_psnr.update(pred, clean)
        self.val_ssim.update(pred, clean)
        self.val_psnr_noisy.update(noisy, clean)
        self.val_ssim_noisy.update(noisy, clean)
        if batch_idx == 0 and self.log_images > 0 and not self.trainer.sanity_checking:
            self._log_triplets(noisy, pred, clean)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(
            {
                "val/psnr": self.val_psnr.compute(),
                "val/ssim": self.val_ssim.compute(),
                "val/psnr_noisy": self.val_psnr_noisy.compute(),
                "val/ssim_noisy": self.val_ssim_noisy.compute(),
            },
            prog_bar=False,
        )
        for metric in (self.val_psnr, self.val_ssim, self.val_psnr_noisy, self.val_ssim_noisy):
            metric.reset()

    def _log_triplets(self, noisy: torch.Tensor, pred: torch.Tensor, clean: torch.Tensor) -> None:
        """Rows noisy / cleaned / clean, shown as dark ink on white paper (as a person reads them)."""
        n = min(self.log_images, noisy.shape[0])
        images = torch.cat([noisy[:n], pred[:n], clean[:n]]).detach().float().cpu()
        grid = torchvision.utils.make_grid(1.0 - images, nrow=n, pad_value=0.5)
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("cleaning/noisy_cleaned_clean", grid, self.global_step)
