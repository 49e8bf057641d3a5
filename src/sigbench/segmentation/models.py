"""Segmentation networks: U-Net and FPN on timm encoders, and torchvision's DeepLabV3, behind one interface.

Every builder returns a :class:`SegmentationNet`: float images N x C_in x H x W in [0, 1] in, logits
N x classes x H' x W' out for any H and W (the encoders need sides divisible by their total stride, so the
wrapper pads with white paper and crops the logits back). U-Net and DeepLabV3 predict at the input size; the
FPN predicts at a coarser ``output_stride`` (H' = ceil(H / output_stride)), which is all a box detector
needs and several times cheaper at page resolution. Weights are always random (``encoder_weights=None`` /
``weights=None``): nothing is downloaded at run time.
"""

from __future__ import annotations

import math
from types import ModuleType

import torch
from torch import nn
from torch.nn import functional as F

DEEPLAB_BACKBONES: tuple[str, ...] = ("resnet50", "resnet101", "mobilenet_v3_large")


class SegmentationNet(nn.Module):
    """Uniform wrapper: pads to a multiple of ``stride``, repeats a grey channel for RGB-only networks,
    unwraps torchvision's ``{"out": ...}`` dict, and crops the logits to the input size (divided by
    ``output_stride``).

    Attributes ``in_channels`` and ``num_classes`` let the task and ``sigbench-segment`` check inputs;
    ``output_stride`` is how many input pixels one output cell spans along each side (1: full resolution).
    """

    def __init__(
        self,
        net: nn.Module,
        in_channels: int,
        num_classes: int,
        stride: int = 1,
        net_channels: int = 0,
        output_stride: int = 1,
    ) -> None:
        super().__init__()
        if stride % output_stride:
            raise ValueError(f"padding stride {stride} is not a multiple of output_stride {output_stride}")
        self.net = net
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.stride = stride
        self.net_channels = net_channels or in_channels
        self.output_stride = output_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"model expects {self.in_channels} input channels, got {x.shape[1]}")
        if self.net_channels != self.in_channels:
            x = x.expand(-1, self.net_channels, -1, -1)
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % self.stride, (-w) % self.stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), value=1.0)  # white paper
        out = self.net(x)
        if isinstance(out, dict):
            out = out["out"]
        return out[..., : math.ceil(h / self.output_stride), : math.ceil(w / self.output_stride)]


def _smp(what: str) -> ModuleType:
    """segmentation_models_pytorch, imported on demand (it is an optional extra)."""
    from sigbench.extras import require

    return require("segmentation_models_pytorch", "documents", what)


def _timm_encoder(encoder: str) -> str:
    """smp's name of a timm encoder (``resnet18`` -> ``tu-resnet18``)."""
    return encoder if encoder.startswith("tu-") else f"tu-{encoder}"


def unet(
    encoder: str = "resnet18",
    in_channels: int = 3,
    classes: int = 1,
    encoder_depth: int = 5,
    decoder_channels: list[int] | None = None,
) -> SegmentationNet:
    """``segmentation_models_pytorch.Unet`` on the timm encoder ``encoder`` (e.g. ``resnet18``,
    ``mobilenetv3_large_100``, ``efficientnet_b0``), randomly initialised."""
    smp = _smp("the U-Net segmentation model")
    decoder = list(decoder_channels) if decoder_channels else [256, 128, 64, 32, 16][:encoder_depth]
    if len(decoder) != encoder_depth:
        raise ValueError(f"decoder_channels needs {encoder_depth} entries (encoder_depth), got {decoder}")
    net = smp.Unet(
        encoder_name=_timm_encoder(encoder),
        encoder_weights=None,
        encoder_depth=encoder_depth,
        decoder_channels=decoder,
        in_channels=in_channels,
        classes=classes,
    )
    return SegmentationNet(net, in_channels, classes, stride=2**encoder_depth)


def fpn(
    encoder: str = "resnet18",
    in_channels: int = 3,
    classes: int = 1,
    encoder_depth: int = 5,
    pyramid_channels: int = 256,
    segmentation_channels: int = 128,
    output_stride: int = 4,
    dropout: float = 0.0,
) -> SegmentationNet:
    """``segmentation_models_pytorch.FPN`` on the timm encoder ``encoder``, randomly initialised, with logits
    at ``output_stride`` (1, 2 or 4) of the input.

    The FPN decoder merges the pyramid at stride 4, as DBNet / PSENet text detectors do; stopping there
    (instead of upsampling to the input size) keeps the costly part of a page-sized forward pass small.
    Narrow ``pyramid_channels`` / ``segmentation_channels`` (e.g. 64 / 32) make it CPU-sized; the
    latter must be a multiple of 32 (smp normalises those blocks with 32-group GroupNorm).
    """
    smp = _smp("the FPN segmentation model")
    if output_stride not in (1, 2, 4):
        raise ValueError(f"fpn output_stride must be 1, 2 or 4, got {output_stride}")
    if segmentation_channels % 32:
        raise ValueError(f"fpn segmentation_channels must be a multiple of 32, got {segmentation_channels}")
    net = smp.FPN(
        encoder_name=_timm_encoder(encoder),
        encoder_weights=None,
        encoder_depth=encoder_depth,
        decoder_pyramid_channels=pyramid_channels,
        decoder_segmentation_channels=segmentation_channels,
        decoder_dropout=dropout,
        in_channels=in_channels,
        classes=classes,
        upsampling=4 // output_stride,
    )
    return SegmentationNet(net, in_channels, classes, stride=2**encoder_depth, output_stride=output_stride)


def deeplabv3(
    backbone: str = "resnet50", in_channels: int = 3, classes: int = 1, bn_momentum: float | None = 0.1
) -> SegmentationNet:
    """torchvision DeepLabV3 (``resnet50``, ``resnet101`` or ``mobilenet_v3_large``), randomly initialised.

    The torchvision networks take RGB; a grey input (``in_channels=1``) is repeated to three channels.

    ``bn_momentum`` is set on every BatchNorm layer (``None`` keeps torchvision's). torchvision's MobileNetV3
    uses 0.01, tuned for long ImageNet schedules; from scratch, with weights changing fast, its running
    statistics lag so far behind that the network segments well in training mode but predicts empty masks in
    eval mode (observed after 4 and 10 CPU epochs). PyTorch's default 0.1 tracks the weights.
    """
    from torchvision.models import segmentation

    if backbone not in DEEPLAB_BACKBONES:
        raise ValueError(f"deeplabv3 backbone {backbone!r} is not one of {DEEPLAB_BACKBONES}")
    if in_channels not in (1, 3):
        raise ValueError(f"deeplabv3 takes 1 or 3 input channels, got {in_channels}")
    builder = getattr(segmentation, f"deeplabv3_{backbone}")
    net = builder(weights=None, weights_backbone=None, num_classes=classes, aux_loss=False)
    if bn_momentum is not None:
        if not 0.0 < bn_momentum <= 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1], got {bn_momentum}")
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = bn_momentum
    return SegmentationNet(net, in_channels, classes, stride=1, net_channels=3)
