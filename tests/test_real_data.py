"""Real data out of the box: cached preparation, combined sources, evaluation on another dataset, and the
real-data experiments (composed with tiny overrides on a few BHSig260 writers linked into a tmp folder).

Skipped, saying why, when the shared data folder (``../shared/data``) is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sigbench.checkpoint_io import load_file
from sigbench.data import cache, prepare
from sigbench.data.combine import split_by_writers
from sigbench.data.datasets import BhsigBengaliAdapter
from sigbench.features.tasks import ClassificationTask
from sigbench.runner.build import build_data, build_task, check
from sigbench.runner.evaluate import evaluate_checkpoint
from sigbench.runner.train import train
from sigbench.runner.validation import ConfigError
from tests.helpers import SHARED_DATA
from tests.train_helpers import TINY_SYNTHETIC, compose_train

BHSIG = SHARED_DATA / "bhsig260_bengali"
NISDCC = SHARED_DATA / "sigcomp2009_nisdcc_preview"

#: Experiments reading the shared data: test_train.py's generic composition test (tiny overrides for
#: synthetic or npz data) cannot shrink them, so this file composes them with its own overrides.
SHARED_DATA_EXPERIMENTS = ("bhsig_signet_f", "bhsig_to_nisdcc", "synthetic_pretrain_bhsig")
#: ... plus stage 1 of synthetic_pretrain_bhsig (synthetic data; the generic test covers it too).
REAL_DATA_EXPERIMENTS = (*SHARED_DATA_EXPERIMENTS, "synthetic_pretrain")

needs_shared = pytest.mark.skipif(
    not (BHSIG.is_dir() and NISDCC.is_dir()),
    reason=f"shared real data not found at {SHARED_DATA} (bhsig260_bengali, sigcomp2009_nisdcc_preview)",
)


def link_writers(dest: Path, writers: range, genuine: int = 8, forgeries: int = 4) -> Path:
    """A BHSig-shaped folder of symlinks to a few scans of some writers (no image is copied)."""
    for writer in writers:
        folder = dest / str(writer)
        folder.mkdir(parents=True)
        for kind, count in (("G", genuine), ("F", forgeries)):
            for scan in sorted((BHSIG / str(writer)).glob(f"B-S-{writer}-{kind}-*"))[:count]:
                (folder / scan.name).symlink_to(scan)
    return dest


@pytest.fixture(scope="module")
def bhsig_four(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return link_writers(tmp_path_factory.mktemp("bhsig4"), range(1, 5))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the composition tests, so the 4-writer subset is prepared once."""
    return tmp_path_factory.mktemp("cache")


@needs_shared
def test_load_or_prepare_caches_and_prepares_again_only_when_the_files_change(tmp_path, monkeypatch) -> None:
    root = link_writers(tmp_path / "bhsig", range(1, 3))
    calls = []
    real = prepare.prepare_dataset
    monkeypatch.setattr(prepare, "prepare_dataset", lambda *a, **k: calls.append(a) or real(*a, **k))

    first = cache.load_or_prepare(BhsigBengaliAdapter(root), tmp_path / "c", workers=0)
    second = cache.load_or_prepare(BhsigBengaliAdapter(root), tmp_path / "c", workers=0)

    assert len(calls) == 1
    np.testing.assert_array_equal(first.x, second.x)
    assert first.users.tolist() == [0, 1] and first.user_mapping.tolist() == ["1", "2"]
    unique = {(p.parent.name, prepare.file_md5(p)) for p in root.glob("*/*.png")}
    assert len(first) == len(unique)  # byte-identical duplicates inside a writer were removed
    assert [p.name.split("-")[0] for p in (tmp_path / "c").glob("*.npz")] == ["bhsig260_bengali"]

    next(root.glob("2/B-S-2-F-*")).unlink()  # the file list changed: a new key, prepared again
    third = cache.load_or_prepare(BhsigBengaliAdapter(root), tmp_path / "c", workers=0)
    assert len(calls) == 2 and len(third) == len(first) - 1


def test_load_or_prepare_names_a_missing_folder(tmp_path) -> None:
    missing = tmp_path / "shared" / "data" / "bhsig260_bengali"
    with pytest.raises(FileNotFoundError, match=f"dataset folder {missing} does not exist.*shared_data_dir"):
        cache.load_or_prepare(BhsigBengaliAdapter(missing), tmp_path / "c")


@needs_shared
def test_synthetic_plus_bhsig_has_disjoint_ids_sources_and_a_writer_disjoint_split(
    bhsig_four, shared_cache, tmp_path
) -> None:
    cfg = compose_train(
        [
            "data=synthetic_plus_bhsig",
            f"data.dataset.sources.bhsig.adapter.path={bhsig_four}",
            "data.dataset.sources.bhsig.workers=0",
            "data.dataset.sources.synthetic.num_writers=3",
            "data.dataset.sources.synthetic.genuine_per_writer=4",
            "data.dataset.sources.synthetic.forgeries_per_writer=1",
            "data.dataset.sources.synthetic.num_workers=0",
            "data.holdout_users=[2,4]",
        ],
        tmp_path,
        shared_cache,
    )
    dm = build_data(cfg)
    ds = dm.dataset

    bhsig, synthetic = ds.source == "bhsig", ds.source == "synthetic/synthetic"
    assert (bhsig | synthetic).all() and bhsig.any() and synthetic.any()
    assert np.unique(ds.y[bhsig]).tolist() == [0, 1, 2, 3]  # the real set first: its ids do not move
    assert np.unique(ds.y[synthetic]).tolist() == [4, 5, 6]
    assert all(m.startswith("bhsig:") for m in ds.user_mapping[:4])
    assert all(m.startswith("synthetic:") for m in ds.user_mapping[4:])
    # training writers and held-out writers never share a writer, and the held-out ones are BHSig's
    assert not set(dm.class_users) & set(dm.holdout_users)
    assert set(ds.source[np.isin(ds.y, dm.holdout_users)]) == {"bhsig"}
    assert dm.class_users.tolist() == [0, 1, 4, 5, 6]
    train_part, test_part = split_by_writers(ds, (0.5, 0.5), seed=0)
    assert not set(ds.user_mapping[train_part.users]) & set(ds.user_mapping[test_part.users])


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path, Path]:
    """A tiny synthetic SigNet-thin run whose post-training hook verifies on its own held-out writers
    *and* on NISDCC through a protocol ``data`` key: (last checkpoint, metrics, run folder, cache)."""
    root = tmp_path_factory.mktemp("smoke")
    overrides = [
        "experiment=smoke",
        *TINY_SYNTHETIC,
        "~callbacks.progress_bar",
        "+protocol@evaluation.nisdcc=nisdcc_distance",
        "evaluation.nisdcc.folds=2",
        "evaluation.nisdcc.data.dataset.workers=0",
        "+protocol@evaluation.own=distance",
        "evaluation.own.folds=2",
        "evaluation.own.options.gen_for_ref=3",
        "evaluation.own.options.gen_for_test=2",
    ]
    metrics = train(compose_train(overrides, root / "run", root / "cache"))
    ckpt = root / "run" / "checkpoints" / "last.ckpt"  # the one the hook evaluates
    return ckpt, metrics, root / "run", root / "cache"


def nisdcc_protocol(cache_dir: Path, tmp_path: Path) -> dict:
    data = compose_train(["data=nisdcc", "data.dataset.workers=0"], tmp_path, cache_dir).data
    options = {"gen_for_ref": 3, "gen_for_test": 2}
    return {
        "name": "distance",
        "folds": 1,
        "options": options,
        "data": OmegaConf.to_container(data, resolve=True),
    }


@needs_shared
def test_training_hook_evaluates_on_the_protocols_own_dataset(smoke_run) -> None:
    _, metrics, run, cache_dir = smoke_run
    assert 0.0 <= metrics["nisdcc/EER"] <= 1.0 and 0.0 <= metrics["own/EER"] <= 1.0
    results = json.loads((run / "verification" / "nisdcc" / "results.json").read_text())
    assert results["summary"]["n_folds"] == 2
    # features cached separately, one file per dataset: the run's 6 synthetic writers, NISDCC's 12
    writers = sorted(np.unique(np.load(f)["y"]).size for f in (cache_dir / "features").glob("*.npz"))
    assert writers == [6, 12]


@needs_shared
def test_protocol_data_reuses_cached_features_and_rejects_misuse(smoke_run, tmp_path) -> None:
    ckpt, _, _, cache_dir = smoke_run
    protocol = nisdcc_protocol(cache_dir, tmp_path)
    before = sorted((cache_dir / "features").glob("*.npz"))

    summary = evaluate_checkpoint(ckpt, {"n": protocol}, tmp_path / "again", cache_dir=cache_dir)

    assert 0.0 <= summary["n"]["metrics"]["EER"]["mean"] <= 1.0
    assert sorted((cache_dir / "features").glob("*.npz")) == before  # no new extraction
    with pytest.raises(ConfigError, match="needs a model"):
        evaluate_checkpoint(None, {"n": protocol}, tmp_path / "f", features=before[0])
    with pytest.raises(ConfigError, match="data must be a data config"):
        evaluate_checkpoint(ckpt, {"n": {**protocol, "data": "nisdcc"}}, tmp_path / "g")


@needs_shared
def test_finetune_task_starts_from_the_checkpoint_backbone(smoke_run, tmp_path) -> None:
    ckpt = smoke_run[0]
    cfg = compose_train(["experiment=smoke", "task=finetune", f"task.init_from={ckpt}"], tmp_path)
    task = build_task(cfg, num_classes=3)
    assert isinstance(task, ClassificationTask) and task.init_from == str(ckpt)

    task.setup("fit")

    stored = load_file(ckpt)["state_dict"]
    for key, value in task.backbone.state_dict().items():
        torch.testing.assert_close(value, stored[f"backbone.{key}"])
    missing = build_task(
        compose_train(["experiment=smoke", "task=finetune", "task.init_from=nope.ckpt"], tmp_path), 3
    )
    with pytest.raises(FileNotFoundError, match="task.init_from: nope.ckpt does not exist"):
        missing.setup("fit")


def experiment_overrides(name: str, bhsig: Path) -> list[str]:
    """Tiny overrides: four linked BHSig writers (2 trained, 2 held out), a handful of synthetic ones."""
    if name == "synthetic_pretrain":
        return TINY_SYNTHETIC
    small_synthetic = [
        "data.dataset.sources.synthetic.num_writers=2",
        "data.dataset.sources.synthetic.genuine_per_writer=4",
        "data.dataset.sources.synthetic.forgeries_per_writer=1",
        "data.dataset.sources.synthetic.num_workers=0",
    ]
    prefix = "data.dataset.sources.bhsig" if name == "bhsig_to_nisdcc" else "data.dataset"
    return [
        f"{prefix}.adapter.path={bhsig}",
        f"{prefix}.workers=0",
        "data.holdout_users=[2,4]",
        "task.holdout_references=2",
        *(small_synthetic if name == "bhsig_to_nisdcc" else []),
    ]


@needs_shared
@pytest.mark.parametrize("name", REAL_DATA_EXPERIMENTS)
def test_real_data_experiments_compose_and_instantiate(name: str, bhsig_four, shared_cache, tmp_path) -> None:
    cfg = compose_train(
        [f"experiment={name}", *experiment_overrides(name, bhsig_four)], tmp_path, shared_cache
    )
    check(cfg)
    dm = build_data(cfg)
    task = build_task(cfg, num_classes=dm.num_classes)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    assert dm.num_classes >= 2 and trainer.max_epochs >= 1
    batch = next(iter(dm.train_dataloader()))
    feats, logits, _ = task(batch["x"][:2])
    assert logits.shape == (2, dm.num_classes) and feats.shape[1] == task.backbone.feature_dim
    if name != "synthetic_pretrain":
        assert cfg.data.include_forgeries and cfg.data.augmentation is not None
        assert {"wd", "wi"} <= set(cfg.evaluation)
    if name == "synthetic_pretrain_bhsig":
        assert str(cfg.task.init_from).endswith("synthetic_pretrain/stage1/checkpoints/last.ckpt")
    if name == "bhsig_to_nisdcc":
        assert cfg.evaluation.nisdcc_distance.data.dataset.adapter.path.endswith("sigcomp2009_nisdcc_preview")
