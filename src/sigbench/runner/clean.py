"""``sigbench-clean``: a trained SignVer cleaner on image files, folders or signature sets (``mode=files``),
and its downstream value for verification (``mode=downstream``).

Files: every image is read as grey (:func:`sigbench.images.read_grey`; all are checked before the first is
written: ``skip_bad``, ``max_pixels``; a multi-page file is refused: one signature per file), brought to the
cleaner's domain (ink bright on 0) -- ``invert=auto`` inverts images whose median is above 127 (dark ink on
light paper) and inverts the result back -- cleaned at its own size (batches are zero-padded, see
:mod:`sigbench.cleaning.apply`), and written as PNG under ``output`` with the input's relative path, each file
atomically. The cleaner was trained at the scale of
preprocessed signatures (:func:`sigbench.data.preprocess.preprocess_signature`, 170 x 242): inputs should be
at that scale (strokes a few pixels wide); nothing is resized. A sigver npz / dataset folder as ``input``
gives a cleaned dataset at ``output``.

Downstream: verification EER on the same writers for three arms -- (a) the clean signatures, (b) the same
signatures with synthetic clutter (seeded per sample: ``sample_rng(clutter_seed, row)``, so (b) and (c) see
identical clutter), (c) that clutter removed by the cleaner -- with the existing feature extraction and
protocol code. Arm (a) is computed exactly as ``sigbench-eval`` computes it (same cached features, same
users, same protocol call); the other arms replace the features of the *exploitation* writers (references
and queries, genuine and forged) by those of their cluttered (cleaned) images, so everything else the
protocol sees is identical. Development writers (WD negatives, WI training pairs) stay clean: a verifier is
trained on a clean corpus and deployed on signatures cut out of cluttered documents.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from sigbench.atomic import atomic_path, atomic_write_text, remove_stale_temps, remove_stale_temps_in
from sigbench.checkpoint_io import FEATURES, load_task, read_checkpoint_config
from sigbench.cleaning.apply import clean_image_list, clean_images
from sigbench.cleaning.noise import Clutter, clutter_dataset
from sigbench.data.formats import SignatureDataset, load_dataset, save_dataset
from sigbench.features.extract import extract_features, pick_device
from sigbench.images import DEFAULT_MAX_PIXELS, gather_inputs, read_grey, skipped_note, write_skipped
from sigbench.runner.preflight import check_output
from sigbench.runner.summary import print_summary
from sigbench.runner.validation import ConfigError

INVERT = ("auto", "true", "false")
ARMS = ("clean", "cluttered", "cleaned")


def _existing(path: Any, key: str) -> Path:
    if path is None or str(path) in ("", "???"):
        raise ConfigError(f"{key}= is required")
    path = Path(str(path))
    if not path.exists():
        raise ConfigError(f"{key}: {path} does not exist")
    return path


def load_cleaner(ckpt: str | Path, device: str = "cpu") -> nn.Module:
    """The cleaner network of a ``sigbench-train`` checkpoint of the cleaning task, in eval mode."""
    from sigbench.cleaning.task import CleaningTask

    path = _existing(ckpt, "ckpt")
    task, _ = load_task(path, map_location="cpu", needs="cleaning", tool="sigbench-clean")
    if not isinstance(task, CleaningTask):
        raise ConfigError(
            f"ckpt: {path} holds a {type(task).__name__}, not a cleaner "
            "(train one with sigbench-train experiment=signver_cleaner_cpu)"
        )
    return task.backbone.to(pick_device(device)).eval()


# ------------------------------------------------------------------------------------------- files mode


def _needs_inversion(img: np.ndarray, invert: str) -> bool:
    return invert == "true" or (invert == "auto" and float(np.median(img)) > 127.0)


def clean_files(
    model: nn.Module,
    files: list[Path],
    root: Path,
    output: Path,
    invert: str = "auto",
    batch_size: int = 32,
    device: str = "cpu",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> list[Path]:
    """Clean ``files`` (one image each, read by :func:`sigbench.images.read_grey`) and write
    ``output/<path relative to root>.png``; returns the written paths."""
    invert = str(invert).lower()  # the command line's invert=true arrives as the string "True"
    if invert not in INVERT:
        raise ConfigError(f"invert={invert!r}: expected one of {list(INVERT)}")
    targets = [
        output / (f.relative_to(root) if f != root else Path(f.name)).with_suffix(".png") for f in files
    ]
    clash = [t for t, n in Counter(targets).items() if n > 1]
    if clash:
        raise ConfigError(f"input: several images would be written to {sorted(map(str, clash))[:3]}")
    written = []
    for start in range(0, len(files), batch_size * 4):  # read a few batches at a time, not the whole folder
        chunk = files[start : start + batch_size * 4]
        images = [read_grey(f, max_pixels) for f in chunk]
        flips = [_needs_inversion(img, invert) for img in images]
        inputs = [255 - img if flip else img for img, flip in zip(images, flips, strict=True)]
        cleaned = clean_image_list(model, inputs, batch_size, pick_device(device))
        for out, flip, target in zip(cleaned, flips, targets[start : start + len(chunk)], strict=True):
            with atomic_path(target) as tmp:
                if not cv2.imwrite(str(tmp), 255 - out if flip else out):
                    raise OSError(f"could not write {target}")
            written.append(target)
    return written


def clean_dataset_file(
    model: nn.Module, path: Path, output: Path, batch_size: int = 32, device: str = "cpu"
) -> Path:
    """A sigver npz / dataset folder with every image cleaned (labels and names unchanged)."""
    remove_stale_temps(output)  # what a killed earlier run of this output left beside it
    ds = load_dataset(path)
    x = clean_images(model, np.asarray(ds.x), batch_size, pick_device(device))
    cleaned = SignatureDataset(x, ds.y, ds.yforg, ds.user_mapping, ds.filenames, ds.source, str(output))
    return save_dataset(cleaned, output)


def _is_dataset(path: Path) -> bool:
    return path.suffix == ".npz" or (path.is_dir() and (path / "x.npy").exists())


def clean(cfg: DictConfig) -> dict[str, str]:
    """``mode=files``: clean an image, a folder of images, or a signature set."""
    source = _existing(cfg.input, "input")
    if cfg.get("output") in (None, ""):
        raise ConfigError("output= is required (a folder; an .npz path or folder for a dataset input)")
    output = Path(str(cfg.output))
    if output.resolve() == source.resolve():
        raise ConfigError(f"output: {output} is the input; write the cleaned images elsewhere")
    check_output(output, "output", "file" if output.suffix == ".npz" else "folder")
    if _is_dataset(source):
        model = load_cleaner(cfg.ckpt, cfg.device)
        written = clean_dataset_file(model, source, output, cfg.batch_size, cfg.device)
        notes = {"cleaned dataset": str(written)}
    else:
        max_pixels = cfg.get("max_pixels", DEFAULT_MAX_PIXELS)
        checked = gather_inputs(
            source,
            output,
            "sigbench-clean",
            bool(cfg.get("skip_bad")),
            max_pixels,
            pages=False,
            recursive=True,
        )
        root = source if source.is_dir() else source.parent
        model = load_cleaner(cfg.ckpt, cfg.device)
        remove_stale_temps_in(output)  # what a killed earlier run left in its output folder
        paths = clean_files(
            model, checked.files, root, output, str(cfg.invert), cfg.batch_size, cfg.device, max_pixels
        )
        write_skipped(output, checked.skipped)
        notes = {"images": str(len(paths)), "output": str(output), **skipped_note(checked.skipped, output)}
    print_summary("sigbench-clean", {}, notes)
    return notes


# ----------------------------------------------------------------------------------------- downstream
def _clutter_of(cfg_clutter: Any, cleaner_ckpt: Path) -> Clutter:
    """The configured clutter; ``null`` = the clutter the cleaner was trained on (its data config)."""
    if cfg_clutter is not None:
        node = OmegaConf.create(OmegaConf.to_container(cfg_clutter, resolve=True))
        if "_target_" not in node:
            node._target_ = "sigbench.cleaning.noise.Clutter"
        return instantiate(node)
    trained = (read_checkpoint_config(cleaner_ckpt).get("data") or {}).get("clutter")
    return instantiate(trained) if trained else Clutter()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of uint8 arrays on the [0, 1] scale, MSE pooled over all pixels."""
    mse = float(np.mean((a.astype(np.float64) / 255.0 - b.astype(np.float64) / 255.0) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def clutter_evaluation(
    extractor: str | Path,
    cleaner: str | Path,
    protocol: dict[str, Any],
    out_dir: str | Path,
    data_cfg: dict[str, Any] | None = None,
    clutter: Clutter | None = None,
    clutter_seed: int = 0,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    device: str = "auto",
) -> dict[str, Any]:
    """Verification EER of ``extractor`` on clean, cluttered and cluttered-then-cleaned signatures.

    Returns (and writes to ``out_dir/results.json``) ``{"arms": {arm: {metric: mean}}, "psnr": {...}, ...}``;
    each arm's full protocol results go to ``out_dir/<arm>/<protocol name>/``.
    """
    from sigbench.runner.evaluate import (
        FeatureSet,
        cached_features,
        check_protocol,
        dataset_from_data_config,
        file_identity,
        resolve_users,
        run_verification,
        table_metrics,
    )

    extractor, cleaner = _existing(extractor, "extractor"), _existing(cleaner, "ckpt")
    check_protocol(protocol)
    default_exp = default_dev = None
    if data_cfg is None:
        data_cfg = read_checkpoint_config(extractor, FEATURES, "sigbench-clean extractor=")["data"]
        default_exp, default_dev = data_cfg.get("holdout_users"), data_cfg.get("train_users")
    name = str(protocol["name"])
    exp = resolve_users(protocol.get("exp_users"), default_exp, f"protocol {name}: exp_users")
    dev = None
    if protocol.get("dev_users") is not None or default_dev is not None:
        dev = resolve_users(protocol.get("dev_users"), default_dev, f"protocol {name}: dev_users")
    clutter = clutter if clutter is not None else _clutter_of(None, cleaner)
    device_t = pick_device(device)

    def backbone() -> nn.Module:
        return load_task(extractor, needs=FEATURES, tool="sigbench-clean extractor=")[0].backbone

    dataset, data_identity = dataset_from_data_config(data_cfg)
    clean_fs = cached_features(
        backbone, {"ckpt": file_identity(extractor)}, dataset, data_identity, cache_dir, batch_size, device
    )
    rows = np.flatnonzero(np.isin(dataset.y, exp))  # exploitation writers only (see the module docstring)
    clean_x = np.asarray(dataset.x[rows])
    cluttered_x = clutter_dataset(dataset.x, clutter_seed, clutter, rows)
    cleaned_x = clean_images(load_cleaner(cleaner, device), cluttered_x, batch_size, device_t)
    model = backbone()
    sets = {"clean": clean_fs}
    for arm, x in (("cluttered", cluttered_x), ("cleaned", cleaned_x)):
        feats = clean_fs.features.copy()
        feats[rows] = extract_features(model, x, batch_size, device=device_t)
        sets[arm] = FeatureSet(feats, clean_fs.y, clean_fs.yforg, f"{dataset.origin} ({arm})")
    out_dir = Path(out_dir)
    summaries = {
        arm: run_verification(fs, protocol, exp, dev, out_dir / arm / name) for arm, fs in sets.items()
    }
    result = {
        "protocol": protocol,
        "extractor": str(extractor),
        "cleaner": str(cleaner),
        "clutter": clutter.to_dict(),
        "clutter_seed": int(clutter_seed),
        "samples": int(rows.size),
        "exp_users": int(exp.size),
        "dev_users": 0 if dev is None else int(dev.size),
        "arms": {arm: table_metrics(s) for arm, s in summaries.items()},
        "psnr": {"cluttered": _psnr(cluttered_x, clean_x), "cleaned": _psnr(cleaned_x, clean_x)},
    }
    atomic_write_text(out_dir / "results.json", json.dumps(result, indent=2, default=str))
    return result


def downstream(cfg: DictConfig) -> dict[str, Any]:
    """``mode=downstream``: the three-arm evaluation from the composed config, with a printed table."""
    protocol = OmegaConf.to_container(cfg.protocol, resolve=True)
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") else None
    cleaner = _existing(cfg.ckpt, "ckpt")
    result = clutter_evaluation(
        cfg.extractor,
        cleaner,
        protocol,
        cfg.paths.output_dir,
        data_cfg=data_cfg,
        clutter=_clutter_of(cfg.get("clutter"), cleaner),
        clutter_seed=cfg.clutter_seed,
        cache_dir=cfg.paths.cache_dir if cfg.cache_features else None,
        batch_size=cfg.batch_size,
        device=cfg.device,
    )
    rows = {
        f"{arm}/{k}": v for arm, m in result["arms"].items() for k, v in m.items() if k in ("EER", "mean_AUC")
    }
    rows.update({f"psnr_{arm} (dB)": v for arm, v in result["psnr"].items()})
    print_summary(
        f"sigbench-clean downstream: {protocol['name']} on {result['exp_users']} writers",
        rows,
        {"results": str(Path(cfg.paths.output_dir) / "results.json")},
    )
    return result


def run(cfg: DictConfig) -> dict[str, Any]:
    if cfg.mode == "files":
        return clean(cfg)
    if cfg.mode == "downstream":
        return downstream(cfg)
    raise ConfigError(f"mode={cfg.mode!r}: expected files or downstream")
