"""Fit a stored signature into a square input, keeping its aspect ratio (the rmalav15 ResNet-50 recipe).

The recipe scales the long side to 224 and pads to 224 x 224 with white paper.  Stored sigbench images are
preprocessed, so the background is 0 (ink bright on black): padding with 0 *is* padding with paper.  The
resize runs on the model's input, on the accelerator, so it works with every data path; train on whole
images (``data.input_size=[170, 242]``) to give it the full signature.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Letterbox(nn.Module):
    """Resize a batch so it fits ``size`` (anti-aliased bilinear), centre it, pad with 0, run ``model``."""

    def __init__(self, model: nn.Module, size: tuple[int, int] | list[int] = (224, 224)) -> None:
        super().__init__()
        self.model = model
        self.size = (int(size[0]), int(size[1]))
        self.feature_dim = int(model.feature_dim)

    def fit(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        scale = min(self.size[0] / h, self.size[1] / w)
        new_h, new_w = min(self.size[0], round(h * scale)), min(self.size[1], round(w * scale))
        x = F.interpolate(x.float(), (new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        top, left = (self.size[0] - new_h) // 2, (self.size[1] - new_w) // 2
        return F.pad(x, (left, self.size[1] - new_w - left, top, self.size[0] - new_h - top), value=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.fit(x))
