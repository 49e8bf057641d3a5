"""Start-up checks beyond signatures and types: values that only make sense together or against a file.

:mod:`sigbench.runner.validation` checks each ``_target_`` node on its own. These look across the config
and at the files it names, still before any data is generated or loaded: writer ranges (reversed, or
selecting no writer of the dataset), the dataset file (missing, not an npz, wrong keys or dtypes, pickled
arrays), a loss that does not fit the task, and output folders that cannot be written. Each failure is one
:class:`ConfigError` naming the key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from hydra.utils import get_class
from omegaconf import DictConfig, ListConfig, OmegaConf

from sigbench.atomic import unwritable_reason
from sigbench.data.formats import DatasetFormatError, check_dataset_file, dataset_users, user_range
from sigbench.runner.validation import ConfigError

USER_KEYS = ("train_users", "holdout_users")
PROTOCOL_USER_KEYS = ("exp_users", "dev_users")

# What each loss interface means, for error messages (tasks declare ``loss_interface``, losses ``interface``).
LOSS_INTERFACES = {
    "writer_logits": "writer logits and the forgery logit (loss=signet or loss=signet_f)",
    "embeddings": "embeddings of P x K batches (loss=triplet or loss=ntxent)",
    "distillation": "student and teacher logits (loss=distillation)",
    "prediction_target": "a predicted image or mask and its target (loss=seg_* or loss=cleaning_*)",
}
ANY = "any"


def _plain(value: Any) -> Any:
    return (
        OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
    )


def checked_users(value: Any, key: str) -> np.ndarray | None:
    """The writer ids a config value selects; a reversed or malformed range is a :class:`ConfigError`."""
    value = _plain(value)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{key}={value!r}: expected [first, last) or a list of writer ids")
    try:
        return user_range(value)
    except ValueError as err:
        raise ConfigError(f"{key}: {err}") from None


def _check_file(data: DictConfig, key: str) -> None:
    path = data.get(key)
    try:
        check_dataset_file(path, trust_pickle=bool(data.get("trust_pickle", False)))
    except FileNotFoundError:
        raise ConfigError(f"data.{key}: {path} does not exist") from None
    except DatasetFormatError as err:
        raise ConfigError(f"data.{key}: {err}") from None


def check_dataset(data: DictConfig) -> np.ndarray | None:
    """``data.dataset`` (and distillation's ``data.inverted``) when it is a file: exists, is a sigver dataset
    (headers only). Returns the writers of ``data.dataset`` when they can be known without generating or
    loading images (a dataset file, or the synthetic generator's ``num_writers``), else ``None``.
    """
    if isinstance(data.get("inverted"), str):
        _check_file(data, "inverted")
    source = data.get("dataset")
    if isinstance(source, str):
        _check_file(data, "dataset")
        return dataset_users(source)
    if isinstance(source, DictConfig) and str(source.get("_target_", "")).endswith("load_or_generate"):
        writers = source.get("num_writers")
        return np.arange(int(writers)) if isinstance(writers, int) else None
    return None


def check_users(cfg: DictConfig) -> None:
    """Writer ranges of ``data`` and of the ``evaluation`` protocols: well formed, and each selecting
    writers of the dataset when the dataset's writers are known at start-up."""
    data = cfg.get("data")
    writers = check_dataset(data) if isinstance(data, DictConfig) else None
    selections = []
    if isinstance(data, DictConfig):
        selections += [(f"data.{k}", data.get(k)) for k in USER_KEYS if k in data]
    for name, protocol in (cfg.get("evaluation") or {}).items():
        if isinstance(protocol, DictConfig) and protocol.get("data") is None:
            selections += [(f"evaluation.{name}.{k}", protocol.get(k)) for k in PROTOCOL_USER_KEYS]
    for key, value in selections:
        ids = checked_users(value, key)
        if ids is None or writers is None:
            continue
        if not np.isin(ids, writers).any():
            raise ConfigError(
                f"{key}={_plain(value)} selects no writer of data.dataset "
                f"(it holds {writers.size} writers, ids {int(writers.min())}..{int(writers.max())})"
            )


def _interface(loss_cls: type) -> str:
    declared = getattr(loss_cls, "interface", None)
    if declared is not None:
        return str(declared)
    from torch.nn.modules.loss import _Loss

    # torch's own losses are called as loss(input, target)
    return "prediction_target" if issubclass(loss_cls, _Loss) else ANY


def check_loss_fits_task(cfg: DictConfig) -> None:
    """The loss must compute what the task feeds it: each task declares ``loss_interface`` (``None``: the
    task computes its own loss) and each sigbench loss its ``interface``."""
    task_cfg, loss_cfg = cfg.get("task"), cfg.get("loss")
    if not isinstance(task_cfg, DictConfig) or "_target_" not in task_cfg:
        return
    task_cls = get_class(task_cfg._target_)
    if not hasattr(task_cls, "loss_interface"):
        return
    needed = task_cls.loss_interface
    if needed is None:
        if loss_cfg is not None:
            raise ConfigError(f"loss: task={task_cls.__name__} computes its own losses; set loss=null")
        return
    if not isinstance(loss_cfg, DictConfig) or "_target_" not in loss_cfg:
        return
    loss_cls = get_class(loss_cfg._target_)
    given = _interface(loss_cls)
    if given not in (ANY, needed):
        takes, needs = LOSS_INTERFACES.get(given, given), LOSS_INTERFACES.get(needed, needed)
        raise ConfigError(
            f"loss={loss_cls.__name__} does not fit task={task_cls.__name__}: the loss takes {takes}, "
            f"the task gives its loss {needs}"
        )


def check_output(path: Any, key: str, kind: str = "folder") -> None:
    """An output ``kind`` (``folder`` or ``file``) at ``path`` can be created and written, else a
    :class:`ConfigError` naming ``key``; probes the filesystem (:func:`sigbench.atomic.unwritable_reason`)."""
    if path is None or str(path) in ("", "???"):
        return
    reason = unwritable_reason(path, kind)
    if reason is not None:
        raise ConfigError(f"{key}={path}: {reason}")


def check_run_outputs(cfg: DictConfig) -> None:
    """The run folder (``paths.output_dir``), when it is known (outside a Hydra run it may not be)."""
    try:
        output_dir = OmegaConf.select(cfg, "paths.output_dir", throw_on_resolution_failure=True)
    except Exception:  # ${hydra:...} without a Hydra run: nothing to check yet
        return
    check_output(output_dir, "paths.output_dir")


class RunFolderCheck(Callback):
    """A Hydra callback: refuse a run (or sweep) folder that cannot be created before Hydra creates it.

    Hydra makes ``hydra.run.dir`` itself, before any sigbench code runs, and fails with a traceback when
    its parent is a file or the place is read-only; this names the key instead.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir", kwargs.get("config_name"))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir", kwargs.get("config_name"))

    @staticmethod
    def _check(config: DictConfig, key: str, config_name: str | None) -> None:
        try:
            folder = OmegaConf.select(config, key, throw_on_resolution_failure=True)
        except Exception:  # a resolver Hydra sets up later: Hydra reports its own problem
            return
        reason = unwritable_reason(folder, "folder") if folder else None
        if reason is not None:
            raise SystemExit(f"sigbench-{config_name or 'run'}: {key}={folder}: {reason}")
