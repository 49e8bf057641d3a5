"""Typed top-level schemas, registered in Hydra's ConfigStore.

They make the top level of every entry point's config *struct*: a misspelt key (``sed=1``) or a wrong
type (``seed=abc``) fails at composition, naming the key.  Component groups are ``Any`` here because each is
checked against the signature of the class it builds (:mod:`sigbench.runner.validation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


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
    evaluation: Any = None  # verification protocols run on the best checkpoint after training
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


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainSchema)
    store.store(name="eval_schema", node=EvalSchema)
    store.store(name="embed_schema", node=EmbedSchema)
