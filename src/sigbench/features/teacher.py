"""A trained writer classifier, frozen: the teacher of distillation and the model that data is inverted from.

The teacher is loaded from what training leaves behind, without its training data: a sigbench checkpoint
(any task with a ``classification_head``, rebuilt from the config the checkpoint carries) or a public sigver
weight file (SigNet backbone + classification head).  It stays in eval mode whatever its owner does, so its
BatchNorm layers always use their running statistics: inversion matches those statistics and distillation
needs the teacher's deterministic predictions.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sigbench.checkpoint_io import CONFIG_KEY, FEATURES, load_file, load_task
from sigbench.data.transforms import to_model_input


class Teacher(nn.Module):
    """``backbone`` + linear ``head``: a uint8 or [0, 1] float batch -> writer logits; frozen, always eval."""

    def __init__(self, backbone: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_classes = int(head.out_features)
        self.feature_dim = int(head.in_features)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Teacher:
        """Ignore ``mode``: a teacher never trains (its BatchNorm keeps the running statistics)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(to_model_input(x)))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def _from_checkpoint(path: Path) -> Teacher:
    task, _ = load_task(path, needs=FEATURES, tool="a teacher")
    head = getattr(task, "classification_head", None)
    if not isinstance(head, nn.Linear):
        raise ValueError(f"teacher {path}: the checkpoint's task has no classification head to distil from")
    return Teacher(task.backbone, head)


def _from_sigver(path: Path, variant: str) -> Teacher:
    from sigbench.features.weights import load_into, read_sigver_weights, signet_from_sigver

    weights = read_sigver_weights(path)
    if weights.num_classes is None:
        raise ValueError(f"teacher {path}: the sigver weight file has no classification head")
    backbone = signet_from_sigver(path, variant)
    head = nn.Linear(int(backbone.feature_dim), weights.num_classes)
    load_into(head, weights.classification_head, "classification head", path)
    return Teacher(backbone, head)


def load_teacher(path: str | Path, variant: str = "signet") -> Teacher:
    """A frozen classifier from a sigbench checkpoint or a sigver weight file (``variant``: its SigNet).

    A config target (``task.teacher``), also used for the competing student of ``sigbench-invert``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"teacher file {path} does not exist")
    is_checkpoint = isinstance(held := load_file(path), dict) and CONFIG_KEY in held
    return _from_checkpoint(path) if is_checkpoint else _from_sigver(path, variant)
