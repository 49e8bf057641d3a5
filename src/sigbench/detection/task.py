"""Training a page detector with Lightning: the detector's own losses, and the field's two metrics per epoch.

Validation reports both families of numbers a reader of detection papers expects:

* COCO mAP (``torchmetrics`` with the pycocotools backend): ``val/map`` (IoU 0.50:0.95), ``val/map_50``,
  ``val/map_75``, ``val/mar_100``;
* the AOSSig / ICDAR-2015 metric (:func:`sigbench.detection.evaluate.evaluate_pages`: score >= threshold,
  greedy matching, IoU strictly above the threshold, micro-averaged) at IoU 0.5 and 0.75: ``val/f_50``,
  ``val/precision_50``, ``val/recall_50``, ``val/f_75``, ... Matching is per class (a date box does not
  match a signature), which for one class is exactly the published metric.

A few validation pages are drawn to TensorBoard with ground truth in green and predictions in red.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torchmetrics.detection import MeanAveragePrecision
from torchvision.utils import draw_bounding_boxes

from sigbench.detection.evaluate import evaluate_pages
from sigbench.documents.formats import Annotation
from sigbench.extras import require
from sigbench.optim import OptimizerFactory, SchedulerFactory, optimizer_config

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]], list[dict]]
GT_COLOUR, PRED_COLOUR = (0, 200, 0), (230, 0, 0)


def to_annotations(
    boxes: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], scores: torch.Tensor | None = None
) -> list[Annotation]:
    """Boxes (xyxy) with 0-based labels as :class:`Annotation` quads for the AOSSig metric and txt files.

    Class names outside :data:`sigbench.documents.formats.LABELS` (a custom class list) are stored as
    ``signature``: the quad txt format has no class column anyway.
    """
    from sigbench.documents.formats import LABELS

    out = []
    boxes, labels = boxes.detach().cpu().tolist(), labels.detach().cpu().tolist()
    values = scores.detach().cpu().tolist() if scores is not None else [None] * len(boxes)
    for box, label, score in zip(boxes, labels, values, strict=True):
        name = classes[int(label)]
        out.append(Annotation.from_box(*box, label=name if name in LABELS else "signature", score=score))
    return out


def draw_page(
    image: torch.Tensor,
    truth: dict[str, torch.Tensor] | None,
    pred: dict[str, torch.Tensor],
    threshold: float,
) -> torch.Tensor:
    """A uint8 page with ground truth (green) and predictions scoring at least ``threshold`` (red)."""
    page = image.detach().cpu()
    page = page if page.dtype == torch.uint8 else page.mul(255).clamp(0, 255).to(torch.uint8)
    if truth is not None and len(truth["boxes"]):
        page = draw_bounding_boxes(page, truth["boxes"].cpu(), colors=GT_COLOUR, width=2)
    keep = pred["scores"].cpu() >= threshold
    if bool(keep.any()):
        page = draw_bounding_boxes(page, pred["boxes"].cpu()[keep], colors=PRED_COLOUR, width=2)
    return page


class DetectionMetrics:
    """Accumulates one evaluation pass: COCO mAP plus AOSSig P/R/F at several IoU thresholds."""

    def __init__(self, classes: Sequence[str], score_threshold: float, ious: Sequence[float]) -> None:
        self.classes = list(classes)
        self.score_threshold = score_threshold
        self.ious = list(ious)
        require("pycocotools", "documents", "COCO mAP of detection validation")
        self.coco = MeanAveragePrecision(box_format="xyxy", iou_type="bbox")
        self.truth: dict[str, list[Annotation]] = {}
        self.pred: dict[str, list[Annotation]] = {}

    def update(self, preds: list[dict], targets: list[dict], names: Sequence[str]) -> None:
        cpu_preds = [{k: p[k].detach().cpu() for k in ("boxes", "scores", "labels")} for p in preds]
        cpu_targets = [{k: t[k].detach().cpu() for k in ("boxes", "labels")} for t in targets]
        self.coco.update(cpu_preds, cpu_targets)
        for name, pred, target in zip(names, cpu_preds, cpu_targets, strict=True):
            for index in range(len(self.classes)):
                key = f"{name}#{index}"  # one "page" per class: matching never crosses classes
                wanted, hit = target["labels"] == index, pred["labels"] == index
                self.truth[key] = to_annotations(
                    target["boxes"][wanted], target["labels"][wanted], self.classes
                )
                self.pred[key] = to_annotations(
                    pred["boxes"][hit], pred["labels"][hit], self.classes, pred["scores"][hit]
                )

    def compute(self, prefix: str) -> dict[str, float]:
        coco = self.coco.compute()
        out = {f"{prefix}/{k}": float(coco[k]) for k in ("map", "map_50", "map_75", "mar_100")}
        for iou in self.ious:
            scores = evaluate_pages(self.truth, self.pred, iou=iou, score_threshold=self.score_threshold)
            tag = f"{round(iou * 100):d}"
            out.update({f"{prefix}/{k}_{tag}": scores[k] for k in ("precision", "recall")})
            out[f"{prefix}/f_{tag}"] = scores["fmeasure"]
        return out

    def reset(self) -> None:
        self.coco.reset()
        self.truth.clear()
        self.pred.clear()


class DetectionTask(pl.LightningModule):
    """A page detector trained on its own losses: a torchvision one
    (:func:`sigbench.detection.models.build_detector`) or the heatmap detector
    (:func:`sigbench.detection.heatmap.heatmap_detector`).

    Args:
        backbone: the :class:`~sigbench.detection.models.Detector` or
            :class:`~sigbench.detection.heatmap.HeatmapDetector` (the runner passes the built ``model``).
        num_classes: classes of the data module; must match the detector's class list.
        optimizer: a factory ``f(params) -> Optimizer``; ``scheduler``: ``f(optimizer)`` stepped per epoch.
        loss: must be ``None``: torchvision detectors compute their losses themselves.
        score_threshold: predictions below it are dropped by the AOSSig metric and the drawn pages.
        log_pages: validation pages drawn to TensorBoard each epoch.
        ious: IoU thresholds of the AOSSig metric (the paper reports 0.5 and 0.75).
    """

    # the detectors compute their own losses: a configured loss is refused at start-up
    loss_interface: ClassVar[str | None] = None

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        loss: object | None = None,
        score_threshold: float = 0.5,
        log_pages: int = 4,
        ious: Sequence[float] = (0.5, 0.75),
    ) -> None:
        super().__init__()
        if loss is not None:
            raise ValueError("detection: detectors compute their own losses; set loss: null")
        classes = list(getattr(backbone, "classes", []))
        if len(classes) != num_classes:
            raise ValueError(
                f"detection: the model has {len(classes)} classes {classes} but the data has {num_classes}; "
                "set model.classes to the data's classes (the configs use ${data.classes})"
            )
        self.detector = backbone
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.score_threshold = score_threshold
        self.log_pages = log_pages
        self.val_metrics = DetectionMetrics(classes, score_threshold, ious)
        self.test_metrics = DetectionMetrics(classes, score_threshold, ious)
        self._drawn = 0
        self.save_hyperparameters({"num_classes": num_classes, "score_threshold": score_threshold})

    @property
    def classes(self) -> list[str]:
        return self.detector.classes

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """Detections (0-based labels, input pixels) of a list of uint8 ``3 x H x W`` images."""
        return self.detector(images)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        images, targets, _ = batch
        parts = self.detector(images, targets)
        loss = sum(parts.values())
        size = len(images)
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log_dict(
            {f"train/{k}": v for k, v in parts.items()}, on_step=False, on_epoch=True, batch_size=size
        )
        return loss

    def _evaluate(self, batch: Batch, metrics: DetectionMetrics) -> list[dict[str, torch.Tensor]]:
        images, targets, metas = batch
        preds = self.detector(images)
        metrics.update(preds, targets, [m["name"] for m in metas])
        return preds

    def on_validation_epoch_start(self) -> None:
        self.val_metrics.reset()
        self._drawn = 0

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        preds = self._evaluate(batch, self.val_metrics)
        self._draw(batch, preds)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self.val_metrics.truth:
            return
        self.log_dict(self.val_metrics.compute("val"), sync_dist=False)

    def on_test_epoch_start(self) -> None:
        self.test_metrics.reset()

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        if self.test_metrics.truth:
            self.log_dict(self.test_metrics.compute("test"), sync_dist=False)

    def _draw(self, batch: Batch, preds: list[dict[str, torch.Tensor]]) -> None:
        if self._drawn >= self.log_pages or self.global_rank != 0:
            return
        loggers = [lg for lg in self.loggers if isinstance(lg, TensorBoardLogger)]
        images, targets, metas = batch
        for image, target, pred, meta in zip(images, targets, preds, metas, strict=True):
            if self._drawn >= self.log_pages:
                break
            page = draw_page(image, target, pred, self.score_threshold)
            for logger in loggers:
                logger.experiment.add_image(f"val_pages/{self._drawn}", page, self.global_step)
                logger.experiment.add_text(f"val_pages/{self._drawn}", meta["name"], self.global_step)
            self._drawn += 1

    def configure_optimizers(self) -> dict:
        return optimizer_config(self.parameters(), self.optimizer_factory, self.scheduler_factory)
