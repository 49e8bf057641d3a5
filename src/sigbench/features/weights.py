"""The public sigver weight format: ``torch.save((backbone, classification_head, forgery_head))``.

Each element is a ``state_dict``; the heads are plain ``nn.Linear`` dicts (``weight``, ``bias``) and an
absent head is an empty dict.  Loading is strict about the backbone so a wrong variant fails loudly with the
missing and unexpected keys listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sigbench.atomic import atomic_path
from sigbench.checkpoint_io import describe, load_file


@dataclass
class SigverWeights:
    backbone: dict[str, torch.Tensor]
    classification_head: dict[str, torch.Tensor]
    forgery_head: dict[str, torch.Tensor]

    @property
    def num_classes(self) -> int | None:
        w = self.classification_head.get("weight")
        return None if w is None else int(w.shape[0])


def read_sigver_weights(path: str | Path) -> SigverWeights:
    """Read a sigver weight file; the error names the file when it is not that format."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weight file {path} does not exist")
    obj = load_file(path)
    if isinstance(obj, (tuple, list)) and 1 <= len(obj) <= 3 and all(isinstance(o, dict) for o in obj):
        parts = [*list(obj), {}, {}][:3]
        return SigverWeights(*({k: v for k, v in p.items()} for p in parts))
    raise ValueError(
        f"{path}: not a sigver weight file (expected a tuple of up to 3 state dicts: backbone, "
        f"classification head, forgery head; it holds {describe(obj)})"
    )


def write_sigver_weights(
    path: str | Path,
    backbone: nn.Module,
    classification_head: nn.Module | None = None,
    forgery_head: nn.Module | None = None,
) -> Path:
    """Save in the sigver layout (atomically), so sigbench models run in sigver-based code and back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = tuple(
        {} if m is None else {k: v.detach().cpu() for k, v in m.state_dict().items()}
        for m in (backbone, classification_head, forgery_head)
    )
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_into(module: nn.Module, state: dict[str, torch.Tensor], what: str, source: str | Path) -> None:
    """``load_state_dict(strict=True)`` with an error that says which part of which file did not fit."""
    if not state:
        return
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches: a different variant or width
        raise ValueError(f"{source}: the {what} does not match the configured model ({err})") from err
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{source}: the {what} does not match the configured model "
            f"(missing keys {result.missing_keys[:6]}, unexpected keys {result.unexpected_keys[:6]})"
        )


def signet_from_sigver(path: str | Path, variant: str = "signet") -> nn.Module:
    """A SigNet backbone initialised from a published sigver weight file (a ``model`` config target)."""
    from sigbench.features.models.signet import SigNet

    model = SigNet(variant)
    load_into(model, read_sigver_weights(path).backbone, "backbone", path)
    return model


def export_task_weights(task: nn.Module, path: str | Path) -> Path:
    """Write a trained classification task (``backbone``, ``classification_head``, ``forgery_head``) as a
    sigver weight file, for use in sigver-based code."""
    return write_sigver_weights(
        path,
        task.backbone,
        getattr(task, "classification_head", None),
        getattr(task, "forgery_head", None),
    )
