"""Cleaner networks: a small U-Net for CPUs, or any image-to-image net (e.g.
``segmentation_models_pytorch.Unet``) behind one wrapper that fixes the input/output contract.

Why a keep-mask output by default: clutter is composited only onto background pixels
(:mod:`sigbench.cleaning.noise`), so the clean image is exactly ``noisy * m`` with ``m`` = 1 on ink and 0 on
clutter. Predicting ``m`` (a sigmoid) instead of the image makes the identity on ink trivial and leaves the
network one job -- deciding which bright pixels are signature -- and the output can never invent ink.
``output="direct"`` (a sigmoid image) is there for clutter models that do touch ink (blur, bleed-through).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

OUTPUTS = ("mask", "direct")


class Cleaner(nn.Module):
    """``f(noisy) -> clean`` on float ``B x 1 x H x W`` batches in [0, 1] (ink bright), any H and W.

    Args:
        net: an image-to-image network with one input and one output channel (logits).
        output: ``"mask"``: ``noisy * sigmoid(net(noisy))``; ``"direct"``: ``sigmoid(net(noisy))``.
        pad_multiple: inputs are zero-padded at the bottom / right to a multiple of this (the net's total
            down-sampling: 32 for a 5-stage encoder) and the output is cropped back. Zero is background in
            the inverted domain, so padding only adds empty paper.
    """

    def __init__(self, net: nn.Module, output: str = "mask", pad_multiple: int = 32) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"model.output={output!r}: expected one of {list(OUTPUTS)}")
        if pad_multiple < 1:
            raise ValueError(f"model.pad_multiple must be >= 1, got {pad_multiple}")
        self.net = net
        self.output = output
        self.pad_multiple = int(pad_multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.pad_multiple
        padded = F.pad(x, (0, (-w) % m, 0, (-h) % m))
        logits = self.net(padded)[..., :h, :w]
        if self.output == "mask":
            return x * torch.sigmoid(logits)
        return torch.sigmoid(logits)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallUNet(nn.Module):
    """A compact U-Net (Ronneberger et al. 2015 layout: two 3 x 3 convolutions per level, max-pool down,
    transposed-convolution up, skip concatenation), sized for CPU training.

    With ``depth`` levels the input sides must be multiples of ``2 ** (depth - 1)`` (:class:`Cleaner` pads).
    The receptive field of the default (depth 4) is about 90 pixels: wide enough to see that a ruled line
    continues past a stroke, which is what separates the two.

    Args:
        in_channels, out_channels: image channels in, logit channels out.
        base_channels: channels of the first level, doubled at each level down.
        depth: number of resolution levels (>= 1).
        out_bias: initial bias of the output logits; +2 starts a keep-mask close to the identity.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 16,
        depth: int = 4,
        out_bias: float = 2.0,
    ) -> None:
        super().__init__()
        if depth < 1 or base_channels < 1:
            raise ValueError(f"SmallUNet: depth and base_channels must be >= 1, got {depth}, {base_channels}")
        widths = [base_channels * 2**i for i in range(depth)]
        self.down = nn.ModuleList()
        cin = in_channels
        for width in widths:
            self.down.append(_block(cin, width))
            cin = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, width, 2, stride=2))
            self.merge.append(_block(2 * width, width))
            cin = width
        self.head = nn.Conv2d(cin, out_channels, 1)
        nn.init.constant_(self.head.bias, out_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)
