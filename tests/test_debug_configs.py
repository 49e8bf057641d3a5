"""`debug=*` works with every experiment: it composes after the experiment, and fast_dev_run runs the main
job end to end without the protocols that need a checkpoint."""

from __future__ import annotations

import pytest

from sigbench.runner.build import check
from sigbench.runner.train import train
from tests.helpers import SHARED_DATA
from tests.train_helpers import EXPERIMENTS, TINY_SYNTHETIC, compose_train

DEBUG = ["fast_dev_run", "overfit", "profiler"]


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("debug", DEBUG)
def test_debug_configs_compose_with_every_experiment(name: str, debug: str, tmp_path) -> None:
    cfg = compose_train([f"experiment={name}", f"debug={debug}"], tmp_path)
    if debug == "fast_dev_run":
        assert cfg.trainer.fast_dev_run is True and cfg.get("evaluation") is None
    elif debug == "overfit":  # the debug config wins over the experiment's schedule
        assert cfg.trainer.overfit_batches == 3 and cfg.trainer.max_epochs == 30
    else:
        assert cfg.trainer.profiler == "simple" and cfg.trainer.max_epochs == 1
    assert cfg.name == name  # the experiment itself is kept
    if "???" not in str(cfg.get("task", {})) and name.startswith(
        ("smoke", "quickstart", "synthetic_pretrain")
    ):
        check(cfg)


def test_fast_dev_run_runs_quickstart(tmp_path) -> None:
    if not (SHARED_DATA / "sigcomp2009_nisdcc_preview").exists():
        pytest.skip("shared NISDCC scans not found: quickstart's external validation needs them")
    overrides = [
        "experiment=quickstart",
        "debug=fast_dev_run",
        *TINY_SYNTHETIC,
        "~validation_sets.kaggle",  # the smaller real set keeps the test fast; the path is the same
        "optimized_metric=val_ext/nisdcc/eer",
        "~callbacks.progress_bar",
    ]
    metrics = train(compose_train(overrides, tmp_path, tmp_path / "cache"))
    assert 0.0 <= metrics["val_ext/nisdcc/eer"] <= 1.0 and "train/loss" in metrics
    assert not any(key.startswith(("wd/", "wi/")) for key in metrics)  # protocols off: no checkpoint
    assert not (tmp_path / "checkpoints").exists()
