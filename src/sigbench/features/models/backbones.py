"""Any timm model as a signature feature extractor, with an optional embedding head.

timm is the front door for every architecture that is not SigNet: ``pretrained=False`` always (nothing is
downloaded) and one input channel, since signatures are grayscale.
"""

from __future__ import annotations

import timm
import torch
from torch import nn
from torch.nn import functional as F


class TimmBackbone(nn.Module):
    """``timm.create_model(name, num_classes=0, in_chans=1)`` exposing ``feature_dim``."""

    def __init__(self, name: str, in_chans: int = 1, drop_rate: float = 0.0, **timm_kwargs: object) -> None:
        super().__init__()
        if not timm.is_model(name):
            raise ValueError(f"model.name={name!r} is not a timm model (see timm.list_models())")
        self.name = name
        self.body = timm.create_model(
            name, pretrained=False, num_classes=0, in_chans=in_chans, drop_rate=drop_rate, **timm_kwargs
        )
        self.feature_dim = int(self.body.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class EmbeddingModel(nn.Module):
    """A backbone followed by a linear embedding (and BatchNorm-free L2 normalisation when asked).

    The metric-learning recipes (triplet, NT-Xent, the ResNet siamese) compare embeddings of a fixed size,
    often on the unit sphere; SigNet classification uses the backbone alone.
    """

    def __init__(
        self, backbone: nn.Module, embedding_dim: int | None = None, normalize: bool = False
    ) -> None:
        super().__init__()
        self.backbone = backbone
        in_dim = int(backbone.feature_dim)
        self.head = nn.Linear(in_dim, embedding_dim) if embedding_dim else nn.Identity()
        self.feature_dim = int(embedding_dim or in_dim)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.backbone(x))
        return F.normalize(z, dim=1) if self.normalize else z
