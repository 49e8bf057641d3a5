"""Distillation with continual learning (Viana et al., ICDAR 2024): a student learns a frozen teacher's
classes from inverted images and new writers from real ones, in one head of ``teacher + new`` classes.

The teacher is held *outside* the module tree: it is not trained, not moved by the optimiser, not put in
train mode by Lightning and not written into checkpoints.  A student checkpoint therefore describes a plain
classifier of ``teacher_classes + num_classes`` writers, and its stored config is rewritten to say so
(teacher dropped, its class count fixed): ``load_task`` and ``sigbench-eval ckpt=...`` rebuild the student
without the teacher's file.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from torch import nn

from sigbench.checkpoint_io import CONFIG_KEY
from sigbench.features.losses.distillation import DistillationLoss
from sigbench.features.selection import SCORE_KEY, STD_KEY, selection_score
from sigbench.features.tasks.base import FeatureTask, OptimizerFactory, SchedulerFactory
from sigbench.features.teacher import Teacher
from sigbench.features.weights import load_into

VAL_ACCURACIES = ("batch_mean", "sample")


def val_accuracy(correct: torch.Tensor, batch_size: int, mode: str = "batch_mean") -> float:
    """Accuracy of per-sample hits in loader order: ``"sample"`` = hits / samples; ``"batch_mean"`` = mean
    of per-batch accuracies (the reference's figure; a smaller last batch weighs as much as a full one)."""
    if mode not in VAL_ACCURACIES:
        raise ValueError(f"task.val_accuracy={mode!r} is not one of {list(VAL_ACCURACIES)}")
    hits = correct.float()
    if mode == "sample" or hits.numel() == 0:
        return float(hits.mean()) if hits.numel() else float("nan")
    return float(torch.stack([b.mean() for b in hits.split(batch_size)]).mean())


class DistillationTask(FeatureTask):
    """Student = ``backbone`` + ``classification_head`` of ``teacher_classes + num_classes`` outputs.

    Args:
        num_classes: new (continual) writers, supplied by the runner from the data module; 0 = plain
            distillation (the student learns the teacher's classes only).
        loss: a :class:`DistillationLoss` (default: the paper's weights).
        teacher: the frozen teacher (:func:`sigbench.features.teacher.load_teacher`); ``None`` rebuilds a
            trained student from its checkpoint (then ``teacher_classes`` is required).
        teacher_classes: the teacher's class count, when there is no teacher to read it from.
        init_from_teacher: start the student from the teacher: its backbone weights (same architecture
            required) and the first ``teacher_classes`` rows of the head.
        val_accuracy: ``"batch_mean"`` (reference) or ``"sample"`` for both validation accuracies.

    Validation logs ``val/acc_inverted`` (inverted images, teacher classes), ``val/acc`` (new writers'
    held-back samples, argmax over the whole head as in the reference), ``val/acc_new_head`` (the same
    samples, argmax over the new-writer outputs only: whether the new writers were learnt at all),
    ``val/selection`` / ``val/selection_std`` (mean / std of the first two) and the held-out ``val/eer``.
    """

    # what the task calls its loss with; checked at start-up against the loss class's `interface`
    loss_interface: ClassVar[str | None] = "distillation"

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        loss: DistillationLoss | None = None,
        scheduler: SchedulerFactory | None = None,
        teacher: Teacher | None = None,
        teacher_classes: int | None = None,
        init_from_teacher: bool = False,
        val_accuracy: str = "batch_mean",
        holdout_references: int = 5,
        channels_last: bool = False,
        log_images: bool = True,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, holdout_references, channels_last, log_images)
        if teacher is None and teacher_classes is None:
            raise ValueError("task.teacher (a teacher to distil from) or task.teacher_classes is required")
        if teacher is not None and teacher_classes is not None and teacher_classes != teacher.num_classes:
            raise ValueError(
                f"task.teacher_classes={teacher_classes}, but the teacher has {teacher.num_classes}"
            )
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if val_accuracy not in VAL_ACCURACIES:
            raise ValueError(f"task.val_accuracy={val_accuracy!r} is not one of {list(VAL_ACCURACIES)}")
        self.teacher_classes = int(teacher.num_classes if teacher is not None else teacher_classes)
        self.new_classes = int(num_classes)
        self.loss_fn = loss if loss is not None else DistillationLoss()
        self.val_accuracy = val_accuracy
        width = self.teacher_classes + self.new_classes
        self.classification_head = nn.Linear(int(backbone.feature_dim), width)
        self.forgery_head = None  # the sigver weight tuple's third element (export_task_weights)
        object.__setattr__(self, "teacher", teacher)  # deliberately not a submodule (see the module doc)
        if init_from_teacher:
            self.start_from_teacher()
        self._val_hits: dict[str, list[tuple[torch.Tensor, ...]]] = {"inverted": [], "classification": []}
        self.save_hyperparameters(
            {
                "num_classes": num_classes,
                "teacher_classes": self.teacher_classes,
                "init_from_teacher": init_from_teacher,
                "val_accuracy": val_accuracy,
                "holdout_references": holdout_references,
            }
        )

    # ---- teacher and student ---------------------------------------------------------------------------
    def start_from_teacher(self) -> None:
        """Copy the teacher's backbone and head into the student's backbone and first head rows."""
        teacher = self.require_teacher()
        load_into(self.backbone, teacher.backbone.state_dict(), "backbone", "task.init_from_teacher")
        if teacher.head.in_features != self.classification_head.in_features:
            raise ValueError("task.init_from_teacher: the student's feature size differs from the teacher's")
        with torch.no_grad():
            self.classification_head.weight[: self.teacher_classes].copy_(teacher.head.weight)
            self.classification_head.bias[: self.teacher_classes].copy_(teacher.head.bias)

    def require_teacher(self) -> Teacher:
        if self.teacher is None:
            raise RuntimeError(
                "this distillation task has no teacher (a student rebuilt from its checkpoint can be "
                "evaluated, not trained further); set task.teacher"
            )
        return self.teacher

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        teacher = self.require_teacher()
        if teacher.device != x.device:
            teacher.to(x.device)
        return teacher(x).float()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classification_head(self.features(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        """(features, logits over teacher + new classes, no forgery logit): the classification layout."""
        feats = self.features(x)
        return feats, self.classification_head(feats), None

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self._trainer is not None else None
        labels = getattr(dm, "teacher_labels", None)
        if stage == "fit" and labels is not None and labels > self.teacher_classes:
            raise ValueError(
                f"the inverted set has teacher classes up to {labels - 1}, the teacher only "
                f"{self.teacher_classes}: check data.inverted / data.inverted_users"
            )

    # ---- training --------------------------------------------------------------------------------------
    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        super().on_train_batch_start(batch.get("continual") or batch["inverted"], batch_idx)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        inverted, continual = batch["inverted"], batch.get("continual")
        student_inv = self.logits(inverted["x"])
        teacher_inv = self.teacher_logits(inverted["x"])
        if continual is None:
            out = self.loss_fn(student_inv, teacher_inv)
        else:
            student_c = self.logits(continual["x"])
            out = self.loss_fn(
                student_inv, teacher_inv, student_c, self.teacher_logits(continual["x"]), continual["y"]
            )
            hits = student_c.argmax(1) == continual["y"] + self.teacher_classes
            self.log("train/acc", hits.float().mean(), on_step=False, on_epoch=True)
        agree = student_inv.argmax(1) == teacher_inv.argmax(1)
        self.log("train/teacher_agreement", agree.float().mean(), on_step=False, on_epoch=True)
        self.log("train/loss", out.loss, prog_bar=True)
        self.log_dict({f"train/{k}": v for k, v in out.parts.items()}, on_step=False, on_epoch=True)
        return out.loss

    # ---- validation ------------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        for hits in self._val_hits.values():
            hits.clear()

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        kind = self._val_kind(dataloader_idx)
        if kind == "verification":
            self.collect_holdout(batch)
            return
        logits = self.logits(batch["x"])
        if kind == "inverted":
            self._val_hits[kind].append(((logits.argmax(1) == batch["y"]).cpu(),))
            return
        # continual labels index the new classes; the prediction is over the whole head (as the reference),
        # and, as a diagnostic, over the new-writer outputs alone
        full = logits.argmax(1) == batch["y"] + self.teacher_classes
        new_only = logits[:, self.teacher_classes :].argmax(1) == batch["y"]
        self._val_hits[kind].append((full.cpu(), new_only.cpu()))

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        batch_size = int(getattr(self.trainer.datamodule, "eval_batch_size", 1))
        accuracies = {}
        for kind, key in (("inverted", "val/acc_inverted"), ("classification", "val/acc")):
            collected = self.take_collected(self._val_hits[kind], kind)
            if collected is None:
                continue
            accuracies[kind] = val_accuracy(collected[0], batch_size, self.val_accuracy)
            self.log(key, accuracies[kind], sync_dist=False, prog_bar=True)
            if kind == "classification":
                new_only = val_accuracy(collected[1], batch_size, self.val_accuracy)
                self.log("val/acc_new_head", new_only, sync_dist=False)
        if accuracies:
            mean, std = selection_score(list(accuracies.values()))
            self.log_dict({SCORE_KEY: mean, STD_KEY: std}, sync_dist=False)

    # ---- checkpoints -----------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Store the student as a standalone classifier: the config's teacher replaced by its class count.

        Runs after the callbacks' hooks, so it sees the config that ``ConfigInCheckpoint`` just stored.
        """
        config = checkpoint.get(CONFIG_KEY)
        if not isinstance(config, dict) or not isinstance(config.get("task"), dict):
            return
        config = copy.deepcopy(config)
        config["task"].update(teacher=None, teacher_classes=self.teacher_classes, init_from_teacher=False)
        checkpoint[CONFIG_KEY] = config
