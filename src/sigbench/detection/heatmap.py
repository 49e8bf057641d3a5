"""A segmentation-style signature detector: a small FPN predicts where signatures are, boxes are read off.

In the spirit of the text detectors PSENet and DBNet (AOSSig detects signatures with PSENet): a fully
convolutional network (:func:`sigbench.segmentation.models.fpn` on a small timm encoder) predicts, at a
``stride`` of the input, the probability that a cell lies in the shrunk *kernel* of a signature box, one
channel per class. Training targets are the boxes' kernels with the ring around them ignored
(:func:`sigbench.detection.kernels.rasterise`), learnt with BCE + soft Dice; inference thresholds the map,
takes connected components and expands each back to a box (:func:`sigbench.detection.kernels.decode`).

Why it exists: from scratch, on a CPU, a two-stage detector learns almost nothing in an hour. Its RPN and
box head are trained from a few sampled anchors and regions per page, and its box head only sees useful
proposals once the RPN has learnt. Here every output cell of every page is a supervised example from the
first step, with no anchors, sampling or matching, so dense supervision trains far faster from scratch --
the reason segmentation-based text detectors train well on small data. The price: boxes are axis-aligned
hulls of blobs, so two signatures whose kernels touch come out as one box.

:class:`HeatmapDetector` speaks the interface of :class:`sigbench.detection.models.Detector` -- lists of
``3 x H x W`` uint8 (or float) pages in; losses in training, ``boxes`` / ``scores`` / ``labels`` (0-based)
per page otherwise -- so :class:`~sigbench.detection.task.DetectionTask`, tiling and ``sigbench-detect``
use it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sigbench.detection.kernels import decode, rasterise
from sigbench.detection.models import check_classes, unit_float
from sigbench.segmentation.losses import soft_dice
from sigbench.segmentation.models import SegmentationNet, fpn


class HeatmapDetector(nn.Module):
    """Pages in, losses (training) or boxes (inference) out, through a per-class kernel probability map.

    Args:
        net: a one-channel (grey) :class:`~sigbench.segmentation.models.SegmentationNet` with one output
            channel per class; its ``output_stride`` is the map's stride.
        classes: class names, in the order of the data's 0-based labels.
        shrink_ratio: PSENet / DBNet kernel ratio ``r`` (1: the whole box is the target, no ignored ring).
        threshold: probability above which a cell belongs to a kernel.
        min_area: components smaller than this many input pixels are dropped (specks, dots, stray marks).
        score_thresh: boxes whose score (mean probability of their component) is lower are dropped.
        max_detections: at most this many boxes per page, best first.
        bce_weight, dice_weight: weights of the two losses (both returned, the task sums them).
    """

    architecture = "heatmap"

    def __init__(
        self,
        net: SegmentationNet,
        classes: Sequence[str],
        shrink_ratio: float = 0.5,
        threshold: float = 0.3,
        min_area: float = 100.0,
        score_thresh: float = 0.05,
        max_detections: int = 100,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.classes = check_classes(classes)
        if net.in_channels != 1 or net.num_classes != len(self.classes):
            raise ValueError(
                f"heatmap detector: the network must take 1 channel and predict {len(self.classes)}, "
                f"got {net.in_channels} -> {net.num_classes}"
            )
        if not 0.0 < shrink_ratio <= 1.0 or not 0.0 < threshold < 1.0:
            raise ValueError(
                f"shrink_ratio must be in (0, 1], threshold in (0, 1): {shrink_ratio}, {threshold}"
            )
        self.net = net
        self.shrink_ratio = shrink_ratio
        self.threshold = threshold
        self.min_area = min_area
        self.score_thresh = score_thresh
        self.max_detections = max_detections
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight

    @property
    def stride(self) -> int:
        """Input pixels per map cell, along each side."""
        return self.net.output_stride

    @property
    def num_logits(self) -> int:
        """Output channels: one independent sigmoid per class."""
        return len(self.classes)

    @staticmethod
    def batch(images: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Grey ``N x 1 x H x W`` floats in [0, 1], pages padded with white paper on the right / bottom to the
        largest (the network pads on to its own stride), and each page's ``(height, width)``.

        Grey loses nothing on bilevel scans and makes the first convolution three times cheaper.
        """
        if not images:
            raise ValueError("heatmap detector: no images")
        sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        height, width = max(h for h, _ in sizes), max(w for _, w in sizes)
        out = torch.ones((len(images), 1, height, width), device=images[0].device)
        for index, (image, (h, w)) in enumerate(zip(images, sizes, strict=True)):
            out[index, 0, :h, :w] = unit_float(image).mean(dim=0)
        return out, sizes

    def forward(
        self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None
    ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        pages, sizes = self.batch(images)
        logits = self.net(pages)
        if targets is not None:
            return self.losses(logits, targets)
        return self.detections(logits, sizes)

    def losses(
        self, logits: torch.Tensor, targets: Sequence[dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        """BCE over the cells that count (mean) and soft Dice per class over the batch, kernel rings ignored.

        Dice over the batch, not per page: a page without a signature (40 % of them) then asks for low
        probabilities in proportion, instead of a loss near 1 whatever the network does. Padding is white
        paper: it counts as background, as it would on a larger page.
        """
        size = (int(logits.shape[-2]), int(logits.shape[-1]))
        maps = [
            rasterise(
                t["boxes"].detach().cpu().numpy(),
                t["labels"].detach().cpu().numpy(),
                len(self.classes),
                size,
                self.stride,
                self.shrink_ratio,
            )
            for t in targets
        ]
        target = torch.from_numpy(np.stack([t for t, _ in maps])).to(logits.device, logits.dtype)
        mask = torch.from_numpy(np.stack([m for _, m in maps])).to(logits.device, logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        bce = (bce * mask).sum() / mask.sum().clamp(min=1.0)
        dice = soft_dice(torch.sigmoid(logits), target, mask, per_image=False)
        return {"loss_bce": self.bce_weight * bce, "loss_dice": self.dice_weight * dice}

    @torch.no_grad()
    def detections(
        self, logits: torch.Tensor, sizes: Sequence[tuple[int, int]]
    ) -> list[dict[str, torch.Tensor]]:
        """Per page: its map cropped to the page, decoded into boxes in the page's pixels."""
        prob = torch.sigmoid(logits.float()).cpu().numpy()
        out = []
        for page, (height, width) in zip(prob, sizes, strict=True):
            cells = page[:, : math.ceil(height / self.stride), : math.ceil(width / self.stride)]
            found = decode(
                cells,
                self.stride,
                self.shrink_ratio,
                self.threshold,
                self.min_area,
                (height, width),
                self.max_detections,
            )
            keep = found.scores >= self.score_thresh
            out.append(
                {
                    "boxes": torch.from_numpy(found.boxes[keep]).to(logits.device),
                    "scores": torch.from_numpy(found.scores[keep]).to(logits.device),
                    "labels": torch.from_numpy(found.labels[keep]).to(logits.device),
                }
            )
        return out


def set_prior(net: nn.Module, prior: float) -> None:
    """Bias the last convolution (the class head) so that every cell starts at probability ``prior``.

    RetinaNet's initialisation for dense, imbalanced targets: a page is mostly background, and starting at
    0.5 everywhere spends the first steps unlearning a flood of false positives.
    """
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    head = [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1]
    if head.bias is None:
        raise ValueError("the network's last convolution has no bias to set")
    nn.init.constant_(head.bias, -math.log((1.0 - prior) / prior))


def heatmap_detector(
    classes: Sequence[str],
    encoder: str = "lcnet_075",
    stride: int = 4,
    encoder_depth: int = 5,
    pyramid_channels: int = 64,
    segmentation_channels: int = 32,
    shrink_ratio: float = 0.5,
    threshold: float = 0.3,
    min_area: float = 100.0,
    score_thresh: float = 0.05,
    max_detections: int = 100,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    prior: float = 0.01,
) -> HeatmapDetector:
    """A randomly initialised :class:`HeatmapDetector` on an FPN (nothing is downloaded).

    Args:
        classes: class names (``${data.classes}`` in configs).
        encoder: any timm encoder; ``lcnet_075`` (PP-LCNet, built for CPU inference) is the CPU choice,
            ``resnet18`` / ``resnet10t`` are wider.
        stride: map stride, 1, 2 or 4 (the FPN merges at 4; a finer map only upsamples it).
        encoder_depth, pyramid_channels, segmentation_channels: the FPN's size
            (:func:`sigbench.segmentation.models.fpn`).
        prior: initial probability of every cell (:func:`set_prior`).
        shrink_ratio, threshold, min_area, score_thresh, max_detections, bce_weight, dice_weight: see
            :class:`HeatmapDetector`.
    """
    classes = check_classes(classes)
    net = fpn(
        encoder,
        in_channels=1,
        classes=len(classes),
        encoder_depth=encoder_depth,
        pyramid_channels=pyramid_channels,
        segmentation_channels=segmentation_channels,
        output_stride=stride,
    )
    set_prior(net, prior)
    return HeatmapDetector(
        net,
        classes,
        shrink_ratio=shrink_ratio,
        threshold=threshold,
        min_area=min_area,
        score_thresh=score_thresh,
        max_detections=max_detections,
        bce_weight=bce_weight,
        dice_weight=dice_weight,
    )
