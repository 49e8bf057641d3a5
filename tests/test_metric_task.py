"""Metric learning task: retrieval metrics, letterbox input, backbone initialisation, the two-stage
multi-task recipe on smoke data, the new experiments' recipes, and the embedding export CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sigbench.checkpoint_io import load_file
from sigbench.features.init import load_backbone
from sigbench.features.models import EmbeddingModel, SigNet
from sigbench.features.models.letterbox import Letterbox
from sigbench.features.retrieval import identification_accuracy, precision_at_1
from sigbench.features.weights import write_sigver_weights
from sigbench.runner.build import build_data, build_task, check
from sigbench.runner.train import train
from tests.train_helpers import TINY_SYNTHETIC, compose_train

TINY = [*TINY_SYNTHETIC, "~callbacks.progress_bar", "logger=csv"]
CONV1 = "conv_layers.conv1.conv.weight"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def stage1(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    """Stage 1 of the multi-task recipe: SigNet(-thin) cross-entropy on smoke data; its last checkpoint."""
    out = tmp_path_factory.mktemp("stage1")
    train(compose_train(["experiment=smoke", *TINY], out, cache))
    return out / "checkpoints" / "last.ckpt"


# ---- retrieval metrics ----------------------------------------------------------------------------------
def test_precision_at_1_counts_queries_whose_nearest_reference_shares_their_label() -> None:
    refs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    ref_labels = torch.tensor([0, 1, 2])
    queries = torch.tensor([[2.0, 0.1], [0.1, 3.0], [0.2, 1.0], [-1.0, -0.1]])  # scale does not matter
    labels = torch.tensor([0, 1, 0, 2])  # the third query is nearest to writer 1: a miss
    assert precision_at_1(queries, labels, refs, ref_labels, chunk=3) == pytest.approx(3 / 4)
    assert np.isnan(precision_at_1(queries[:0], labels[:0], refs, ref_labels))


def test_identification_enrols_a_mean_and_classifies_the_rest_by_nearest_mean() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    feats = np.concatenate([c + 0.05 * rng.standard_normal((8, 2)) for c in centres])
    labels = np.repeat([0, 1, 2], 8)
    assert identification_accuracy(feats, labels, enrol=5, queries=5) == 1.0
    # writer 2's queries moved onto writer 0: with 3 queries each, 3 of 9 are wrong whatever the shuffle
    moved = feats.copy()
    moved[labels == 2] = centres[0]
    assert identification_accuracy(moved, labels, enrol=5, queries=3, seed=3) == pytest.approx(6 / 9)
    assert np.isnan(identification_accuracy(feats, labels, enrol=8))  # nobody has 9 samples


# ---- letterbox and initialisation ----------------------------------------------------------------------
def test_letterbox_scales_the_long_side_and_pads_with_background() -> None:
    seen = {}

    class Probe(torch.nn.Module):
        feature_dim = 3

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen["x"] = x
            return x.mean(dim=(2, 3)).repeat(1, 3)

    x = torch.ones(2, 1, 170, 242)
    Letterbox(Probe(), size=(224, 224))(x)
    y = seen["x"]
    assert y.shape == (2, 1, 224, 224)
    rows = (y[0, 0] > 0.5).any(dim=1).nonzero().flatten()
    assert y[0, 0, 0].abs().sum() == 0 and y[0, 0, -1].abs().sum() == 0  # top / bottom padding is 0
    assert len(rows) == round(170 * 224 / 242) and (y[0, 0, 112] > 0.99).all()  # full width, aspect kept


def test_backbone_loads_from_a_checkpoint_or_a_sigver_file_plain_or_wrapped(stage1, tmp_path) -> None:
    stored = load_file(stage1)["state_dict"]["backbone." + CONV1]
    plain = SigNet("thin")
    assert load_backbone(plain, stage1) is plain and torch.equal(plain.state_dict()[CONV1], stored)
    wrapped = EmbeddingModel(SigNet("thin"), embedding_dim=16, normalize=True)
    assert load_backbone(wrapped, stage1) is wrapped.backbone
    path = write_sigver_weights(tmp_path / "w.pth", plain)
    other = SigNet("thin")
    load_backbone(other, path)
    assert torch.equal(other.state_dict()[CONV1], stored)
    with pytest.raises(ValueError, match="does not match"):
        load_backbone(SigNet("signet"), stage1)


# ---- training --------------------------------------------------------------------------------------------
def fit(cfg, callbacks: list) -> tuple[object, object]:
    dm = build_data(cfg)
    task = build_task(cfg, num_classes=dm.num_classes)
    trainer = instantiate(
        cfg.trainer, logger=False, callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(task, datamodule=dm)
    return task, trainer


def test_stage_two_starts_from_stage_one_then_switches_loss_and_optimiser(stage1, tmp_path, cache) -> None:
    """Stage 2 initialised from the stage-1 checkpoint, with one more epoch of cross-entropy
    (``pretrain_epochs``) before the metric loss: both multi-task mechanisms in one short fit."""
    import pytorch_lightning as pl

    class Watch(pl.Callback):
        def __init__(self) -> None:
            self.optimizers, self.logged = [], []

        def on_train_start(self, trainer, pl_module) -> None:
            self.conv1 = pl_module.backbone.state_dict()[CONV1].clone()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == 0:
                self.optimizers.append(id(trainer.optimizers[0]))

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.logged.append(set(trainer.callback_metrics))

    overrides = [
        "experiment=smoke",
        "objective=triplet",
        f"task.init_from={stage1}",
        "data.sampler.p=4",
        "task.pretrain_epochs=1",
        "trainer.max_epochs=2",
        "task.ce_weight=0.5",
    ]
    cfg = compose_train([*overrides, *TINY], tmp_path, cache)
    check(cfg)
    watch = Watch()
    task, trainer = fit(cfg, [watch])
    stored = load_file(stage1)["state_dict"]["backbone." + CONV1]
    assert torch.equal(watch.conv1, stored)  # started from stage 1
    assert not torch.equal(task.backbone.state_dict()[CONV1], stored)  # and then trained
    assert len(watch.optimizers) == 2 and watch.optimizers[0] != watch.optimizers[1]
    assert "train/triplet" not in watch.logged[0] and "train/ce" in watch.logged[0]
    assert "train/triplet" in watch.logged[1]
    metrics = trainer.callback_metrics
    assert {"val/eer", "val/precision_at_1", "val/acc"} <= set(metrics)
    assert 0.0 <= float(metrics["val/precision_at_1"]) <= 1.0


def test_metric_task_refuses_a_classification_loss(tmp_path) -> None:
    cfg = compose_train(["experiment=smoke", "task=metric"], tmp_path)
    with pytest.raises(Exception, match="needs a metric loss"):
        instantiate(
            cfg.task,
            backbone=SigNet("thin"),
            num_classes=4,
            optimizer=instantiate(cfg.optimizer),
            scheduler=None,
            loss=instantiate(cfg.loss),
        )


# ---- experiments -----------------------------------------------------------------------------------------
SELECT_P1 = {
    "callbacks.model_checkpoint.monitor": "val/precision_at_1",
    "callbacks.model_checkpoint.mode": "max",
}
RECIPES = {
    "viana2022_triplet": {
        "data.sampler.p": 128,
        "data.sampler.k": 2,
        "loss.margin": 0.1,
        "loss.mining": "semihard",
        **SELECT_P1,
    },
    "viana2022_ntxent": {"loss.temperature": 0.01, "data.sampler.p": 128},
    "viana2022_multitask_triplet": {
        "task.pretrain_epochs": 60,
        "trainer.max_epochs": 120,
        "loss.margin": 0.1,
    },
    "viana2022_multitask_ntxent": {"task.pretrain_epochs": 60, "loss.temperature": 0.01},
    "malav2019_resnet50_triplet": {
        "data.sampler.p": 16,
        "data.sampler.k": 4,
        "loss.margin": 0.5,
        "optimizer.lr": 0.0001,
        "model.model.embedding_dim": 128,
        "task.identification_references": 5,
        "data.input_size": [170, 242],
        "callbacks.model_checkpoint.monitor": "val/identification_acc",
    },
    "compare_losses": {"task._target_": "sigbench.features.tasks.ClassificationTask"},
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_new_experiments_compose_with_their_recipe(name: str, toy_npz, tmp_path) -> None:
    from tests.test_train import experiment_overrides

    cfg = compose_train([f"experiment={name}", *experiment_overrides(name, toy_npz, tmp_path)], tmp_path)
    check(cfg)
    for key, value in RECIPES[name].items():
        got = OmegaConf.select(cfg, key)
        assert (OmegaConf.to_container(got) if OmegaConf.is_config(got) else got) == value, key


# ---- embedding export ------------------------------------------------------------------------------------
def test_embed_cli_writes_embeddings_and_a_projector(stage1, tmp_path, monkeypatch) -> None:
    from sigbench.cli.embed import main

    out = tmp_path / "emb"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "sigbench-embed",
            f"ckpt={stage1}",
            "projector=true",
            f"hydra.run.dir={out}",
            f"paths.root_dir={tmp_path}",
        ],
    )
    main()
    data = np.load(out / "embeddings.npz")
    assert data["features"].shape == (14, 1024) and data["features"].dtype == np.float32  # 2 writers x 7
    assert data["y"].tolist() == [4] * 7 + [5] * 7 and int(data["yforg"].sum()) == 2
    assert len(data["filenames"]) == 14 and len(data["user_mapping"]) == 6
    assert list((out / "projector").rglob("sprite.png"))
    assert (out / "projector" / "projector_config.pbtxt").exists()
