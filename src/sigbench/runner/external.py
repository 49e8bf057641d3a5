"""External verification sets scored every validation epoch: real signatures beside the synthetic figure.

Why: a feature extractor trained on synthetic writers is meant for real ones, and the held-out synthetic EER
is a poor guide to that (it can get worse while transfer to real signatures improves). A run may therefore
carry any number of *external* sets (``validation_sets`` in the train config), each a dataset of writers the
run never trains on plus a verification protocol of :mod:`sigbench.verification` (``conf/protocol/*.yaml``).
At the end of every validation epoch the current backbone embeds each set once (centre crop at the
model's input size) and the protocol's fold means are logged as ``val_ext/<name>/eer`` (global threshold,
genuine vs skilled forgeries), ``val_ext/<name>/eer_user`` and ``val_ext/<name>/auc``. Those keys can drive
checkpoint selection, early stopping and sweeps (``optimized_metric``), so that none of them looks at the
writers the final protocols test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from sigbench.data.formats import SignatureDataset, user_range
from sigbench.features.extract import embed_images
from sigbench.runner.evaluate import check_protocol
from sigbench.runner.validation import ConfigError
from sigbench.verification.protocol import run_protocol

log = logging.getLogger(__name__)
PREFIX = "val_ext"
#: logged key suffix -> metric of :func:`sigbench.verification.metrics.compute_metrics`
LOGGED = {"eer": "EER", "eer_user": "EER_userthresholds", "auc": "mean_AUC"}


@dataclass
class ValidationSet:
    """One external set: its signatures and the protocol that scores them.

    Args:
        dataset: the signatures, or a callable returning them (a prepared-set source such as
            :func:`sigbench.data.cache.load_or_prepare` as a Hydra ``_partial_``), called once.
        protocol: a protocol config (``name``, ``folds``, ``seed``, ``options``; see ``conf/protocol``);
            ``exp_users`` defaults to every writer of the set.
    """

    dataset: SignatureDataset | Callable[[], SignatureDataset]
    protocol: Mapping[str, Any]
    loaded: SignatureDataset | None = field(default=None, repr=False)

    def load(self) -> SignatureDataset:
        if self.loaded is None:
            data = self.dataset
            self.loaded = data if isinstance(data, SignatureDataset) else data()
        return self.loaded

    def exp_users(self) -> np.ndarray:
        users = self.protocol.get("exp_users")
        return self.load().users if users is None else user_range(list(users))


def score_set(features: np.ndarray, dataset: SignatureDataset, protocol: Mapping[str, Any], exp) -> dict:
    """Fold means of the protocol's metrics and the first fold's scores (for histograms and curves)."""
    dev = protocol.get("dev_users")
    folds = run_protocol(
        features,
        dataset.y,
        dataset.yforg,
        str(protocol["name"]),
        exp,
        user_range(list(dev)) if dev is not None else None,
        folds=int(protocol.get("folds", 10)),
        seed=int(protocol.get("seed", 1234)),
        n_jobs=int(protocol.get("n_jobs", 1)),
        **dict(protocol.get("options") or {}),
    )
    means = {key: float(np.mean([f["all_metrics"][key] for f in folds])) for key in LOGGED.values()}
    return {"metrics": means, "predictions": folds[0]["predictions"], "n_folds": len(folds)}


class ExternalValidation(pl.Callback):
    """Scores every set in ``sets`` at the end of each validation epoch and logs ``val_ext/<name>/*``.

    Args:
        sets: name -> :class:`ValidationSet`.
        batch_size: images per forward pass when embedding a set.
        input_size: model input (centre crop); ``None``: the data module's ``input_size``.
        prog_bar: ``val_ext/<name>/eer`` keys shown in the progress bar (``None``: every set's).
    """

    def __init__(
        self,
        sets: Mapping[str, ValidationSet],
        batch_size: int = 128,
        input_size: tuple[int, int] | None = None,
        prog_bar: list[str] | None = None,
    ) -> None:
        self.sets = dict(sets)
        self.batch_size = batch_size
        self.input_size = input_size
        self.prog_bar = prog_bar
        #: name -> the latest :func:`score_set` result, with the epoch it belongs to
        self.latest: dict[str, dict] = {}
        self.load_seconds = 0.0

    def load(self) -> None:
        """Load (or prepare, the first time) every set now: a missing folder fails before training."""
        start = time.perf_counter()
        for name, vset in self.sets.items():
            ds = vset.load()
            missing = np.setdiff1d(vset.exp_users(), ds.users)
            if missing.size:
                raise ConfigError(
                    f"validation_sets.{name}.protocol.exp_users: writers {missing[:10].tolist()} are not in "
                    f"{ds.origin}"
                )
            log.info("external validation set %s: %d signatures of %d writers", name, len(ds), ds.users.size)
        self.load_seconds = time.perf_counter() - start

    def _input_size(self, trainer: pl.Trainer) -> tuple[int, int]:
        if self.input_size is not None:
            return tuple(self.input_size)
        size = getattr(trainer.datamodule, "input_size", None) if trainer.datamodule is not None else None
        if size is None:
            raise ConfigError("external validation needs input_size (the data module has none)")
        return tuple(size)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self.sets:
            return
        size = self._input_size(trainer)
        for name, vset in self.sets.items():
            ds = vset.load()
            feats = embed_images(pl_module.features, ds.x, size, self.batch_size, pl_module.device).numpy()
            result = score_set(feats, ds, vset.protocol, vset.exp_users())
            result["epoch"] = int(trainer.current_epoch)
            self.latest[name] = result
            for key, metric in LOGGED.items():
                pl_module.log(
                    f"{PREFIX}/{name}/{key}",
                    result["metrics"][metric],
                    prog_bar=key == "eer"
                    and (self.prog_bar is None or f"{PREFIX}/{name}/eer" in self.prog_bar),
                    sync_dist=False,  # every rank embeds the whole set: the figures are identical
                )
            preds = result["predictions"]  # first fold: histograms and curves at this epoch's step
            log_figures = getattr(pl_module, "log_score_figures", None)
            if log_figures is not None:
                log_figures(
                    f"{PREFIX}/{name}", preds["genuinePreds"], preds["skilledPreds"], preds["randomPreds"]
                )


def build_external_validation(cfg: DictConfig) -> ExternalValidation | None:
    """The callback for ``cfg.validation_sets`` (``None`` when the run has none), checked and loaded."""
    from hydra.utils import instantiate

    nodes = cfg.get("validation_sets") or {}
    sets = {}
    for name, node in nodes.items():
        if node is None:
            continue
        if "dataset" not in node or "protocol" not in node:
            raise ConfigError(
                f"validation_sets.{name}: expected `dataset` (a data source) and `protocol` "
                "(see conf/validation_set/*.yaml)"
            )
        protocol = OmegaConf.to_container(node.protocol, resolve=True)
        check_protocol(protocol)
        sets[str(name)] = ValidationSet(instantiate(node.dataset), protocol)
    if not sets:
        return None
    monitor = str(cfg.get("optimized_metric") or "")
    # the progress bar shows the figure that selects the checkpoint; every set's when none does
    shown = [monitor] if monitor.startswith(f"{PREFIX}/") else None
    callback = ExternalValidation(sets, prog_bar=shown)
    callback.load()
    return callback


def check_monitor(cfg: DictConfig) -> None:
    """``optimized_metric`` of an external set must name a set the run carries, before training starts."""
    metric = str(cfg.get("optimized_metric") or "")
    if not metric.startswith(f"{PREFIX}/"):
        return
    parts = metric.split("/")
    names = [str(k) for k, v in (cfg.get("validation_sets") or {}).items() if v is not None]
    if len(parts) != 3 or parts[1] not in names or parts[2] not in LOGGED:
        raise ConfigError(
            f"optimized_metric={metric}: expected {PREFIX}/<set>/<{'|'.join(LOGGED)}> with <set> one of "
            f"validation_sets ({', '.join(names) or 'none configured'})"
        )
