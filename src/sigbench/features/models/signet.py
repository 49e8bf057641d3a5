"""SigNet and its thin / smaller variants (Hafemann, Sabourin, Oliveira, Pattern Recognition 2017).

Module names mirror the public sigver weights (``conv_layers.conv1.conv.weight``, ``fc_layers.fc1.bn.*``) so
published SigNet, SigNet-F, triplet and NT-Xent weights load without key surgery.  Every conv / linear layer
has no bias and is followed by BatchNorm and ReLU; the 2048-d output of the last fc block is the feature.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

INPUT_SIZE = (150, 220)


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int, stride: int = 1, pad: int = 0) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=pad, bias=False),
            bn=nn.BatchNorm2d(out_ch),
            relu=nn.ReLU(inplace=True),
        )
    )


def linear_bn_relu(in_features: int, out_features: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            fc=nn.Linear(in_features, out_features, bias=False),
            bn=nn.BatchNorm1d(out_features),
            relu=nn.ReLU(inplace=True),
        )
    )


class SigNet(nn.Module):
    """Writer-independent feature extractor: 1 x 150 x 220 image in [0, 1] -> non-negative feature vector.

    Args:
        variant: ``"signet"`` (the paper's network, 2048-d), ``"thin"`` (conv2-5 with 128 channels,
            fc 1920 -> 1024 -> 1024) or ``"smaller"`` (no conv4, no fc2).
    """

    VARIANTS = ("signet", "thin", "smaller")

    def __init__(self, variant: str = "signet") -> None:
        super().__init__()
        if variant not in self.VARIANTS:
            raise ValueError(f"model.variant={variant!r} is not one of {list(self.VARIANTS)}")
        self.variant = variant
        wide = 128 if variant == "thin" else None
        c2, c3, c4, c5 = (wide, wide, wide, wide) if wide else (256, 384, 384, 256)
        convs: list[tuple[str, nn.Module]] = [
            ("conv1", conv_bn_relu(1, 96, 11, stride=4)),
            ("maxpool1", nn.MaxPool2d(3, 2)),
            ("conv2", conv_bn_relu(96, c2, 5, pad=2)),
            ("maxpool2", nn.MaxPool2d(3, 2)),
            ("conv3", conv_bn_relu(c2, c3, 3, pad=1)),
        ]
        if variant != "smaller":
            convs.append(("conv4", conv_bn_relu(c3, c4, 3, pad=1)))
        convs += [("conv5", conv_bn_relu(c4 if variant != "smaller" else c3, c5, 3, pad=1))]
        convs.append(("maxpool3", nn.MaxPool2d(3, 2)))
        self.conv_layers = nn.Sequential(OrderedDict(convs))
        self.flat_size = c5 * 3 * 5
        self.feature_dim = 1024 if variant == "thin" else 2048
        fcs = [("fc1", linear_bn_relu(self.flat_size, self.feature_dim))]
        if variant != "smaller":
            fcs.append(("fc2", linear_bn_relu(self.feature_dim, self.feature_dim)))
        self.fc_layers = nn.Sequential(OrderedDict(fcs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_layers(x)
        x = torch.flatten(x, 1)
        return self.fc_layers(x)
