"""Compose the real configs in tests, the way ``sigbench-train`` does, with paths pointed at tmp dirs."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from sigbench.runner.conf import conf_dir
from sigbench.runner.schema import register_schemas
from tests.helpers import CONF, REPO

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))

# A synthetic population small enough for seconds-long runs: 4 training writers, 2 held out.
TINY_SYNTHETIC = [
    "data.dataset.num_writers=6",
    "data.dataset.genuine_per_writer=6",
    "data.dataset.forgeries_per_writer=1",
    "data.dataset.num_workers=0",
    "data.train_users=[0,4]",
    "data.holdout_users=[4,6]",
    "task.holdout_references=2",
]


#: Where the experiments that tests/test_train.py does not build are composed: their inputs (document
#: pages, a teacher and inverted data, shared real data) are made by those tests.
BUILT_ELSEWHERE = {
    "documents": (
        "test_detection.py",
        "test_detection_heatmap.py",
        "test_segmentation.py",
        "test_cleaning.py",
    ),
    "distillation": ("test_distillation.py",),
    "real data": ("test_real_data.py", "test_synthetic_scale_overlays.py"),
}


def experiment_family(cfg: DictConfig) -> str:
    """``features`` for a feature-learning experiment on synthetic writers or an npz, else a key of
    :data:`BUILT_ELSEWHERE`."""
    if not str(cfg.task.get("_target_", "")).startswith("sigbench.features."):
        return "documents"
    if cfg.task.get("teacher") is not None:
        return "distillation"
    source = cfg.data.get("dataset")
    generated = ("load_or_generate", "load_or_generate_population")  # built-in synthetic writers
    if isinstance(source, DictConfig) and not str(source.get("_target_", "")).endswith(generated):
        return "real data"
    return "features"


@functools.cache
def experiment_families() -> dict[str, str]:
    """:func:`experiment_family` of every experiment, composed once per session (in one Hydra context)."""
    register_schemas()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return {
            name: experiment_family(compose("train", overrides=[f"experiment={name}"]))
            for name in EXPERIMENTS
        }


def compose_train(overrides: list[str], out_dir: Path, cache_dir: Path | None = None) -> DictConfig:
    register_schemas()
    paths = [f"paths.root_dir={REPO}", f"paths.output_dir={out_dir}"]
    if cache_dir is not None:
        paths.append(f"paths.cache_dir={cache_dir}")
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=[*overrides, *paths])


def run_cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a sigbench console script in a subprocess (as a user would), capturing its output."""
    exe = Path(sys.executable).parent / args[0]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "160"}
    return subprocess.run(
        [str(exe), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
