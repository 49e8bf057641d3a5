"""Segmentation networks: U-Net with any timm encoder, and torchvision's DeepLabV3, behind one interface.

Both builders return a :class:`SegmentationNet`: float images N x C_in x H x W in [0, 1] in, logits
N x classes x H x W out, at the input size, for any H and W (the U-Net needs sides divisible by its output
stride, so the wrapper pads with white paper and crops the logits back). Weights are always random
(``encoder_weights=None`` / ``weights=None``): nothing is downloaded at run time.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

DEEPLAB_BACKBONES: tuple[str, ...] = ("resnet50", "resnet101", "mobilenet_v3_large")


class SegmentationNet(nn.Module):
    """Uniform wrapper: pads to a multiple of ``stride``, repeats a grey channel for RGB-only networks,
    unwraps torchvision's ``{"out": ...}`` dict, and crops the logits to the input size.

    Attributes ``in_channels`` and ``num_classes`` let the task and ``sigbench-segment`` check inputs.
    """

    def __init__(
        self, net: nn.Module, in_channels: int, num_classes: int, stride: int = 1, net_channels: int = 0
    ) -> None:
        super().__init__()
        self.net = net
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.stride = stride
        self.net_channels = net_channels or in_channels

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
        return out[..., :h, :w]


def unet(
    encoder: str = "resnet18",
    in_channels: int = 3,
    classes: int = 1,
    encoder_depth: int = 5,
    decoder_channels: list[int] | None = None,
) -> SegmentationNet:
    """``segmentation_models_pytorch.Unet`` on the timm encoder ``encoder`` (e.g. ``resnet18``,
    ``mobilenetv3_large_100``, ``efficientnet_b0``), randomly initialised."""
    from sigbench.extras import require

    smp = require("segmentation_models_pytorch", "documents", "the U-Net segmentation model")

    name = encoder if encoder.startswith("tu-") else f"tu-{encoder}"
    decoder = list(decoder_channels) if decoder_channels else [256, 128, 64, 32, 16][:encoder_depth]
    if len(decoder) != encoder_depth:
        raise ValueError(f"decoder_channels needs {encoder_depth} entries (encoder_depth), got {decoder}")
    net = smp.Unet(
        encoder_name=name,
        encoder_weights=None,
        encoder_depth=encoder_depth,
        decoder_channels=decoder,
        in_channels=in_channels,
        classes=classes,
    )
    return SegmentationNet(net, in_channels, classes, stride=2**encoder_depth)


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
