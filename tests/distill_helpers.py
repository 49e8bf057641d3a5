"""Tiny teachers and inverted sets for the inversion / distillation tests: small images, milliseconds a step.

The algorithms only need a network with BatchNorm layers and a ``feature_dim``; SigNet itself (fixed
150 x 220 input) is exercised by the end-to-end recipe test.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from sigbench.data.formats import SignatureDataset
from sigbench.features.teacher import Teacher

SMALL = (24, 32)  # image size of the tiny tests (H, W)


class TinyNet(nn.Module):
    """conv-BN-ReLU x 2, pooled, then fc-BN-ReLU: the SigNet layer pattern at toy scale."""

    def __init__(self, feature_dim: int = 12) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.body = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(1, 6, 3, stride=2, bias=False),
                bn1=nn.BatchNorm2d(6),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(6, 8, 3, stride=2, bias=False),
                bn2=nn.BatchNorm2d(8),
                relu2=nn.ReLU(),
                pool=nn.AdaptiveAvgPool2d(2),
                flat=nn.Flatten(),
                fc=nn.Linear(32, feature_dim, bias=False),
                bn3=nn.BatchNorm1d(feature_dim),
                relu3=nn.ReLU(),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def stroke_images(
    n: int, size: tuple[int, int] = SMALL, seed: int = 0, band: tuple[int, int] | None = None
) -> torch.Tensor:
    """Signature-like floats in [0, 1]: a dark background with a few bright horizontal strokes, their rows
    drawn from ``band`` (default: anywhere)."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = band if band is not None else (2, size[0] - 2)
    x = torch.zeros(n, 1, *size)
    for i in range(n):
        for _ in range(3):
            r = int(torch.randint(lo, hi, (), generator=g))
            c0 = int(torch.randint(0, size[1] // 2, (), generator=g))
            x[i, 0, r : r + 2, c0 : c0 + size[1] // 3] = 0.6 + 0.4 * torch.rand((), generator=g)
    return x


def class_images(num_classes: int, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stroke images whose class is the band of rows their strokes are in."""
    height = SMALL[0] // num_classes
    xs = [
        stroke_images(per_class, seed=seed + 7 * k, band=(k * height, (k + 1) * height - 1))
        for k in range(num_classes)
    ]
    return torch.cat(xs), torch.arange(num_classes).repeat_interleave(per_class)


def tiny_teacher(num_classes: int = 4, seed: int = 0, steps: int = 60) -> Teacher:
    """A tiny network trained for a few steps to tell the row bands apart; its BatchNorm running statistics
    are those of its training images."""
    torch.manual_seed(seed)
    net = TinyNet()
    head = nn.Linear(net.feature_dim, num_classes)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # cumulative average: the statistics of everything seen
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=0.01)
    net.train()
    for step in range(steps):
        x, y = class_images(num_classes, 8, seed=seed * 1000 + step)
        loss = nn.functional.cross_entropy(head(net(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return Teacher(net, head)


def uint8_set(x: torch.Tensor, y: np.ndarray, yforg: np.ndarray | None = None) -> SignatureDataset:
    n = len(y)
    return SignatureDataset(
        x=x.mul(255).round().clamp(0, 255).to(torch.uint8).numpy(),
        y=np.asarray(y, dtype=np.int64),
        yforg=np.zeros(n, dtype=np.int64) if yforg is None else np.asarray(yforg),
        user_mapping=[str(u) for u in range(int(np.max(y)) + 1)],
        filenames=[f"s{i}" for i in range(n)],
    )


def continual_set(writers: int = 4, genuine: int = 5, first: int = 0) -> SignatureDataset:
    """Small stroke-image writers (genuine + one forgery each) for continual data and held-out writers."""
    xs, ys, fs = [], [], []
    for w in range(first, first + writers):
        xs.append(stroke_images(genuine + 1, seed=100 + w))
        ys += [w] * (genuine + 1)
        fs += [0] * genuine + [1]
    return uint8_set(torch.cat(xs), np.asarray(ys), np.asarray(fs))
