"""Checkpoints that carry the resolved config that built them, so evaluation needs only the file.

Reading them (safely, with errors that say what a file holds) is :mod:`sigbench.checkpoint_io`'s job.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from sigbench.checkpoint_io import CONFIG_KEY, read_checkpoint_config

__all__ = ["CONFIG_KEY", "ConfigInCheckpoint", "read_checkpoint_config"]


class ConfigInCheckpoint(pl.Callback):
    """Stores the run's resolved config (a plain dict) in every checkpoint Lightning writes."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config
