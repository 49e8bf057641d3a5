"""Writer classification that starts from the backbone of an earlier run: the second stage of a
pre-train / fine-tune recipe (e.g. SigNet on many synthetic writers, then SigNet-F on BHSig260).

Only the backbone is carried over: the writer and forgery heads are new, since the second stage has other
writers. The weights are loaded when fitting starts (``setup("fit")``), not when the task is built, so a
fine-tuned checkpoint is re-loaded for evaluation from its own weights even after the stage-1 file is gone,
and a resumed run keeps its own progress (Lightning restores the checkpoint after ``setup``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from sigbench.features.init import load_backbone
from sigbench.features.tasks.base import OptimizerFactory, SchedulerFactory
from sigbench.features.tasks.classification import ClassificationTask

log = logging.getLogger(__name__)


class FineTuneClassificationTask(ClassificationTask):
    """:class:`ClassificationTask` whose backbone is initialised from ``init_from``.

    Args:
        init_from: a sigbench checkpoint (its ``backbone.*`` weights) or a sigver weight file; ``None``
            trains from scratch, exactly like :class:`ClassificationTask`.
        others: as :class:`ClassificationTask`.
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        loss: object | None = None,
        scheduler: SchedulerFactory | None = None,
        holdout_references: int = 5,
        channels_last: bool = False,
        log_images: bool = True,
        init_from: str | None = None,
    ) -> None:
        super().__init__(
            backbone, num_classes, optimizer, loss, scheduler, holdout_references, channels_last, log_images
        )
        self.init_from = init_from
        self._initialised = False

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.init_from and not self._initialised:
            if not Path(self.init_from).exists():
                raise FileNotFoundError(
                    f"task.init_from: {self.init_from} does not exist; run the first stage first "
                    "(e.g. experiment=synthetic_pretrain) or point task.init_from at its checkpoint"
                )
            loaded = load_backbone(self.backbone, self.init_from)
            log.info("backbone (%s) initialised from %s", type(loaded).__name__, self.init_from)
        self._initialised = True
