"""Training from a composed config: check, seed, build, fit, report."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger

from sigbench.checkpoint_io import AtomicCheckpointIO, CheckpointError, checkpoint_kind, read_checkpoint
from sigbench.runner.build import build_callbacks, build_data, build_loggers, build_task, check
from sigbench.runner.checkpoints import ConfigInCheckpoint, read_checkpoint_config
from sigbench.runner.evaluate import table_metrics
from sigbench.runner.external import ExternalValidation, build_external_validation, check_monitor
from sigbench.runner.quiet import quiet_console
from sigbench.runner.report import (
    CheckpointChoice,
    MetricHistory,
    RunReport,
    choose_checkpoint,
    write_metrics_json,
    write_to_log_files,
)
from sigbench.runner.summary import render
from sigbench.runner.tensorboard import clean_hparams, write_run_text
from sigbench.runner.validation import ConfigError

log = logging.getLogger(__name__)
# Epoch-level metrics of any task are reported; Lightning's "_step" / "_epoch" copies of a metric are not.
REPORTED_PREFIXES = ("train/", "val/", "val_ext/", "test/")
METRICS_FILE = "metrics.json"


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
    timings: dict[str, float] = {}
    quiet_console()
    check(cfg)
    check_monitor(cfg)
    ckpt = resume_checkpoint(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    start = time.perf_counter()
    external = build_external_validation(cfg)
    datamodule = build_data(cfg)
    timings["data"] = time.perf_counter() - start
    task = build_task(cfg, num_classes=datamodule.num_classes)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["_runtime"] = {"num_classes": datamodule.num_classes}
    if ckpt:
        _warn_config_drift(ckpt, resolved)
    history = MetricHistory()
    callbacks = [*build_callbacks(cfg), ConfigInCheckpoint(resolved), history]
    if external is not None:
        callbacks.append(external)
    loggers = build_loggers(cfg)
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    tensorboard = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
    if tensorboard is not None and trainer.is_global_zero:
        write_run_text(tensorboard.experiment, cfg, _overrides())
    if cfg.get("train", True):
        start = time.perf_counter()
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
        timings["train"] = time.perf_counter() - start
    metrics = reported(dict(trainer.callback_metrics))
    out_dir = Path(cfg.paths.output_dir)
    remarks: list[str] = []
    choice = None
    protocols: dict[str, dict] = {}
    if cfg.get("evaluation") and trainer.is_global_zero:
        if trainer.fast_dev_run:
            remarks.append("evaluation skipped: fast_dev_run writes no checkpoint")
        else:
            choice = _choose_checkpoint(cfg, trainer, history)
            protocols = _evaluate(cfg, choice.path, tensorboard, timings, trainer.global_step)
            metrics.update(
                {f"{name}/{k}": v for name, s in protocols.items() for k, v in table_metrics(s).items()}
            )
    _log_hparams(loggers, cfg, metrics)
    if trainer.is_global_zero:
        report = RunReport(
            name=str(cfg.get("name", "train")),
            checkpoint=choice,
            history=history.history,
            final=metrics,
            protocols=protocols,
            protocol_data={name: _protocol_data(cfg, name) for name in protocols},
            external=_external_info(external, cfg),
            monitor=cfg.get("optimized_metric"),
            timings=timings,
            links=_links(cfg, out_dir, choice, tensorboard, bool(protocols)),
            remarks=remarks,
        )
        text = render(report.summary())
        print(text, end="", flush=True)
        write_to_log_files(text)
        write_metrics_json(out_dir / METRICS_FILE, report)
    return metrics


def _choose_checkpoint(cfg: DictConfig, trainer: pl.Trainer, history: MetricHistory) -> CheckpointChoice:
    callback = trainer.checkpoint_callback
    monitor = getattr(callback, "monitor", None)
    best = getattr(callback, "best_model_path", "") or ""
    own_data = any(p.get("data") is None for p in cfg.evaluation.values() if p is not None)
    choice = choose_checkpoint(cfg.paths.output_dir, monitor, best, history.history, own_data)
    if not Path(choice.path).exists():
        raise ConfigError("evaluation needs a checkpoint: keep callbacks.last_checkpoint enabled")
    return choice


def _protocol_data(cfg: DictConfig, name: str) -> str:
    protocol = cfg.evaluation[name]
    if protocol.get("data") is not None:
        return "its own data"
    users = cfg.data.get("holdout_users")
    return f"held-out writers {list(users)}" if users is not None else "held-out writers"


def _external_info(external: ExternalValidation | None, cfg: DictConfig) -> dict[str, dict[str, Any]]:
    if external is None:
        return {}
    monitor = str(cfg.get("optimized_metric") or "")
    out = {}
    for name, vset in external.sets.items():
        ds = vset.load()
        protocol = vset.protocol
        out[name] = {
            "description": f"{name}: {vset.exp_users().size} real writers, {protocol['name']} protocol",
            "origin": ds.origin,
            "signatures": len(ds),
            "protocol": dict(protocol),
            "selects_checkpoint": monitor.startswith(f"val_ext/{name}/"),
        }
    return out


def _links(
    cfg: DictConfig,
    out_dir: Path,
    choice: CheckpointChoice | None,
    tensorboard: TensorBoardLogger | None,
    evaluated: bool,
) -> dict[str, str]:
    links = {"run folder": str(out_dir)}
    if choice is not None:
        links["checkpoint"] = choice.path
    if evaluated:
        links["protocol results"] = str(out_dir / "verification")
    links["metrics"] = str(out_dir / METRICS_FILE)
    log_file = out_dir / "train.log"
    if log_file.exists():
        links["log"] = str(log_file)
    if tensorboard is not None:
        links["tensorboard"] = f"tensorboard --logdir {tensorboard.log_dir}"
    return links


def _evaluate(
    cfg: DictConfig,
    ckpt: str,
    tensorboard: TensorBoardLogger | None,
    timings: dict[str, float],
    step: int,
) -> dict[str, dict]:
    """The configured verification protocols on held-out writers, from the chosen checkpoint."""
    from sigbench.runner.evaluate import evaluate_checkpoint

    protocols = OmegaConf.to_container(cfg.evaluation, resolve=True)
    return evaluate_checkpoint(
        ckpt,
        protocols,
        out_dir=Path(cfg.paths.output_dir) / "verification",
        cache_dir=cfg.paths.cache_dir,
        tensorboard_dir=tensorboard.log_dir if tensorboard is not None else None,
        verbose=False,
        timings=timings,
        step=step,
    )


def _log_hparams(loggers: list, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """Clean flat hyper-parameters with the final metrics, for TensorBoard's HParams tab."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(
                clean_hparams(cfg), metrics={f"hparams/{k}": v for k, v in metrics.items()}
            )


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
