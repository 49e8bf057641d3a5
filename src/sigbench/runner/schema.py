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
    protocol: Any = None     # post-training evaluation (verification protocols), optional
    extras: Any = field(default_factory=dict)


def register_schemas() -> None:
    ConfigStore.instance().store(name="train_schema", node=TrainSchema)
