"""The plain-Python front door: load a trained extractor, preprocess scans, embed them in batches.

    import sigbench
    extractor = sigbench.load_extractor("outputs/quickstart/runs/<time>/checkpoints/last.ckpt")
    images = np.stack([extractor.preprocess(path) for path in scans])   # uint8, ink bright on black
    features = sigbench.embed(images, extractor=extractor)              # N x D float32

An extractor comes from a ``sigbench train`` checkpoint (it carries its config, so the model is rebuilt
without Hydra), a service bundle folder (its ``manifest.json`` names the extractor checkpoint; read as
JSON here, so the bench never imports the service), or a published sigver weight file (SigNet variants).
It remembers how its training images were preprocessed (canvas, resize, crop), so ``extractor.preprocess``
prepares new scans the same way; :func:`preprocess` is the same with sigver's defaults.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from sigbench.data.preprocess import (
    DEFAULT_CANVAS,
    DEFAULT_IMG_SIZE,
    DEFAULT_INPUT_SIZE,
    load_grayscale,
    preprocess_signature,
)

if TYPE_CHECKING:
    from sigbench.features.weights import SigverWeights

BUNDLE_MANIFEST = "manifest.json"
Size = tuple[int, int]


def preprocess(
    image: np.ndarray | str | Path,
    canvas_size: Size = DEFAULT_CANVAS,
    img_size: Size = DEFAULT_IMG_SIZE,
    input_size: Size | None = DEFAULT_INPUT_SIZE,
) -> np.ndarray:
    """A raw scan (an array, or an image file) as a model input: centred on ``canvas_size``, inverted (ink
    bright on black), resized to cover ``img_size``, centre-cropped to ``input_size``; uint8 H x W.

    The defaults are sigver's (the published SigNet weights); a trained extractor's own settings are
    applied by :meth:`Extractor.preprocess`.
    """
    if isinstance(image, (str, Path)):
        return preprocess_signature(load_grayscale(image), canvas_size, img_size, input_size, name=str(image))
    return preprocess_signature(np.asarray(image), canvas_size, img_size, input_size)


@dataclass
class Extractor:
    """A feature extractor (eval mode) and the preprocessing its training images went through."""

    model: nn.Module
    canvas_size: Size = DEFAULT_CANVAS
    img_size: Size = DEFAULT_IMG_SIZE
    input_size: Size = DEFAULT_INPUT_SIZE
    source: str = ""

    def preprocess(self, image: np.ndarray | str | Path) -> np.ndarray:
        """``image`` prepared as this extractor's training images were (see :func:`preprocess`)."""
        return preprocess(image, self.canvas_size, self.img_size, self.input_size)

    def embed(
        self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 256, device: str = "auto"
    ) -> np.ndarray:
        """Same as :func:`embed` with this extractor."""
        return embed(images, extractor=self, batch_size=batch_size, device=device)


def load_extractor(path: str | Path, variant: str = "signet") -> Extractor:
    """An :class:`Extractor` from a ``sigbench train`` checkpoint, a service bundle folder, or a sigver
    weight file (``variant`` names its SigNet variant: ``signet``, ``thin``, ``smaller``).

    Errors name the file and what was expected: a missing path, a folder without a bundle manifest, a
    checkpoint of a task that is not a feature extractor (a detector, a cleaner), or a file that is
    neither a sigbench checkpoint nor sigver weights.
    """
    path = Path(path)
    if path.is_dir():
        return _from_bundle(path)
    if not path.is_file():
        raise FileNotFoundError(f"extractor {path} does not exist (expected a checkpoint, bundle or weights)")
    if path.suffix == ".ckpt":
        return _from_checkpoint(path)
    from sigbench.features.weights import read_sigver_weights

    try:
        weights = read_sigver_weights(path)
    except (ValueError, pickle.UnpicklingError) as sigver_error:
        try:
            return _from_checkpoint(path)
        except ValueError as ckpt_error:
            raise ValueError(
                f"{path}: neither sigver weights ({sigver_error}) nor a sigbench checkpoint ({ckpt_error})"
            ) from None
    return _from_sigver_weights(path, weights, variant)


def embed(
    images: np.ndarray | Sequence[np.ndarray],
    extractor: Extractor | str | Path,
    batch_size: int = 256,
    device: str = "auto",
) -> np.ndarray:
    """Features (N x D float32) of preprocessed uint8 images, in batches of ``batch_size``.

    ``images``: an N x H x W or N x 1 x H x W uint8 array, or a sequence of equally sized H x W arrays, as
    :func:`preprocess` returns them (at least the extractor's ``input_size``; larger ones are centre
    cropped).  ``extractor``: an :class:`Extractor` or a path for :func:`load_extractor`.  ``device``:
    ``auto`` (a GPU when there is one), ``cpu``, ``cuda:0`` ...
    """
    from sigbench.features.extract import extract_features

    if not isinstance(extractor, Extractor):
        extractor = load_extractor(extractor)
    x = _as_batch(images)
    if len(x) == 0:
        raise ValueError("embed: no images given")
    need = tuple(extractor.input_size)
    if x.shape[2] < need[0] or x.shape[3] < need[1]:
        raise ValueError(
            f"embed: images are {x.shape[2]} x {x.shape[3]}, smaller than the extractor's input "
            f"{need[0]} x {need[1]}; prepare them with extractor.preprocess"
        )
    if batch_size < 1:
        raise ValueError(f"embed: batch_size must be >= 1, got {batch_size}")
    return extract_features(extractor.model, x, batch_size, tuple(extractor.input_size), device)


def _as_batch(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """N x 1 x H x W uint8; a clear error for floats, colour images or mixed sizes."""
    if isinstance(images, np.ndarray):
        x = images
    else:
        shapes = {np.shape(img) for img in images}
        if len(shapes) > 1:
            raise ValueError(f"embed: images differ in size ({sorted(shapes)}); preprocess them first")
        x = np.stack([np.asarray(img) for img in images]) if shapes else np.zeros((0, 1, 1, 1), np.uint8)
    if x.dtype != np.uint8:
        raise ValueError(
            f"embed: expected uint8 images as sigbench.preprocess returns them (ink bright on black), "
            f"got {x.dtype}"
        )
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"embed: expected N x H x W or N x 1 x H x W grayscale images, got shape {x.shape}")
    return x


def _from_checkpoint(path: Path) -> Extractor:
    from sigbench.features.tasks.base import FeatureTask
    from sigbench.runner.build import load_task

    task, config = load_task(path, map_location="cpu")
    if not isinstance(task, FeatureTask):
        raise ValueError(
            f"{path} holds a {type(task).__name__} checkpoint, not a feature extractor (a FeatureTask)"
        )
    return Extractor(task.backbone.eval(), *preprocessing_of_config(config), source=str(path))


def _from_sigver_weights(path: Path, weights: SigverWeights, variant: str) -> Extractor:
    """A SigNet ``variant`` with the file's backbone; a wrong variant fails naming the mismatched keys."""
    from sigbench.features.models.signet import SigNet
    from sigbench.features.weights import load_into

    model = SigNet(variant)
    load_into(model, weights.backbone, "backbone", path)
    return Extractor(model.eval(), source=str(path))


def _from_bundle(folder: Path) -> Extractor:
    """The extractor named by a bundle's ``manifest.json`` (``models.extractor.file``, relative to the
    folder), with the bundle's preprocessing.  Page-crop rescaling (``ink_long_side``) is part of the
    service's pipeline, not of this preprocessing."""
    manifest_path = folder / BUNDLE_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{folder} is a folder without {BUNDLE_MANIFEST}: not a bundle")
    try:
        manifest = json.loads(manifest_path.read_text())
        entry = manifest["models"]["extractor"]["file"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(
            f"{manifest_path}: expected JSON with models.extractor.file (the extractor checkpoint), {err!r}"
        ) from None
    extractor = _from_checkpoint(folder / entry)
    prep = manifest.get("preprocessing") or {}
    for key in ("canvas_size", "img_size", "input_size"):
        if prep.get(key):
            setattr(extractor, key, tuple(int(v) for v in prep[key]))
    extractor.source = str(folder)
    return extractor


def preprocessing_of_config(config: dict[str, Any]) -> tuple[Size, Size, Size]:
    """``(canvas_size, img_size, input_size)`` a model was trained with, from the config its checkpoint
    carries: the dataset's canvas and resize target (the built-in synthetic writers have their own canvas),
    and the data module's crop."""
    from sigbench.data.synthetic.dataset import CANVAS_SIZE as SYNTHETIC_CANVAS

    data = config.get("data") or {}
    dataset = data.get("dataset") if isinstance(data.get("dataset"), dict) else {}
    synthetic = "synthetic" in str(dataset.get("_target_", ""))
    canvas = dataset.get("canvas_size") or (SYNTHETIC_CANVAS if synthetic else DEFAULT_CANVAS)
    img_size = dataset.get("img_size") or DEFAULT_IMG_SIZE
    input_size = data.get("input_size") or DEFAULT_INPUT_SIZE
    return tuple(int(v) for v in canvas), tuple(int(v) for v in img_size), tuple(int(v) for v in input_size)


__all__ = ["Extractor", "embed", "load_extractor", "preprocess", "preprocessing_of_config"]
