"""Object detectors for signatures on pages: torchvision's Faster R-CNN, RetinaNet and FCOS, never pretrained.

:func:`build_detector` returns a :class:`Detector`, a thin wrapper that hides the one convention the three
torchvision families disagree on -- the class index space. Faster R-CNN reserves logit 0 for background
(``num_classes = len(classes) + 1``, object labels ``1..C``), while RetinaNet and FCOS score each class with
an independent sigmoid (``num_classes = len(classes)``, labels ``0..C-1``). The rest of sigbench uses 0-based
indices into ``classes`` everywhere; the wrapper shifts labels on the way in and out, so a data module, the
metrics and ``sigbench-detect`` never need to know which family they talk to.

The wrapper also takes uint8 images (pages stay uint8 until the model) and converts them to floats in [0, 1],
the input range torchvision's normalising transform expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import (
    FCOS,
    FasterRCNN,
    RetinaNet,
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
    fcos_resnet50_fpn,
    retinanet_resnet50_fpn,
)
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

ARCHITECTURES = ("fasterrcnn", "retinanet", "fcos")
#: Backbones with a ready torchvision builder, per architecture (others use :func:`resnet_fpn_backbone`).
TORCHVISION_BUILDERS = {
    ("fasterrcnn", "resnet50"): fasterrcnn_resnet50_fpn,
    ("fasterrcnn", "mobilenet_v3_large"): fasterrcnn_mobilenet_v3_large_fpn,
    ("retinanet", "resnet50"): retinanet_resnet50_fpn,
    ("fcos", "resnet50"): fcos_resnet50_fpn,
}
#: Small ResNets wrapped in an FPN by hand: the CPU-sized variants.
FPN_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")


def unit_float(image: torch.Tensor) -> torch.Tensor:
    """A uint8 image as floats in [0, 1]; a float image is taken to be in [0, 1] already."""
    return image.float().div(255.0) if image.dtype == torch.uint8 else image


class Detector(nn.Module):
    """A torchvision detector speaking 0-based class indices and uint8 images.

    ``forward(images)`` in eval mode returns one dict per image with ``boxes`` (xyxy, input pixels),
    ``scores`` and ``labels`` (indices into :attr:`classes`); ``forward(images, targets)`` in train mode
    returns torchvision's loss dict. Images are ``3 x H x W`` uint8 (or float in [0, 1]) tensors.
    """

    def __init__(self, model: nn.Module, architecture: str, classes: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.architecture = architecture
        self.classes = list(classes)
        # Faster R-CNN's logit 0 is background; the sigmoid families index classes from 0
        self.label_offset = 1 if architecture == "fasterrcnn" else 0

    @property
    def num_logits(self) -> int:
        """Class scores the head produces per box (``len(classes) + 1`` for Faster R-CNN)."""
        return len(self.classes) + self.label_offset

    def forward(
        self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None
    ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        inputs = [unit_float(im) for im in images]
        if targets is not None:
            targets = [{**t, "labels": t["labels"] + self.label_offset} for t in targets]
        out = self.model(inputs, targets)
        if isinstance(out, dict):  # training: the loss dict
            return out
        return [{**o, "labels": o["labels"] - self.label_offset} for o in out]


def check_classes(classes: Sequence[str]) -> list[str]:
    """``classes`` as a list, refused unless it is a non-empty list of distinct names (any detector)."""
    classes = list(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be a non-empty list of distinct names, got {classes}")
    return classes


def _fpn_backbone(name: str, extra_p6p7: bool) -> nn.Module:
    """A ResNet + FPN from scratch; BatchNorm (not torchvision's frozen default, which is a no-op untrained).

    RetinaNet and FCOS read P3-P7 (``returned_layers=[2, 3, 4]`` plus two extra levels), Faster R-CNN P2-P6.
    """
    if name not in FPN_RESNETS:
        raise ValueError(f"backbone {name!r}: expected one of {FPN_RESNETS} or mobilenet_v3_large")
    if extra_p6p7:
        return resnet_fpn_backbone(
            backbone_name=name,
            weights=None,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=5,
            returned_layers=[2, 3, 4],
            extra_blocks=LastLevelP6P7(256, 256),
        )
    return resnet_fpn_backbone(
        backbone_name=name, weights=None, norm_layer=nn.BatchNorm2d, trainable_layers=5
    )


def build_detector(
    architecture: str,
    classes: Sequence[str],
    backbone: str = "resnet50",
    min_size: int = 800,
    max_size: int = 1333,
    trainable_backbone_layers: int | None = None,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 100,
    options: Mapping[str, Any] | None = None,
) -> Detector:
    """A randomly initialised detector for ``classes`` (nothing is downloaded: ``weights=None`` always).

    Args:
        architecture: ``fasterrcnn``, ``retinanet`` or ``fcos``.
        classes: class names, in the order of the data's 0-based labels (``${data.classes}`` in configs).
        backbone: ``resnet50`` (the published settings), ``mobilenet_v3_large`` (Faster R-CNN only) or a
            smaller ResNet (``resnet18``/``resnet34``) in an FPN, for CPU-sized runs.
        min_size, max_size: torchvision's internal resize (shorter side to ``min_size`` unless the longer
            side would pass ``max_size``). Set both to the data's long side so pages already resized by the
            data module are not resized again.
        trainable_backbone_layers: only meaningful with pretrained weights; untrained backbones train all
            layers (torchvision forces 5), so leave it ``None``.
        score_thresh, nms_thresh, detections_per_img: post-processing of the model's own outputs; keep the
            score threshold low so that evaluation (threshold 0.5) sees every candidate.
        options: further keyword arguments of the torchvision model class, e.g. Faster R-CNN's
            ``box_batch_size_per_image`` / ``rpn_post_nms_top_n_train`` (fewer sampled regions make a CPU
            step several times cheaper: the box head's first layer costs 12.8 MFLOPs per region).
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r}: expected one of {ARCHITECTURES}")
    classes = check_classes(classes)
    num_classes = len(classes) + (1 if architecture == "fasterrcnn" else 0)
    common = {"min_size": min_size, "max_size": max_size, "detections_per_img": detections_per_img}
    common.update(options or {})
    post = (
        {"box_score_thresh": score_thresh, "box_nms_thresh": nms_thresh}
        if architecture == "fasterrcnn"
        else {"score_thresh": score_thresh, "nms_thresh": nms_thresh}
    )
    builder = TORCHVISION_BUILDERS.get((architecture, backbone))
    if builder is not None:
        model = builder(
            weights=None,
            weights_backbone=None,
            num_classes=num_classes,
            trainable_backbone_layers=trainable_backbone_layers,
            **common,
            **post,
        )
    elif backbone == "mobilenet_v3_large":
        raise ValueError(f"backbone mobilenet_v3_large is only available for fasterrcnn, not {architecture}")
    else:
        body = _fpn_backbone(backbone, extra_p6p7=architecture != "fasterrcnn")
        family = {"fasterrcnn": FasterRCNN, "retinanet": RetinaNet, "fcos": FCOS}[architecture]
        model = family(body, num_classes=num_classes, **common, **post)
    return Detector(model, architecture, classes)
