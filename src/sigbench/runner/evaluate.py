"""Verification of a trained extractor: features (extracted once, cached), protocols, results files.

The extractor comes from a sigbench checkpoint (rebuilt from the config it carries), a sigver weight file,
or is skipped when features are given; the data defaults to the checkpoint's own held-out writers.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sigbench.atomic import atomic_write
from sigbench.checkpoint_io import FEATURES, load_task, read_checkpoint_config
from sigbench.data.formats import SignatureDataset, user_range
from sigbench.features.extract import extract_features
from sigbench.runner.summary import print_summary
from sigbench.runner.validation import ConfigError
from sigbench.verification.plots import add_curves_to_tensorboard, save_curves
from sigbench.verification.protocol import (
    format_table,
    protocol_options,
    run_protocol,
    summarize,
    write_results,
)

REPORTED = ("EER", "EER_userthresholds", "mean_AUC", "FRR", "FAR_random", "FAR_skilled")


@dataclass
class FeatureSet:
    """Features with the labels the protocols need."""

    features: np.ndarray
    y: np.ndarray
    yforg: np.ndarray
    origin: str


def load_feature_file(path: str | Path) -> FeatureSet:
    """Precomputed features: an npz with ``features`` (N x D), ``y`` and ``yforg`` (N)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"features: {path} does not exist")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("features", "y", "yforg") if k not in data.files]
        if missing:
            raise ConfigError(f"features: {path} lacks key(s) {missing} (needs features, y, yforg)")
        return FeatureSet(
            data["features"], data["y"].astype(np.int64), data["yforg"].astype(np.int64), str(path)
        )


def save_feature_file(path: str | Path, fs: FeatureSet) -> Path:
    return atomic_write(path, lambda fh: np.savez(fh, features=fs.features, y=fs.y, yforg=fs.yforg))


def file_identity(path: str | Path) -> dict[str, Any]:
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns}


def cached_features(
    model_loader: Any,
    model_identity: dict[str, Any],
    dataset: SignatureDataset,
    data_identity: Any,
    cache_dir: str | Path | None,
    batch_size: int = 256,
    device: str = "auto",
) -> FeatureSet:
    """Extract features once per (model file, data) and keep them under ``cache_dir/features``."""
    key = hashlib.sha256(
        json.dumps(
            {"model": model_identity, "data": data_identity, "n": len(dataset)}, sort_keys=True, default=str
        ).encode()
    ).hexdigest()[:20]
    path = Path(cache_dir) / "features" / f"{key}.npz" if cache_dir else None
    if path is not None and path.exists():
        return load_feature_file(path)
    feats = extract_features(model_loader(), dataset.x, batch_size=batch_size, device=device)
    fs = FeatureSet(feats, dataset.y.astype(np.int64), dataset.yforg.astype(np.int64), dataset.origin)
    if path is not None:
        save_feature_file(path, fs)
    return fs


def resolve_users(value: Any, fallback: Any, what: str) -> np.ndarray:
    users = value if value is not None else fallback
    if users is None:
        raise ConfigError(f"{what} is required (no default from the checkpoint's data config)")
    try:
        ids = user_range(list(users))
    except ValueError as err:
        raise ConfigError(f"{what}: {err}") from None
    if ids.size == 0:
        raise ConfigError(f"{what}={list(users)} selects no users")
    return ids


def check_protocol(protocol: dict[str, Any]) -> None:
    """Fail at start-up on an unknown protocol name or option, or a ``data`` key that is no data config."""
    name = protocol.get("name")
    try:
        valid = protocol_options(str(name))
    except ValueError as err:
        raise ConfigError(f"protocol.name: {err}") from None
    unknown = sorted(set(protocol.get("options") or {}) - set(valid))
    if unknown:
        raise ConfigError(
            f"protocol.options: unknown {unknown} for {name}; valid: {', '.join(sorted(valid))}"
        )
    data = protocol.get("data")
    if data is not None and not (isinstance(data, dict) and "_target_" in data):
        raise ConfigError(
            f"protocol {name}: data must be a data config with a _target_ (like conf/data/*.yaml), "
            f"got {data!r}"
        )


def run_verification(
    fs: FeatureSet,
    protocol: dict[str, Any],
    exp_users: np.ndarray,
    dev_users: np.ndarray | None,
    out_dir: str | Path,
    tensorboard_dir: str | Path | None = None,
    verbose: bool = True,
    step: int = 0,
) -> dict:
    """One protocol on one feature set: results.json + results.pkl + ROC/DET plots (TensorBoard at
    ``step``), and the table printed unless ``verbose=False`` (a caller that prints its own summary)."""
    check_protocol(protocol)
    name = str(protocol["name"])
    folds = run_protocol(
        fs.features,
        fs.y,
        fs.yforg,
        name,
        exp_users,
        dev_users,
        folds=int(protocol.get("folds", 10)),
        seed=int(protocol.get("seed", 1234)),
        n_jobs=int(protocol.get("n_jobs", 1)),
        **dict(protocol.get("options") or {}),
    )
    summary = summarize(folds)
    out_dir = Path(out_dir)
    paths = write_results(out_dir, folds, summary)
    preds = folds[0]["predictions"]
    save_curves(out_dir, preds["genuinePreds"], preds["skilledPreds"], preds["randomPreds"], prefix="fold0_")
    if tensorboard_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(tensorboard_dir)) as writer:
            add_curves_to_tensorboard(
                writer,
                preds["genuinePreds"],
                preds["skilledPreds"],
                preds["randomPreds"],
                global_step=step,
                tag=f"verification/{name}",
            )
            for key in REPORTED:
                writer.add_scalar(f"verification/{name}/{key}", summary["metrics"][key]["mean"], step)
    if not verbose:
        return summary
    print(
        f"\n{name.upper()} protocol on {fs.origin}: {len(exp_users)} exploitation users, "
        f"{0 if dev_users is None else len(dev_users)} development users"
    )
    print(format_table(summary), flush=True)
    print(f"results: {paths['json']}")
    return summary


def dataset_from_data_config(data_cfg: dict[str, Any]) -> tuple[SignatureDataset, Any]:
    """The signature set a data config points at (without splitting it), and an identity for caching."""
    dm = instantiate(OmegaConf.create(data_cfg))
    source = data_cfg.get("dataset")
    if isinstance(source, str):
        identity: Any = file_identity(source)
    else:
        identity = (
            OmegaConf.to_container(OmegaConf.create(source), resolve=True) if source is not None else None
        )
    return dm.load(), identity


def table_metrics(summary: dict) -> dict[str, float]:
    return {key: summary["metrics"][key]["mean"] for key in REPORTED}


def print_protocol_summaries(summaries: dict[str, dict]) -> None:
    rows = {
        f"{name}/{key}": value for name, s in summaries.items() for key, value in table_metrics(s).items()
    }
    print_summary("verification on held-out writers (mean over folds)", rows)


def _extractor(ckpt: str | Path | None, weights: str | Path | None, variant: str) -> tuple[Any, dict]:
    """A loader of the feature extractor and its identity (for the feature cache)."""
    from sigbench.features.weights import signet_from_sigver

    if ckpt is not None:
        read_checkpoint_config(ckpt, needs=FEATURES, tool="sigbench-eval")  # what it holds, before any work
        return (lambda: load_task(ckpt, needs=FEATURES, tool="sigbench-eval")[0].backbone), {
            "ckpt": file_identity(ckpt)
        }
    if weights is not None:
        return (lambda: signet_from_sigver(weights, variant)), {
            "weights": file_identity(weights),
            "variant": variant,
        }
    raise ConfigError("one of ckpt, weights or features is required")


def evaluate_checkpoint(
    ckpt: str | Path | None,
    protocols: dict[str, dict[str, Any]],
    out_dir: str | Path,
    data_cfg: dict[str, Any] | None = None,
    weights: str | Path | None = None,
    weights_variant: str = "signet",
    features: str | Path | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 256,
    device: str = "auto",
    tensorboard_dir: str | Path | None = None,
    verbose: bool = True,
    timings: dict[str, float] | None = None,
    step: int = 0,
) -> dict[str, dict]:
    """Run each protocol in ``protocols`` (name -> protocol config) and return their summaries.

    Exploitation / development users default to the checkpoint's held-out / training writers when the
    data is the checkpoint's own.

    A protocol with a ``data`` key (a data config like ``conf/data/*.yaml``) is run on *that* dataset
    instead -- cross-dataset evaluation, e.g. train on BHSig260 and verify on SigComp2009 writers. Its
    features are extracted by the same model and cached under their own key; its ``exp_users`` default to
    every writer of that dataset and its ``dev_users`` to none (WD with ``forg_from_dev > 0`` and WI need
    them given, as writers of that dataset). Such a protocol needs a model (``ckpt`` or ``weights``).

    ``timings``, when given, receives the seconds spent extracting features (``features``) and running
    each protocol (by name); ``verbose=False`` prints nothing (the caller summarises); TensorBoard curves
    and scalars go to ``step`` (the training run's last step).
    """
    for protocol in protocols.values():
        check_protocol(protocol)
    own_data_needed = any(p.get("data") is None for p in protocols.values())
    if features is not None and any(p.get("data") is not None for p in protocols.values()):
        raise ConfigError("a protocol with its own data needs a model (ckpt= or weights=), not features=")
    default_exp = default_dev = None
    if features is None:
        loader, identity = _extractor(ckpt, weights, weights_variant)
        if ckpt is not None:
            ckpt_cfg = read_checkpoint_config(ckpt, needs=FEATURES, tool="sigbench-eval")
            if data_cfg is None:
                data_cfg = ckpt_cfg["data"]
                default_exp, default_dev = data_cfg.get("holdout_users"), data_cfg.get("train_users")
        if data_cfg is None and own_data_needed:
            raise ConfigError("data is required with weights= (e.g. data=npz data.dataset=PATH)")
    feature_sets: dict[str, FeatureSet] = {}

    def features_of(data: dict[str, Any] | None) -> FeatureSet:
        """Features of a protocol's ``data`` (None: the run's own data), each dataset extracted once."""
        key = json.dumps(data, sort_keys=True, default=str)
        if key in feature_sets:
            return feature_sets[key]
        if features is not None:
            feature_sets[key] = load_feature_file(features)
            return feature_sets[key]
        dataset, data_identity = dataset_from_data_config(data_cfg if data is None else data)
        if data is not None:  # a prepared set's file name carries its content key: re-extract on change
            data_identity = {"config": data_identity, "origin": dataset.origin}
        feature_sets[key] = cached_features(
            loader, identity, dataset, data_identity, cache_dir, batch_size, device
        )
        return feature_sets[key]

    timings = timings if timings is not None else {}
    start = time.perf_counter()
    if own_data_needed:
        features_of(None)
    for protocol in protocols.values():
        features_of(protocol.get("data"))
    timings["features"] = time.perf_counter() - start
    summaries = {}
    for name, protocol in protocols.items():
        start = time.perf_counter()
        other = protocol.get("data")
        fs = features_of(other)
        if other is not None and protocol.get("exp_users") is None:
            exp = np.unique(fs.y)  # every writer of the other dataset
        else:
            exp = resolve_users(protocol.get("exp_users"), default_exp, f"protocol {name}: exp_users")
        dev_value = protocol.get("dev_users")
        dev_fallback = None if other is not None else default_dev
        dev = None
        if dev_value is not None or dev_fallback is not None:
            dev = resolve_users(dev_value, dev_fallback, f"protocol {name}: dev_users")
        summaries[name] = run_verification(
            fs, protocol, exp, dev, Path(out_dir) / name, tensorboard_dir, verbose=verbose, step=step
        )
        timings[name] = time.perf_counter() - start
    return summaries
