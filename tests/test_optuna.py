"""Optuna for real: three trials on `smoke` (one failing), the best trial's parameters written, the sweep's
exit status, a second run on the same SQLite storage adding trials, and optimized_metric per task family."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from sigbench.runner.conf import conf_dir
from sigbench.runner.schema import register_schemas
from tests.train_helpers import TINY_SYNTHETIC, compose_train, run_cli

# A grid over three learning rates, one of them invalid (SGD raises on a negative rate): exactly one trial
# fails, whatever order the grid is walked in.


def sweep(tmp_path: Path, name: str, search: list[str], storage: Path) -> tuple[int, Path, str]:
    out = tmp_path / name
    args = [
        "sigbench-train",
        "-m",
        "experiment=smoke",
        *search,
        *TINY_SYNTHETIC,
        "data.batch_size=8",
        "+trainer.limit_train_batches=1",
        "~callbacks.progress_bar",
        "logger=csv",
        "optimizer.lr=choice(0.01,0.02,-1.0)",
        f"hydra.sweeper.storage=sqlite:///{storage}",
        "hydra.sweeper.study_name=smoke_lr",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={out}",
    ]
    result = run_cli(args, cwd=tmp_path, timeout=600)
    return result.returncode, out, result.stderr


def test_optuna_records_a_failed_trial_writes_the_best_and_resumes_from_storage(tmp_path) -> None:
    optuna = pytest.importorskip("optuna")
    storage = tmp_path / "optuna.db"
    code, out, err = sweep(tmp_path, "first", ["hparams_search=optuna_grid"], storage)
    assert code == 1, err[-3000:]  # a job failed: the sweep says so in its exit status
    assert "1 of 3 jobs failed" in err
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["status"] for r in rows) == ["completed", "completed", "failed"]
    failed = next(r for r in rows if r["status"] == "failed")
    # refused by the start-up check, which names the key, before the job trains
    assert "optimizer.lr=-1.0" in failed["overrides"] and "optimizer.lr" in failed["error"]

    study = optuna.load_study(study_name="smoke_lr", storage=f"sqlite:///{storage}")
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]
    assert next(t for t in study.trials if t.state.name == "FAIL").params["optimizer.lr"] == -1.0
    best = yaml.safe_load((out / "optimization_results.yaml").read_text())
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert best["best_value"] == pytest.approx(min(t.value for t in completed))  # val/eer, minimised
    assert best["best_params"]["optimizer.lr"] in (0.01, 0.02)
    with open(out / "summary.csv", newline="") as fh:
        objective = {r["overrides"]: r["val/eer"] for r in csv.DictReader(fh) if r["status"] == "completed"}
    assert any(float(v) == pytest.approx(best["best_value"], abs=1e-4) for v in objective.values())

    # the same study continued by the TPE search: one more trial, same search space
    search = ["hparams_search=optuna", "hydra.sweeper.n_trials=1", "hydra.sweeper.params=null"]
    code, _, err = sweep(tmp_path, "second", search, storage)
    study = optuna.load_study(study_name="smoke_lr", storage=f"sqlite:///{storage}")
    assert len(study.trials) == 4
    added = study.trials[-1]
    invalid = added.params["optimizer.lr"] < 0
    assert added.state.name == ("FAIL" if invalid else "COMPLETE")
    assert code == (1 if invalid else 0), err[-3000:]


def compose_hydra(overrides: list[str]):
    register_schemas()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    ("experiment", "metric", "direction"),
    [
        ("smoke", "val/eer", "minimize"),
        ("quickstart", "val_ext/kaggle/eer", "minimize"),
        ("viana2022_triplet", "val/precision_at_1", "maximize"),
        ("aossig_detection_fcos_cpu", "val/f_50", "maximize"),
        ("aossig_segmentation_unet_cpu", "val/f_iou_ink", "maximize"),
        ("signver_cleaner_cpu", "val/psnr", "maximize"),
    ],
)
def test_optimized_metric_drives_checkpoints_and_the_search(
    experiment: str, metric: str, direction: str
) -> None:
    cfg = compose_hydra([f"experiment={experiment}", "hparams_search=optuna"])
    assert cfg.optimized_metric == metric
    assert cfg.callbacks.model_checkpoint.monitor == metric
    assert cfg.callbacks.model_checkpoint.mode == direction[:3]
    assert cfg.hydra.sweeper.direction == direction


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        ("detection", "val/f_50"),
        ("segmentation", "val/f_iou"),
        ("cleaning", "val/psnr"),
        ("metric", "val/eer"),
    ],
)
def test_each_task_family_sets_its_own_metric(task: str, metric: str, tmp_path) -> None:
    cfg = compose_train([f"task={task}"], tmp_path)
    assert cfg.optimized_metric == metric
