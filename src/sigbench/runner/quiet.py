"""A console that shows what a run does, not what its libraries would like to advertise or deprecate.

Two kinds of noise are dropped, each narrowly (by message, not by category or logger level, so that
every other warning and info line still shows):

* PyTorch's deprecation of ``isinstance(treespec, LeafSpec)``, raised inside Lightning's own code on every
  run: nothing a user of sigbench can act on;
* Lightning's "💡 Tip" lines advertising optional services.

The model summary's FLOPs column is made meaningful rather than hidden: feature tasks give Lightning an
example input (:meth:`sigbench.features.tasks.base.FeatureTask.setup`), so it counts real FLOPs.
"""

from __future__ import annotations

import logging
import warnings

LEAFSPEC_MESSAGE = r".*isinstance\(treespec, LeafSpec\).*"
LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")


class DropTips(logging.Filter):
    """Drops Lightning's advertising tips."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip")


def quiet_console() -> None:
    """Install the filters (idempotent: a second call adds nothing)."""
    warnings.filterwarnings("ignore", message=LEAFSPEC_MESSAGE)
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropTips) for f in logger.filters):
            logger.addFilter(DropTips())
