"""TensorBoard content beyond Lightning's scalars: what a signature-verification researcher looks at.

* ``run/config``, ``run/overrides``, ``run/git`` (text, step 0): the resolved config, the command-line
  overrides and the source revision, so a TensorBoard run can be reproduced without its folder;
* ``holdout/samples`` (image, step 0): for a few held-out writers, reference genuines, another genuine and
  a skilled forgery side by side, labelled, as the per-epoch verification sees them;
* a projector view of the held-out embeddings (sprites, writer and kind labels) at the end of training,
  when asked (``projector: true``);
* clean HParams: the experiment name and the flat hyper-parameters without Hydra's ``_target_`` /
  ``_partial_`` keys or absolute paths (which differ per machine and say nothing about the recipe).

Score histograms and ROC / DET curves per epoch come from the tasks and the external validation sets
(:meth:`sigbench.features.tasks.base.FeatureTask.log_score_figures`).
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger

log = logging.getLogger(__name__)
#: Config groups left out of HParams: where things are written and how they are shown, not the recipe.
HPARAMS_SKIPPED = ("paths.", "hydra.", "callbacks.", "logger.")


def tensorboard_logger(trainer: pl.Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


def git_revision(folder: str | Path) -> str:
    """``<commit>`` of the checkout holding ``folder``, ``+ uncommitted changes`` when dirty."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return "not a git checkout"
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"
    dirty = " + uncommitted changes" if status.stdout.strip() else ""
    return commit.stdout.strip() + dirty


def write_run_text(writer: Any, cfg: DictConfig, overrides: list[str]) -> None:
    """The resolved config, the overrides and the git revision as TensorBoard text at step 0."""
    config = OmegaConf.to_yaml(cfg, resolve=True)
    writer.add_text("run/config", "```yaml\n" + config + "```", global_step=0)
    writer.add_text("run/overrides", "    " + (" ".join(overrides) or "(none)"), global_step=0)
    writer.add_text("run/git", git_revision(Path(__file__).parent), global_step=0)


def _is_absolute_path(value: Any) -> bool:
    """POSIX, home-relative or Windows drive paths."""
    if not isinstance(value, str):
        return False
    return value.startswith(("/", "~")) or (len(value) > 2 and value[1:3] in (":\\", ":/"))


def clean_hparams(cfg: DictConfig) -> dict[str, Any]:
    """Flat hyper-parameters for the HParams tab: ``experiment`` first, no Hydra keys, no absolute paths,
    no output / display groups."""
    flat = _flatten(OmegaConf.to_container(cfg, resolve=True))
    out: dict[str, Any] = {"experiment": str(cfg.get("name", "train"))}
    for key, value in sorted(flat.items()):
        parts = key.split(".")
        if (
            key.startswith(HPARAMS_SKIPPED)
            or any(p.startswith("_") for p in parts)
            or key in ("name", "experiment")
        ):
            continue
        if _is_absolute_path(value):
            continue
        out[key] = value
    return out


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(tree, list):
        return {prefix[:-1]: str(tree)}
    return {prefix[:-1]: tree}


def holdout_grid(
    x: np.ndarray, y: np.ndarray, yforg: np.ndarray, writers: int = 4, references: int = 3
) -> Figure:
    """A labelled grid: one row per held-out writer (the first ``writers`` with a skilled forgery),
    ``references`` genuines, one more genuine, one skilled forgery. Stored images hold bright ink on black
    (the sigver layout); they are drawn dark on white, as signatures are read."""
    rows = []
    for writer in np.unique(y):
        genuine = np.flatnonzero((y == writer) & (yforg == 0))
        forged = np.flatnonzero((y == writer) & (yforg == 1))
        if genuine.size > references and forged.size:
            rows.append((writer, [*genuine[: references + 1], forged[0]]))
        if len(rows) == writers:
            break
    if not rows:
        raise ValueError("no held-out writer has enough genuine signatures and a skilled forgery to show")
    labels = [*(f"reference {i + 1}" for i in range(references)), "genuine", "skilled forgery"]
    cols = references + 2
    fig = Figure(figsize=(2.2 * cols, 1.6 * len(rows)), dpi=80)
    FigureCanvasAgg(fig)
    for r, (writer, index) in enumerate(rows):
        for c, i in enumerate(index):
            ax = fig.add_subplot(len(rows), cols, r * cols + c + 1)
            ax.imshow(np.asarray(x[i])[0], cmap="gray_r", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"writer {writer}: {labels[c]}" if c == 0 else labels[c], fontsize=8)
    fig.tight_layout()
    return fig


class TensorBoardExtras(pl.Callback):
    """Adds the held-out sample grid at the start of fitting and, optionally, a projector view of the
    held-out embeddings at its end, to the run's TensorBoard logger (rank 0; nothing without one).

    Args:
        holdout_grid: held-out writers shown in ``holdout/samples`` (0: no grid).
        projector: write a projector view of the held-out embeddings when training ends.
        projector_max: points in the projector (evenly spaced when there are more).
        sprite_size: projector thumbnail size (height, width).
    """

    def __init__(
        self,
        holdout_grid: int = 4,
        projector: bool = False,
        projector_max: int = 1000,
        sprite_size: tuple[int, int] = (40, 57),
    ) -> None:
        self.holdout_grid = holdout_grid
        self.projector = projector
        self.projector_max = projector_max
        self.sprite_size = tuple(sprite_size)

    @staticmethod
    def _holdout(trainer: pl.Trainer) -> tuple[Any, np.ndarray] | None:
        dm = trainer.datamodule
        index = getattr(dm, "holdout_index", None)
        if dm is None or index is None or not len(index) or not hasattr(dm, "load"):
            return None
        return dm.load(), np.asarray(index)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tb = tensorboard_logger(trainer)
        holdout = self._holdout(trainer)
        if tb is None or holdout is None or not self.holdout_grid or not trainer.is_global_zero:
            return
        ds, index = holdout
        try:
            fig = holdout_grid(ds.x[index], ds.y[index], ds.yforg[index], writers=self.holdout_grid)
        except ValueError as err:
            log.info("no held-out sample grid: %s", err)
            return
        tb.experiment.add_figure("holdout/samples", fig, global_step=0)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tb = tensorboard_logger(trainer)
        holdout = self._holdout(trainer)
        if not self.projector or tb is None or holdout is None or not trainer.is_global_zero:
            return
        from sigbench.features.extract import embed_images
        from sigbench.runner.embed import write_projector

        ds, index = holdout
        size = tuple(trainer.datamodule.input_size)
        was_training = pl_module.training
        pl_module.eval()
        feats = embed_images(pl_module.features, ds.x, size, 128, pl_module.device, index).numpy()
        pl_module.train(was_training)
        write_projector(
            Path(tb.log_dir), feats, ds, index, size, self.projector_max, self.sprite_size, tag="holdout"
        )
