"""What every feature-learning task shares: optimiser wiring, input conversion, the sample grid, and the
held-out verification EER that makes each run report a verification figure, whatever its loss."""

from __future__ import annotations

import logging

import numpy as np
import pytorch_lightning as pl
import torch
import torchvision
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn

from sigbench.data.transforms import to_model_input
from sigbench.features.tasks.distributed import gather_in_order
from sigbench.optim import OptimizerFactory, SchedulerFactory, optimizer_config
from sigbench.verification.holdout import holdout_score_lists, holdout_verification
from sigbench.verification.metrics import compute_metrics
from sigbench.verification.plots import add_curves_to_tensorboard, add_score_histograms

log = logging.getLogger(__name__)


class FeatureTask(pl.LightningModule):
    """Base for tasks whose ``backbone`` maps a 1 x H x W image in [0, 1] to a feature vector.

    Args:
        backbone: the feature extractor (must expose ``feature_dim``).
        optimizer: a factory ``f(params) -> Optimizer`` (a Hydra ``_partial_``).
        scheduler: a factory ``f(optimizer) -> LRScheduler`` stepped per epoch, or ``None``.
        holdout_references: references per held-out writer for the per-epoch verification EER.
        channels_last: feed the model channels-last tensors (faster convolutions on GPUs).
        log_images: write a grid of the first training batch to TensorBoard.
        init_from: a sigbench checkpoint (its ``backbone.*`` weights) or a sigver weight file that
            initialises the backbone when fitting starts: the second stage of a pre-train / fine-tune recipe.
            Applied in ``setup("fit")``, before Lightning restores a resumed checkpoint (which then wins),
            so a finished run reloads from its own weights even after the stage-1 file is gone.
    """

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        holdout_references: int = 5,
        channels_last: bool = False,
        log_images: bool = True,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.holdout_references = holdout_references
        self.channels_last = channels_last
        self.log_images = log_images
        self.init_from = init_from
        self._initialised = False
        self._holdout: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        if channels_last:
            self.backbone = self.backbone.to(memory_format=torch.channels_last)

    # ---- shared pieces ---------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        size = getattr(self.trainer.datamodule, "input_size", None) if self._trainer is not None else None
        if self.example_input_array is None and size is not None:
            # lets Lightning's model summary count FLOPs and show input / output sizes (two samples:
            # batch-norm layers need more than one in training mode)
            self.example_input_array = torch.zeros(2, 1, *size, dtype=torch.uint8)
        if stage == "fit" and self.init_from and not self._initialised:
            from sigbench.features.init import load_backbone

            loaded = load_backbone(self.backbone, self.init_from)
            log.info("backbone (%s) initialised from %s", type(loaded).__name__, self.init_from)
            self._initialised = True

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features of a uint8 or float batch."""
        return self.backbone(to_model_input(x, self.channels_last))

    def configure_optimizers(self) -> dict:
        return optimizer_config(self.parameters(), self.optimizer_factory, self.scheduler_factory)

    def _val_kind(self, dataloader_idx: int) -> str:
        kinds = getattr(self.trainer.datamodule, "val_loader_kinds", None) if self._trainer else None
        return kinds[dataloader_idx] if kinds else "classification"

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        if self.log_images and batch_idx == 0 and self.current_epoch == 0 and self.global_rank == 0:
            grid = torchvision.utils.make_grid(batch["x"][:32].float().div(255.0), nrow=8, pad_value=1.0)
            for logger in self.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image("inputs/train_batch", grid, self.global_step)

    # ---- held-out verification -------------------------------------------------------------------------
    def collect_holdout(self, batch: dict) -> None:
        feats = self.features(batch["x"]).float()
        self._holdout.append((feats.detach().cpu(), batch["user"].cpu(), batch["yforg"].cpu()))

    def on_validation_epoch_start(self) -> None:
        self._holdout.clear()

    def take_collected(self, chunks: list[tuple[torch.Tensor, ...]], kind: str) -> list[torch.Tensor] | None:
        """Concatenate what ``validation_step`` collected from the loader of ``kind`` and empty the list.

        Under DDP every rank gets the whole set, in dataset order (:mod:`.distributed`), so every rank
        computes the same metrics; ``None`` when nothing was collected or during the sanity check.
        """
        if not chunks or self.trainer.sanity_checking:
            chunks.clear()
            return None
        columns = [torch.cat([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        chunks.clear()
        return gather_in_order(self, columns, self._loader_size(kind))

    def _loader_size(self, kind: str) -> int | None:
        """Samples in the validation loader of ``kind`` (``None`` when unknown; only used under DDP)."""
        kinds = getattr(self.trainer.datamodule, "val_loader_kinds", None) or []
        loaders = self.trainer.val_dataloaders
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        if kind not in kinds or len(loaders) <= kinds.index(kind):
            return None
        return len(loaders[kinds.index(kind)].dataset)

    def log_holdout(self, feats: torch.Tensor, users: torch.Tensor, yforg: torch.Tensor) -> None:
        """The held-out verification EER / AUC of one validation epoch; in TensorBoard also the score
        histograms (genuine / skilled / random) and, with ``log_images``, the ROC and DET curves, at the
        epoch's step."""
        scores = holdout_score_lists(
            feats.numpy(), users.numpy(), yforg.numpy(), num_references=self.holdout_references
        )
        metrics = compute_metrics(*scores)
        self.log("val/eer", float(metrics["EER"]), prog_bar=True, sync_dist=False)
        self.log_dict(
            {"val/eer_user": float(metrics["EER_userthresholds"]), "val/auc": float(metrics["mean_AUC"])},
            sync_dist=False,  # identical on every rank (take_collected gathers the whole set)
        )
        genuine, random, skilled = scores
        self.log_score_figures("val", genuine, skilled, random)

    def log_score_figures(self, tag: str, genuine: list, skilled: list, random: list) -> None:
        """Score histograms and (with ``log_images``) ROC / DET figures at the current step, rank 0 only."""
        if self.global_rank != 0 or self._trainer is None or self.trainer.sanity_checking:
            return
        step = self.logged_step()
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                writer = logger.experiment
                add_score_histograms(writer, genuine, skilled, random, step, tag)
                if self.log_images:
                    add_curves_to_tensorboard(writer, genuine, skilled, random, step, tag)

    def logged_step(self) -> int:
        """The step Lightning gives this epoch's validation scalars (the batches stepped so far, which at
        validation time is one less than ``global_step``), so figures line up with ``val/eer`` in
        TensorBoard."""
        loop = getattr(getattr(self.trainer, "fit_loop", None), "epoch_loop", None)
        return int(getattr(loop, "_batches_that_stepped", self.global_step))

    def on_validation_epoch_end(self) -> None:
        holdout = self.take_collected(self._holdout, "verification")
        if holdout is not None:
            self.log_holdout(*holdout)

    def holdout_scores(self, feats: np.ndarray, users: np.ndarray, yforg: np.ndarray) -> dict:
        return holdout_verification(feats, users, yforg, num_references=self.holdout_references)
