"""Checkpoints that carry the resolved config that built them, so evaluation needs only the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

CONFIG_KEY = "sigbench_config"


class ConfigInCheckpoint(pl.Callback):
    """Stores the run's resolved config (a plain dict) in every checkpoint Lightning writes."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """The config stored by :class:`ConfigInCheckpoint`; a clear error for foreign checkpoints."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or CONFIG_KEY not in ckpt:
        raise ValueError(f"{path} is not a sigbench checkpoint (no '{CONFIG_KEY}' entry)")
    return ckpt[CONFIG_KEY]
