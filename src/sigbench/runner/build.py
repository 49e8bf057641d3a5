"""Turn a composed config into objects; the same code serves training, evaluation and checkpoint reloads."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sigbench.checkpoint_io import build_task as task_from_config
from sigbench.checkpoint_io import load_task
from sigbench.runner.preflight import check_loss_fits_task, check_run_outputs, check_users
from sigbench.runner.validation import ConfigError, validate_config

__all__ = ["build_callbacks", "build_data", "build_loggers", "build_task", "check", "load_task"]

# Arguments the runner passes in code rather than from the config, per config path.
SUPPLIED = {
    "task": {"backbone", "num_classes", "optimizer", "scheduler", "loss"},
    "trainer": {"callbacks", "logger"},
}


def check(cfg: DictConfig) -> None:
    """Every start-up check before data is loaded: target signatures, types and value limits, writer
    ranges against the dataset's headers, loss against task, writable run folder."""
    validate_config(cfg, SUPPLIED)
    if cfg.get("evaluation"):
        from sigbench.runner.evaluate import check_protocol

        for name, protocol in OmegaConf.to_container(cfg.evaluation, resolve=True).items():
            if not isinstance(protocol, dict) or "name" not in protocol:
                raise ConfigError(f"evaluation.{name}: expected a protocol config (see conf/protocol/)")
            check_protocol(protocol)
    check_users(cfg)
    check_loss_fits_task(cfg)
    check_run_outputs(cfg)
    loss_cfg = cfg.get("loss")
    if loss_cfg is not None and "_target_" in loss_cfg:
        loss_cls = instantiate({"_target_": "hydra.utils.get_class", "path": loss_cfg._target_})
        if getattr(loss_cls, "requires_forgeries", False) and not cfg.data.get("include_forgeries", False):
            raise ConfigError(
                f"loss={loss_cls.__name__} learns from skilled forgeries: set data.include_forgeries=true"
            )


def build_data(cfg: DictConfig) -> pl.LightningDataModule:
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def build_task(cfg: DictConfig, num_classes: int) -> pl.LightningModule:
    return task_from_config(cfg, num_classes)


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [instantiate(node) for node in (cfg.get("callbacks") or {}).values() if node is not None]


def build_loggers(cfg: DictConfig) -> list[Any]:
    return [instantiate(node) for node in (cfg.get("logger") or {}).values() if node is not None]
