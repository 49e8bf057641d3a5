"""The scaling-study and GPU-recipe overlays (docs/synthetic_scale.md): each composes and passes the start-up
check; the rows differ from the reference in what their names say; the GPU recipe's data path (memory-mapped
population combined, resident on the device, channels_last) runs on the CPU at toy size."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from sigbench.runner.build import build_data, build_task, check
from tests.helpers import CONF, SHARED_DATA
from tests.train_helpers import compose_train

OVERLAYS = sorted(
    p.stem for p in (CONF / "experiment").glob("*.yaml") if p.stem.startswith(("synth_scale_", "synth_gpu_"))
)
NEEDS_SHARED = {"synth_scale_finetune_bhsig", "synth_gpu_signet_f"}  # BHSig is prepared from ../shared/data


def test_the_study_rows_and_the_gpu_recipe_exist():
    assert set(OVERLAYS) == {
        "synth_scale_writers_100",
        "synth_scale_writers_1000",
        "synth_scale_writers_5000",
        "synth_scale_signet",
        "synth_scale_signet_f",
        "synth_scale_multitask_triplet",
        "synth_scale_pretrain",
        "synth_scale_finetune_bhsig",
        "synth_gpu_signet_f",
        "synth_scale_100_epochs20",
        "synth_scale_100_signet",
        "synth_scale_100_signet_f",
        "synth_scale_100_multitask_triplet",
    }


@pytest.mark.parametrize("name", OVERLAYS)
def test_overlay_composes_and_passes_the_startup_check(name, tmp_path):
    if name in NEEDS_SHARED and not (SHARED_DATA / "bhsig260_bengali").is_dir():
        pytest.skip(f"{name} trains on BHSig260 from {SHARED_DATA}, which is absent")
    cfg = compose_train([f"experiment={name}"], tmp_path, tmp_path / "cache")
    assert cfg.name == name
    check(cfg)


@pytest.mark.parametrize("writers", [100, 1000, 5000])
def test_writer_rows_train_on_that_many_writers_and_hold_out_the_same_50(writers, tmp_path):
    cfg = compose_train([f"experiment=synth_scale_writers_{writers}"], tmp_path)
    assert cfg.data.dataset.num_writers == writers + 50
    assert list(cfg.data.train_users) == [50, writers + 50] and list(cfg.data.holdout_users) == [0, 50]
    assert cfg.data.dataset.style == "western" and cfg.data.dataset.seed == 2018
    assert cfg.model.variant == "thin"


def test_rows_change_one_thing_from_the_reference(tmp_path):
    ref = compose_train(["experiment=synth_scale_writers_1000"], tmp_path)
    signet = compose_train(["experiment=synth_scale_signet"], tmp_path)
    signet_f = compose_train(["experiment=synth_scale_signet_f"], tmp_path)
    triplet = compose_train(["experiment=synth_scale_multitask_triplet"], tmp_path)
    assert ref.model.variant == "thin" and signet.model.variant != "thin"
    assert signet.data == ref.data and signet.loss == ref.loss
    assert signet_f.data.include_forgeries and not ref.data.include_forgeries
    assert signet_f.loss.lamb == 0.95 and signet_f.model == ref.model
    assert triplet.task.pretrain_epochs == 4 and triplet.data.sampler is not None
    assert triplet.data.dataset == ref.data.dataset


@pytest.mark.parametrize("name", [n for n in OVERLAYS if n.startswith("synth_scale_") and "bhsig" not in n])
def test_every_population_row_holds_out_writers_0_to_50_and_never_trains_on_them(name, tmp_path):
    cfg = compose_train([f"experiment={name}"], tmp_path)
    first, last = cfg.data.train_users
    assert list(cfg.data.holdout_users) == [0, 50] and first >= 50 and last <= cfg.data.dataset.num_writers


def test_rows_at_make_run_scale_change_one_thing_from_writers_100(tmp_path):
    ref = compose_train(["experiment=synth_scale_writers_100"], tmp_path)
    rows = {
        name: compose_train([f"experiment=synth_scale_100_{name}"], tmp_path)
        for name in ("epochs20", "signet", "signet_f", "multitask_triplet")
    }
    for cfg in rows.values():
        assert cfg.data.dataset == ref.data.dataset and list(cfg.data.train_users) == [50, 150]
        assert cfg.validation_sets.keys() == ref.validation_sets.keys() == {"kaggle", "nisdcc"}
    assert rows["epochs20"].trainer.max_epochs == 20 and ref.trainer.max_epochs == 8
    assert rows["epochs20"].model == ref.model and rows["epochs20"].loss == ref.loss
    assert rows["signet"].model.variant != "thin" and rows["signet"].loss == ref.loss
    assert rows["signet_f"].data.include_forgeries and rows["signet_f"].model == ref.model
    triplet = rows["multitask_triplet"]
    assert triplet.data.sampler.p == 64 and triplet.model == ref.model and triplet.task.pretrain_epochs == 4


def test_gpu_recipe_is_paper_scale_with_the_fast_path(tmp_path):
    cfg = compose_train(["experiment=synth_gpu_signet_f"], tmp_path)
    synthetic = cfg.data.dataset.sources.synthetic
    assert synthetic.num_writers >= 5000 + 50
    assert (synthetic.genuine_per_writer, synthetic.forgeries_per_writer) == (24, 30)
    assert "bhsig" in cfg.data.dataset.sources
    assert cfg.model.variant != "thin" and cfg.loss.lamb == 0.95 and cfg.data.include_forgeries
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accelerator == "gpu"
    assert cfg.task.channels_last and cfg.data.device_resident and cfg.trainer.max_epochs == 60


def test_gpu_recipe_data_path_runs_on_the_cpu_at_toy_size(tmp_path):
    toy = [
        "trainer=cpu",
        "~data.dataset.sources.bhsig",
        "data.dataset.sources.synthetic.num_writers=6",
        "data.dataset.sources.synthetic.genuine_per_writer=6",
        "data.dataset.sources.synthetic.forgeries_per_writer=2",
        "data.dataset.sources.synthetic.num_workers=0",
        "data.holdout_users=[4,6]",
        "data.batch_size=4",
        "task.holdout_references=2",
    ]
    cfg = compose_train(["experiment=synth_gpu_signet_f", *toy], tmp_path, tmp_path / "cache")
    assert cfg.data.device_resident and cfg.task.channels_last
    assert list((tmp_path / "cache").glob("synthetic_population/*")) == []
    dm = build_data(cfg)
    assert len(list((tmp_path / "cache" / "synthetic_population").iterdir())) == 1  # generated, cached
    task = build_task(cfg, num_classes=dm.num_classes)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.strategy.connect(task)
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (4, 1, *cfg.data.input_size) and batch["x"].dtype == torch.uint8
    feats, logits, forgery = task(batch["x"])
    assert logits.shape == (4, dm.num_classes) == (4, 4) and torch.isfinite(feats).all()
    assert forgery is not None and forgery.shape[0] == 4  # SigNet-F's forgery output
    conv_weights = [p for p in task.backbone.parameters() if p.dim() == 4 and p.shape[2] > 1]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
