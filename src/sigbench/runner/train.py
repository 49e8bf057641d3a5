"""Training from a composed config: check, seed, build, fit, report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger

from sigbench.runner.build import build_callbacks, build_data, build_loggers, build_task, check
from sigbench.runner.checkpoints import ConfigInCheckpoint, read_checkpoint_config
from sigbench.runner.summary import print_summary
from sigbench.runner.validation import ConfigError

log = logging.getLogger(__name__)
REPORTED = ("train/acc", "val/acc", "val/eer", "val/eer_user", "val/auc", "train/loss")


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """``ckpt_path`` wins; ``resume=true`` continues the run in ``paths.output_dir`` from its last.ckpt."""
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if not path.exists():
            raise ConfigError(f"ckpt_path: {path} does not exist")
        return str(path)
    if cfg.get("resume"):
        path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if not path.exists():
            raise ConfigError(
                f"resume=true: no {path}; point hydra.run.dir at the folder of the run to continue"
            )
        return str(path)
    return None


def _warn_config_drift(ckpt: str, current: dict[str, Any]) -> None:
    previous = read_checkpoint_config(ckpt)
    for group in ("model", "task", "loss", "data"):
        if previous.get(group) != current.get(group):
            log.warning("resuming with a different '%s' config than the checkpoint was trained with", group)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job; returns its final metrics (also the Optuna/sweep objective source)."""
    check(cfg)
    ckpt = resume_checkpoint(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = build_data(cfg)
    task = build_task(cfg, num_classes=datamodule.num_classes)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["_runtime"] = {"num_classes": datamodule.num_classes}
    if ckpt:
        _warn_config_drift(ckpt, resolved)
    callbacks = [*build_callbacks(cfg), ConfigInCheckpoint(resolved)]
    loggers = build_loggers(cfg)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if cfg.get("train", True):
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k in REPORTED}
    _log_hparams(loggers, cfg, metrics)
    notes = {"run folder": str(cfg.paths.output_dir)}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            notes["tensorboard"] = f"tensorboard --logdir {logger.log_dir}"
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") if trainer.checkpoint_callback else ""
    if best:
        notes["best checkpoint"] = best
    print_summary(f"sigbench: {cfg.get('name', 'train')}", metrics, notes)
    return metrics


def _log_hparams(loggers: list, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """Flat hyper-parameters with the final metrics, for TensorBoard's HParams tab."""
    flat = _flatten(OmegaConf.to_container(cfg, resolve=True))
    flat = {k: v for k, v in flat.items() if not k.startswith(("paths.", "hydra.", "callbacks.", "logger."))}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat, metrics={f"hparams/{k}": v for k, v in metrics.items()})


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(tree, list):
        return {prefix[:-1]: str(tree)}
    return {prefix[:-1]: tree}
