"""Typed top-level schemas, registered in Hydra's ConfigStore.

They make the top level of every entry point's config *struct*: a misspelt key (``sed=1``) or a wrong
type (``seed=abc``) fails at composition, naming the key.  Component groups are ``Any`` here because each is
checked against the signature of the class it builds (:mod:`sigbench.runner.validation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf


@dataclass
class TrainSchema:
    name: str = "train"
    seed: int = 42
    train: bool = True
    resume: bool = False
    ckpt_path: str | None = None
    paths: Any = None
    data: Any = None
    model: Any = None
    loss: Any = None
    task: Any = None
    optimizer: Any = None
    scheduler: Any = None
    trainer: Any = None
    logger: Any = field(default_factory=dict)
    callbacks: Any = field(default_factory=dict)
    debug: Any = None
    experiment: Any = None
    evaluation: Any = None  # verification protocols run after training (on the checkpoint report.py picks)
    validation_sets: Any = field(default_factory=dict)  # name -> external set scored every epoch (val_ext/)
    optimized_metric: str = "val/eer"  # checkpoint selection, early stopping and the sweep objective
    optimized_mode: str = "min"  # min | max
    extras: Any = field(default_factory=dict)


@dataclass
class EvalSchema:
    name: str = "eval"
    ckpt: str | None = None  # a sigbench checkpoint (model and default data from its config)
    weights: str | None = None  # or a sigver weight file (SigNet); needs data
    weights_variant: str = "signet"
    features: str | None = None  # or precomputed features (npz: features, y, yforg)
    cache_features: bool = True
    batch_size: int = 256
    device: str = "auto"
    seed: int = 1234
    paths: Any = None
    data: Any = None
    protocol: Any = None


@dataclass
class EmbedSchema:
    name: str = "embed"
    ckpt: str = "???"  # a sigbench checkpoint (model, and by default data, from its config)
    split: str = "holdout"  # holdout | train | val | all: which samples of the data to embed
    output: str = "???"  # the npz to write
    projector: bool = False  # also write a TensorBoard projector view with sprite images
    projector_max: int = 2000  # samples in the projector view (evenly spaced when there are more)
    sprite_size: list[int] = field(default_factory=lambda: [40, 57])
    batch_size: int = 256
    device: str = "auto"
    seed: int = 42
    paths: Any = None
    data: Any = None


@dataclass
class SegmentSchema:
    name: str = "segment"
    ckpt: str = "???"  # a sigbench segmentation checkpoint (model and training scale from its config)
    input: str = "???"  # an image, a PDF / multi-page TIFF (every page), or a folder of them
    output: str = "???"  # folder for <stem>.png masks (0/255)
    gt: str | None = None  # folder of ground-truth masks: print fgIoU / F / mean SSIM
    overlays: bool = False  # also write <output>/overlays/<stem>.jpg
    tile: int | None = None  # tile side (None: 512 for crop-trained models, data.long_side for pages)
    overlap: int = 64
    long_side: int | None = None  # None: the checkpoint's data.long_side
    threshold: float | None = None  # None: the checkpoint's task.threshold
    batch_size: int = 8
    device: str = "auto"
    dpi: int = 200  # PDF rasterisation
    skip_bad: bool = False  # leave unreadable input files out (listed in <output>/skipped.json)
    max_pixels: int | None = 100_000_000  # pixels per page, checked from the header; None: no limit
    paths: Any = None


@dataclass
class CleanSchema:
    name: str = "clean"
    mode: str = "files"  # files: clean images / a dataset; downstream: EER clean vs cluttered vs cleaned
    ckpt: str = "???"  # the cleaner checkpoint (a sigbench-train run of task=cleaning)
    input: str | None = None  # files: an image, a folder of images, or a sigver .npz / dataset folder
    output: str | None = None  # files: a folder of PNGs; a dataset path for a dataset input
    invert: str = "auto"  # auto | true | false: dark-ink-on-paper images are inverted for the cleaner
    skip_bad: bool = False  # leave unreadable input files out (listed in <output>/skipped.json)
    max_pixels: int | None = 100_000_000  # pixels per page, checked from the header; None: no limit
    extractor: str | None = None  # downstream: the feature extractor checkpoint
    clutter: Any = None  # downstream: a Clutter config; None = the clutter the cleaner was trained on
    clutter_seed: int = 0
    cache_features: bool = True
    batch_size: int = 64
    device: str = "auto"
    paths: Any = None
    protocol: Any = None
    data: Any = None


@dataclass
class DetectSchema:
    name: str = "detect"
    ckpt: str = "???"  # a sigbench detection checkpoint (model and page geometry from its config)
    input: str = "???"  # an image, a PDF or a folder of them
    output: str = "???"  # folder for <stem>.json / .txt / _annotated.jpg and crops/
    gt: str | None = None  # AOSSig txt / GEDI xml / YOLO folder or COCO json: F@0.5, F@0.75, mAP50
    gt_format: str = "auto"  # auto | aossig | gedi | coco | yolo
    batch_size: int = 4
    device: str = "auto"
    dpi: int = 200
    long_side: int | None = None  # None: as trained; 0: full size
    tile_size: int | None = None  # None: as trained; 0: no tiling
    tile_overlap: int | None = None
    score_threshold: float = 0.5
    map_threshold: float | None = None  # heatmap detectors: a map cell's probability to join a box
    crops: bool = True
    annotated: bool = True
    skip_bad: bool = False  # leave unreadable input files out (listed in <output>/skipped.json)
    max_pixels: int | None = 100_000_000  # pixels per page, checked from the header; None: no limit
    seed: int = 42
    paths: Any = None


@dataclass
class SynthSchema:
    name: str = "synth"
    out_dir: str = "???"  # the set's folder (AOSSig layout + coco/ + yolo/)
    num_pages: int = 100
    levels: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    test_fraction: float = 0.2
    fusions: list[str] = field(default_factory=lambda: ["alpha", "poisson", "ink"])
    capture: list[str] = field(default_factory=lambda: ["scan", "photo"])
    classes: list[str] = field(default_factory=lambda: ["signature"])
    page_size: Any = "default"  # default | a4_300dpi | [H, W]
    source: Any = "synthetic"  # synthetic (args in `synthetic`) | a prepared set path | {folder: PATH}
    synthetic: Any = field(default_factory=dict)
    templates: list[str] | None = None  # labelme JSON templates instead of generated ones
    random_places: int = 0
    bilevel: bool = False
    seed: int = 0
    num_workers: int = 0
    overwrite: bool = False
    progress: bool = True
    paths: Any = None


def optimization_direction(mode: str) -> str:
    """Optuna's ``direction`` for an ``optimized_mode`` (``min`` / ``max``, as ModelCheckpoint takes it)."""
    directions = {"min": "minimize", "max": "maximize"}
    if mode not in directions:
        raise ValueError(f"optimized_mode={mode!r}: expected 'min' or 'max'")
    return directions[mode]


def register_schemas() -> None:
    if not OmegaConf.has_resolver("sigbench.direction"):
        OmegaConf.register_new_resolver("sigbench.direction", optimization_direction)
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainSchema)
    store.store(name="eval_schema", node=EvalSchema)
    store.store(name="embed_schema", node=EmbedSchema)
    store.store(name="segment_schema", node=SegmentSchema)
    store.store(name="clean_schema", node=CleanSchema)
    store.store(name="detect_schema", node=DetectSchema)
    store.store(name="synth_schema", node=SynthSchema)
