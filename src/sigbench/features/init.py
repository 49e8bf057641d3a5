"""Initialise a backbone from earlier training: a sigbench checkpoint or a public sigver weight file.

This is how a second training stage starts from the first (SigNet cross-entropy, then contrastive
fine-tuning; Viana et al.), and how the published SigNet weights seed a fine-tuning run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sigbench.checkpoint_io import load_file
from sigbench.features.weights import load_into, read_sigver_weights

PREFIX = "backbone."


def backbone_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The backbone weights of a sigbench checkpoint (``state_dict`` keys ``backbone.*``) or sigver file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"task.init_from: {path} does not exist")
    obj = load_file(path)
    if isinstance(obj, dict) and "state_dict" in obj:
        state = {k[len(PREFIX) :]: v for k, v in obj["state_dict"].items() if k.startswith(PREFIX)}
        if not state:
            raise ValueError(f"task.init_from: {path} is a checkpoint without 'backbone.*' weights")
        return state
    return read_sigver_weights(path).backbone


def load_backbone(backbone: nn.Module, path: str | Path) -> nn.Module:
    """Load ``path``'s backbone weights into ``backbone`` (strict) and return the module that took them.

    When the stored backbone is the *inner* network of a wrapper (a SigNet inside an embedding head or a
    letterbox), the weights go into the wrapped module: ``.backbone`` or ``.model``, searched depth-first.
    """
    state = backbone_state(path)
    candidates: list[nn.Module] = [backbone]
    errors = []
    while candidates:
        module = candidates.pop(0)
        try:
            load_into(module, state, "backbone", path)
            return module
        except ValueError as err:
            errors.append(str(err))
        inner = (getattr(module, name, None) for name in ("backbone", "model"))
        candidates += [m for m in inner if isinstance(m, nn.Module)]
    raise ValueError(errors[0])
