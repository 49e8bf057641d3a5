"""External (real-signature) validation sets: scored every epoch, able to choose the checkpoint, checked
before training, and the default of the synthetic pre-training experiments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sigbench.runner.external import ValidationSet, build_external_validation, check_monitor, score_set
from sigbench.runner.report import choose_checkpoint
from sigbench.runner.train import train
from sigbench.runner.validation import ConfigError
from sigbench.verification.protocol import run_protocol
from tests.helpers import SHARED_DATA, make_toy_dataset
from tests.train_helpers import TINY_SYNTHETIC, compose_train

pytestmark = pytest.mark.usefixtures("single_thread")
NISDCC = SHARED_DATA / "sigcomp2009_nisdcc_preview"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_external_set_is_scored_each_epoch_and_chooses_the_checkpoint(tmp_path, cache) -> None:
    if not NISDCC.exists():
        pytest.skip(f"shared NISDCC scans not found at {NISDCC}")
    from sigbench.data.cache import load_or_prepare
    from sigbench.data.datasets import Nisdcc2009Adapter
    from sigbench.features.extract import extract_features
    from sigbench.runner.build import load_task

    overrides = [
        "experiment=smoke",
        *TINY_SYNTHETIC,
        "trainer.max_epochs=3",
        "~callbacks.progress_bar",
        "+validation_set@validation_sets.nisdcc=nisdcc",
        "optimized_metric=val_ext/nisdcc/eer",
    ]
    metrics = train(compose_train(overrides, tmp_path, cache))
    assert 0.0 <= metrics["val_ext/nisdcc/eer"] <= 1.0
    report = json.loads((tmp_path / "metrics.json").read_text())
    history = {int(e): row for e, row in report["history"].items()}
    assert sorted(history) == [0, 1, 2]
    eers = [history[e]["val_ext/nisdcc/eer"] for e in range(3)]
    best_epoch = int(np.argmin(eers))  # ModelCheckpoint keeps the first of equal values, as argmin does
    best = tmp_path / "checkpoints" / f"best-epoch{best_epoch:03d}.ckpt"
    assert best.exists()
    assert report["monitor"] == "val_ext/nisdcc/eer"
    assert report["external_validation"]["nisdcc"]["selects_checkpoint"] is True

    # the logged figure is the distance protocol on that checkpoint's embeddings, recomputed independently
    data = load_or_prepare(Nisdcc2009Adapter(NISDCC, canvas_size=(260, 370)), cache / "prepared")
    task, _ = load_task(best)
    feats = extract_features(task.backbone, data.x, device="cpu")
    folds = run_protocol(
        feats,
        data.y,
        data.yforg,
        "distance",
        np.unique(data.y),
        folds=5,
        seed=1234,
        gen_for_ref=3,
        gen_for_test=2,
    )
    expected = float(np.mean([f["all_metrics"]["EER"] for f in folds]))
    assert eers[best_epoch] == pytest.approx(expected, abs=1e-6)


def test_score_set_matches_the_protocol_fold_means() -> None:
    ds = make_toy_dataset(users=5, genuine=6, forgeries=2)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(len(ds), 8)) + ds.y[:, None]
    protocol = {"name": "distance", "folds": 3, "seed": 7, "options": {"gen_for_ref": 3, "gen_for_test": 3}}
    vset = ValidationSet(ds, protocol)
    result = score_set(feats, ds, protocol, vset.exp_users())
    folds = run_protocol(
        feats, ds.y, ds.yforg, "distance", range(5), folds=3, seed=7, gen_for_ref=3, gen_for_test=3
    )
    for key in ("EER", "EER_userthresholds", "mean_AUC"):
        assert result["metrics"][key] == pytest.approx(np.mean([f["all_metrics"][key] for f in folds]))
    assert result["n_folds"] == 3


def test_monitor_of_an_unknown_set_fails_before_training(tmp_path) -> None:
    cfg = compose_train(["experiment=smoke", "optimized_metric=val_ext/kaggle/eer"], tmp_path)
    with pytest.raises(ConfigError, match="optimized_metric=val_ext/kaggle/eer.*none configured"):
        check_monitor(cfg)
    cfg = compose_train(["experiment=quickstart", "optimized_metric=val_ext/kagle/eer"], tmp_path)
    with pytest.raises(ConfigError, match="kaggle, nisdcc"):
        check_monitor(cfg)


def test_a_missing_dataset_folder_fails_before_training(tmp_path) -> None:
    cfg = compose_train(
        [
            "experiment=smoke",
            "+validation_set@validation_sets.kaggle=kaggle",
            f"validation_sets.kaggle.dataset.adapter.path={tmp_path / 'nowhere'}",
        ],
        tmp_path,
        tmp_path / "c",
    )
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_external_validation(cfg)


@pytest.mark.parametrize("name", ["quickstart", "synthetic_pretrain", "synthetic_pretrain_bhsig"])
def test_synthetic_pretraining_selects_on_real_signatures(name: str, tmp_path) -> None:
    cfg = compose_train([f"experiment={name}"], tmp_path)
    assert set(cfg.validation_sets) == {"kaggle", "nisdcc"}
    assert cfg.optimized_metric == "val_ext/kaggle/eer"
    assert cfg.callbacks.model_checkpoint.monitor == "val_ext/kaggle/eer"
    assert cfg.validation_sets.kaggle.dataset.adapter.path.endswith("kaggle_sign_data")


def test_checkpoint_choice_never_uses_the_protocols_test_writers(tmp_path) -> None:
    best = tmp_path / "checkpoints" / "best-epoch001.ckpt"
    best.parent.mkdir()
    best.write_bytes(b"x")
    history = {0: {"val/eer": 0.2, "val_ext/k/eer": 0.3}, 1: {"val/eer": 0.25, "val_ext/k/eer": 0.1}, 2: {}}
    chosen = choose_checkpoint(tmp_path, "val/eer", str(best), history, protocols_test_holdout=True)
    assert chosen.path.endswith("last.ckpt") and chosen.epoch == 2 and "held-out writers" in chosen.reason
    chosen = choose_checkpoint(tmp_path, "val_ext/k/eer", str(best), history, protocols_test_holdout=True)
    assert chosen.path == str(best) and chosen.epoch == 1 and "best by val_ext/k/eer" in chosen.reason
    # protocols on another dataset: selecting on the held-out writers is fine
    chosen = choose_checkpoint(tmp_path, "val/eer", str(best), history, protocols_test_holdout=False)
    assert chosen.path == str(best) and chosen.epoch == 0


def test_early_stopping_follows_the_external_figure(tmp_path) -> None:
    from hydra.utils import instantiate

    stop = [
        "+callbacks.early_stopping._target_=pytorch_lightning.callbacks.EarlyStopping",
        "+callbacks.early_stopping.monitor=${optimized_metric}",
        "+callbacks.early_stopping.mode=${optimized_mode}",
        "+callbacks.early_stopping.patience=3",
    ]
    callback = instantiate(compose_train(["experiment=quickstart", *stop], tmp_path).callbacks.early_stopping)
    assert (callback.monitor, callback.mode, callback.patience) == ("val_ext/kaggle/eer", "min", 3)
