"""Embeddings of a trained checkpoint: an npz for other tools and, on request, a TensorBoard projector view.

The model is rebuilt from the config the checkpoint carries (:func:`sigbench.checkpoint_io.load_task`); the
data defaults to the checkpoint's own data config, so ``sigbench-embed ckpt=...`` alone embeds the writers
that run held out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.nn import functional as F

from sigbench.atomic import atomic_write, remove_stale_temps
from sigbench.checkpoint_io import FEATURES, load_task
from sigbench.data.transforms import center_offsets, to_model_input
from sigbench.features.extract import embed_images, pick_device
from sigbench.runner.preflight import check_output
from sigbench.runner.summary import print_summary
from sigbench.runner.validation import ConfigError

log = logging.getLogger(__name__)
SPLITS = ("holdout", "train", "val", "all")
KINDS = {0: "genuine", 1: "skilled", 2: "simple"}


def split_index(dm: object, split: str) -> np.ndarray:
    """Sample indices of one role of a set-up data module (``all`` = every sample of the dataset)."""
    if split == "all":
        return np.arange(len(dm.load()))
    return np.asarray({"holdout": dm.holdout_index, "train": dm.train_index, "val": dm.val_index}[split])


def save_embeddings(path: Path, features: np.ndarray, ds: object, index: np.ndarray) -> Path:
    """npz: ``features``, ``y``, ``yforg``, ``user_mapping`` (whole: ``y`` indexes it), ``filenames``."""
    arrays = {
        "features": features.astype(np.float32),
        "y": np.asarray(ds.y)[index],
        "yforg": np.asarray(ds.yforg)[index],
        "user_mapping": np.asarray(ds.user_mapping).astype(str),
        "filenames": np.asarray(ds.filenames)[index].astype(str),
    }
    remove_stale_temps(path)  # what a killed earlier run of this output left beside it
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))


def write_projector(
    log_dir: Path,
    features: np.ndarray,
    ds: object,
    index: np.ndarray,
    input_size: tuple[int, int],
    max_points: int,
    sprite_size: tuple[int, int],
    tag: str = "embeddings",
) -> Path:
    """TensorBoard projector: points labelled by writer and kind, sprites of the model's input crop
    (inverted back to dark ink on white paper, as a person reads signatures)."""
    from torch.utils.tensorboard import SummaryWriter

    keep = np.unique(np.linspace(0, len(index) - 1, min(max_points, len(index))).round().astype(int))
    rows = index[keep]
    images = torch.as_tensor(np.asarray(ds.x[rows]))
    oy, ox = center_offsets(tuple(images.shape[2:]), input_size)
    crops = to_model_input(images[:, :, oy : oy + input_size[0], ox : ox + input_size[1]])
    thumbs = 1.0 - F.interpolate(crops, size=tuple(sprite_size), mode="area")
    mapping = np.asarray(ds.user_mapping)
    metadata = [[str(mapping[int(ds.y[i])]), KINDS.get(int(ds.yforg[i]), "?")] for i in rows]
    writer = SummaryWriter(log_dir=str(log_dir))
    points = torch.as_tensor(features[keep])
    writer.add_embedding(points, metadata, thumbs, tag=tag, metadata_header=["writer", "kind"])
    writer.close()
    return log_dir


def embed(cfg: DictConfig) -> dict[str, str]:
    """Run ``sigbench-embed``; returns what was written."""
    if cfg.split not in SPLITS:
        raise ConfigError(f"split={cfg.split!r} is not one of {list(SPLITS)}")
    if not Path(cfg.ckpt).exists():
        raise ConfigError(f"ckpt: {cfg.ckpt} does not exist")
    check_output(cfg.get("output"), "output", "file")
    device = pick_device(cfg.device)
    task, config = load_task(cfg.ckpt, map_location="cpu", needs=FEATURES, tool="sigbench-embed")
    task = task.to(device)
    data_cfg = cfg.data if cfg.get("data") is not None else OmegaConf.create(config["data"])
    dm = instantiate(data_cfg, sampler=None)
    dm.setup("fit")
    index = split_index(dm, cfg.split)
    if index.size == 0:
        raise ConfigError(f"split={cfg.split}: the data has no such samples")
    ds = dm.load()
    feats = embed_images(task.features, ds.x, dm.input_size, cfg.batch_size, device, index).numpy()
    out = {"embeddings": str(save_embeddings(Path(cfg.output), feats, ds, index))}
    if cfg.projector:
        folder = Path(cfg.output).parent / "projector"
        sprite = tuple(cfg.sprite_size)
        write_projector(folder, feats, ds, index, dm.input_size, cfg.projector_max, sprite, cfg.split)
        out["projector"] = f"tensorboard --logdir {folder}"
    print_summary(f"sigbench-embed: {len(index)} x {feats.shape[1]} ({cfg.split})", {}, out)
    return out
