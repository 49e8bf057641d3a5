"""Metric learning of signature features: triplet / NT-Xent on writer labels, optionally after (or with)
SigNet cross-entropy (Viana et al., IJCNN 2022 and ESWA 2023; the rmalav15 ResNet-50 siamese recipe).

Two ways to run the "multi-task" recipe (SigNet cross-entropy, then contrastive fine-tuning):

* ``pretrain_epochs=E``: both stages in one run.  Epochs ``0..E-1`` minimise the writer cross-entropy of the
  classification head; at epoch ``E`` the optimiser and scheduler are rebuilt (a fresh recipe, as a separate
  fine-tuning run would have) and the metric loss takes over.
* ``init_from=PATH``: start from the backbone of a finished run (a sigbench checkpoint, e.g. of
  ``hafemann2017_signet``) or from a published sigver weight file.

Validation adds to the inherited held-out EER: ``val/precision_at_1`` (validation samples of the training
writers queried against the training samples, Viana et al.'s model selection) and, when asked,
``val/identification_acc`` (held-out writers, nearest mean of ``identification_references`` embeddings).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import torch
import torchmetrics
from torch import nn

from sigbench.features.extract import embed_images
from sigbench.features.losses.metric import MetricLoss
from sigbench.features.losses.signet import genuine_cross_entropy
from sigbench.features.retrieval import identification_accuracy, precision_at_1
from sigbench.features.tasks.base import FeatureTask, OptimizerFactory, SchedulerFactory
from sigbench.features.tasks.distributed import gather_in_order, shard, world_size

log = logging.getLogger(__name__)


class MetricTask(FeatureTask):
    """A backbone trained with a metric loss on its (L2-normalised by the loss) features.

    Args:
        loss: a :class:`~sigbench.features.losses.metric.MetricLoss` (``loss=triplet`` or ``loss=ntxent``).
        num_classes: training writers (supplied by the runner); sizes the classification head.
        ce_weight: weight of the writer cross-entropy added to the metric loss (joint multi-task).  At 0 the
            head is a *linear probe* on detached features: it reports ``train/acc`` and ``val/acc`` and makes
            the checkpoint exportable in the sigver format, without shaping the backbone.
        pretrain_epochs: epochs of cross-entropy only before the metric loss starts (stage 1 in this run).
        init_from: a sigbench checkpoint or sigver weight file whose backbone initialises this one; applied
            once when fitting starts (a resumed run keeps its own weights).
        precision_references: training samples per writer used as references for precision@1
            (``None`` = all of them; fewer is faster on large sets).
        identification_references: enrolment samples per held-out writer for ``val/identification_acc``
            (0 = not computed); ``identification_queries`` samples per writer are then classified.
    """

    # what the task calls its loss with; checked at start-up against the loss class's `interface`
    loss_interface: ClassVar[str | None] = "embeddings"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: OptimizerFactory,
        loss: MetricLoss,
        num_classes: int = 0,
        scheduler: SchedulerFactory | None = None,
        ce_weight: float = 0.0,
        pretrain_epochs: int = 0,
        init_from: str | None = None,
        precision_references: int | None = None,
        identification_references: int = 0,
        identification_queries: int = 5,
        holdout_references: int = 5,
        channels_last: bool = False,
        log_images: bool = True,
    ) -> None:
        super().__init__(
            backbone, optimizer, scheduler, holdout_references, channels_last, log_images, init_from=init_from
        )
        if not isinstance(loss, MetricLoss):
            raise ValueError(
                f"task=metric needs a metric loss (loss=triplet or loss=ntxent), got {type(loss).__name__}"
            )
        if ce_weight < 0 or pretrain_epochs < 0:
            raise ValueError(f"task.ce_weight / pretrain_epochs must be >= 0: {ce_weight}, {pretrain_epochs}")
        if (ce_weight > 0 or pretrain_epochs > 0) and num_classes < 2:
            raise ValueError("task.ce_weight / task.pretrain_epochs need a writer head (2+ training writers)")
        self.loss_fn = loss
        self.ce_weight = float(ce_weight)
        self.pretrain_epochs = int(pretrain_epochs)
        self.precision_references = precision_references
        self.identification_references = int(identification_references)
        self.identification_queries = int(identification_queries)
        self.classification_head = None
        if num_classes >= 2:
            self.classification_head = nn.Linear(int(backbone.feature_dim), num_classes)
            self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
            self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self._queries: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.save_hyperparameters(
            {
                "num_classes": num_classes,
                "ce_weight": ce_weight,
                "pretrain_epochs": pretrain_epochs,
                "holdout_references": holdout_references,
            }
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, None]:
        """(features, writer logits or None, no forgery logit) — the classification task's layout."""
        feats = self.features(x)
        logits = self.classification_head(feats) if self.classification_head is not None else None
        return feats, logits, None

    # ---- stages ----------------------------------------------------------------------------------------
    def in_pretraining(self) -> bool:
        return self.current_epoch < self.pretrain_epochs

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and getattr(dm, "sampler", None) is None:
            log.warning("a metric loss on shuffled batches sees few same-writer pairs: use data/sampler=pk")

    def on_train_epoch_start(self) -> None:
        if self.pretrain_epochs and self.current_epoch == self.pretrain_epochs:
            log.info(
                "epoch %d: cross-entropy stage done, metric learning starts with a fresh optimiser",
                self.current_epoch,
            )
            self.trainer.strategy.setup_optimizers(self.trainer)

    # ---- training --------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        feats = self.features(batch["x"])
        y, yforg = batch["y"], batch["yforg"]
        genuine = yforg == 0
        probe: torch.Tensor | float = 0.0  # trains the head only: not part of the logged objective
        if self.in_pretraining():
            logits = self.classification_head(feats)
            objective = genuine_cross_entropy(logits, y, yforg)
            parts = {"ce": objective.detach()}
        else:
            out = self.loss_fn(feats[genuine], y[genuine])
            objective, parts, logits = out.loss, dict(out.parts), None
            if self.classification_head is not None:
                logits = self.classification_head(feats if self.ce_weight > 0 else feats.detach())
                ce = genuine_cross_entropy(logits, y, yforg)
                parts["ce"] = ce.detach()
                if self.ce_weight > 0:
                    objective = objective + self.ce_weight * ce
                else:
                    probe = ce
        if logits is not None and bool(genuine.any()):
            self.train_acc(logits[genuine].detach(), y[genuine])
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        self.log("train/loss", objective, prog_bar=True)
        self.log_dict({f"train/{k}": v for k, v in parts.items()}, on_step=False, on_epoch=True)
        return objective + probe

    # ---- validation ------------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._queries.clear()

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._val_kind(dataloader_idx) == "verification":
            self.collect_holdout(batch)
            return
        feats, logits, _ = self(batch["x"])
        self._queries.append((feats.detach().float().cpu(), batch["y"].cpu()))
        if logits is not None:
            self.val_acc(logits, batch["y"])
            self.log("val/acc", self.val_acc, add_dataloader_idx=False)

    def on_validation_epoch_end(self) -> None:
        holdout = self.take_collected(self._holdout, "verification")
        queries = self.take_collected(self._queries, "classification")
        if holdout is not None:
            self.log_holdout(*holdout)
            if self.identification_references:
                feats, users, yforg = holdout
                genuine = yforg == 0
                enrol, queries = self.identification_references, self.identification_queries
                acc = identification_accuracy(feats[genuine], users[genuine], enrol, queries)
                self.log("val/identification_acc", acc, sync_dist=False)
        if queries is not None:
            refs, ref_labels = self.training_references()
            self.log("val/precision_at_1", precision_at_1(*queries, refs, ref_labels), sync_dist=False)

    @torch.no_grad()
    def training_references(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Centre-crop embeddings of the training writers' genuine training samples (all ranks, in order)."""
        dm = self.trainer.datamodule
        ds = dm.load()
        index = dm.train_index[ds.yforg[dm.train_index] == 0]
        if self.precision_references is not None:
            rng = np.random.default_rng(0)
            per_writer = [
                rng.permutation(index[dm.labels[index] == w])[: self.precision_references]
                for w in np.unique(dm.labels[index])
            ]
            index = np.sort(np.concatenate(per_writer))
        positions = shard(torch.arange(len(index)), self.global_rank, world_size(self))
        local = index[positions.numpy()]
        was_training = self.training
        self.eval()
        feats = embed_images(self.features, ds.x, dm.input_size, dm.eval_batch_size, self.device, local)
        self.train(was_training)
        labels = torch.as_tensor(dm.labels[local])
        feats, labels = gather_in_order(self, [feats, labels], len(index))
        return feats, labels
