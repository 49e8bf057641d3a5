"""Training from a composed config: check, seed, build, fit, report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger

from sigbench.checkpoint_io import AtomicCheckpointIO, CheckpointError, checkpoint_kind, read_checkpoint
from sigbench.runner.build import build_callbacks, build_data, build_loggers, build_task, check
from sigbench.runner.checkpoints import ConfigInCheckpoint, read_checkpoint_config
from sigbench.runner.summary import print_summary
from sigbench.runner.validation import ConfigError

log = logging.getLogger(__name__)
# Epoch-level metrics of any task are reported; Lightning's "_step" / "_epoch" copies of a metric are not.
REPORTED_PREFIXES = ("train/", "val/", "test/")


def _is_scalar(value: Any) -> bool:
    return getattr(value, "numel", lambda: 1)() == 1


def reported(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar end-of-training metrics worth printing and logging as hparams, sorted by name."""
    return {
        k: float(v)
        for k, v in sorted(metrics.items())
        if k.startswith(REPORTED_PREFIXES) and not k.endswith(("_step", "_epoch")) and _is_scalar(v)
    }


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """``ckpt_path`` wins; ``resume=true`` continues the run in ``paths.output_dir`` from its last.ckpt.

    The file is read once here (safely) so an empty, truncated or other-task checkpoint is named before
    any data is loaded.
    """
    if cfg.get("ckpt_path"):
        key, path = "ckpt_path", Path(cfg.ckpt_path)
        if not path.exists():
            raise ConfigError(f"ckpt_path: {path} does not exist")
    elif cfg.get("resume"):
        key, path = "resume=true", Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if not path.exists():
            raise ConfigError(
                f"resume=true: no {path}; point hydra.run.dir at the folder of the run to continue"
            )
    else:
        return None
    kind = checkpoint_kind({"task": {"_target_": cfg.task.get("_target_")}})
    try:
        read_checkpoint(path, needs=kind, tool=f"resuming this {kind} run")
    except CheckpointError as err:
        raise ConfigError(f"{key}: {err}") from None
    return str(path)


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
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    if cfg.get("train", True):
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
    metrics = reported(dict(trainer.callback_metrics))
    tensorboard = next((lg for lg in loggers if isinstance(lg, TensorBoardLogger)), None)
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") if trainer.checkpoint_callback else ""
    if cfg.get("evaluation") and trainer.is_global_zero:
        # the last checkpoint, not the best: "best" is chosen on the held-out writers' EER, and the
        # protocols test those same writers, so evaluating it would select the model on the test set
        metrics.update(_evaluate(cfg, _last_checkpoint(cfg), tensorboard))
    _log_hparams(loggers, cfg, metrics)
    notes = {"run folder": str(cfg.paths.output_dir)}
    if tensorboard is not None:
        notes["tensorboard"] = f"tensorboard --logdir {tensorboard.log_dir}"
    if best:
        notes["best checkpoint"] = best
    if trainer.is_global_zero:
        print_summary(f"sigbench: {cfg.get('name', 'train')}", metrics, notes)
    return metrics


def _last_checkpoint(cfg: DictConfig) -> str:
    path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if not path.exists():
        raise ConfigError("evaluation needs a checkpoint: keep callbacks.model_checkpoint enabled")
    return str(path)


def _evaluate(cfg: DictConfig, ckpt: str, tensorboard: TensorBoardLogger | None) -> dict[str, float]:
    """The configured verification protocols on held-out writers, from the last checkpoint."""
    from sigbench.runner.evaluate import evaluate_checkpoint, table_metrics

    protocols = OmegaConf.to_container(cfg.evaluation, resolve=True)
    summaries = evaluate_checkpoint(
        ckpt,
        protocols,
        out_dir=Path(cfg.paths.output_dir) / "verification",
        cache_dir=cfg.paths.cache_dir,
        tensorboard_dir=tensorboard.log_dir if tensorboard is not None else None,
    )
    return {f"{name}/{k}": v for name, s in summaries.items() for k, v in table_metrics(s).items()}


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
