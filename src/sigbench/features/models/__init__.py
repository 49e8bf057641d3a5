"""Feature extractors: SigNet variants and timm backbones, each exposing ``feature_dim``."""

from sigbench.features.models.backbones import EmbeddingModel, TimmBackbone
from sigbench.features.models.signet import SigNet

__all__ = ["EmbeddingModel", "SigNet", "TimmBackbone"]
