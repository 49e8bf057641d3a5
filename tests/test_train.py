"""Training integration: every experiment composes and builds, fast_dev_run, resume, start-up errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sigbench.checkpoint_io import load_file
from sigbench.runner.build import build_data, build_task, check
from sigbench.runner.checkpoints import read_checkpoint_config
from sigbench.runner.train import train
from sigbench.runner.validation import ConfigError
from tests.helpers import CONF, REPO
from tests.train_helpers import (
    BUILT_ELSEWHERE,
    EXPERIMENTS,
    TINY_SYNTHETIC,
    compose_train,
    experiment_families,
    run_cli,
)


def experiment_overrides(name: str, toy_npz: Path, tmp_path: Path) -> list[str]:
    """Experiments on an npz get the toy npz as their dataset; synthetic ones a tiny population."""
    if experiment_families()[name] != "features":
        raise ValueError(f"experiment {name} is built in {BUILT_ELSEWHERE[experiment_families()[name]]}")
    plain = compose_train([f"experiment={name}"], tmp_path)
    if plain.get("evaluation"):  # protocols on writers of the tiny population below
        users = [f"evaluation.{name}.exp_users=[4,6]" for name in plain.evaluation]
        users += [f"evaluation.{name}.dev_users=[0,4]" for name in plain.evaluation]
        if not OmegaConf.is_missing(plain.data, "dataset"):
            return [*TINY_SYNTHETIC, *users]
    if OmegaConf.is_missing(plain.data, "dataset"):
        return [
            f"data.dataset={toy_npz}",
            "data.train_users=[0,6]",
            "data.holdout_users=[6,8]",
            "data.num_workers=0",
            "task.holdout_references=2",
        ]
    return TINY_SYNTHETIC


FEATURE_EXPERIMENTS = [name for name, family in experiment_families().items() if family == "features"]


@pytest.mark.parametrize("name", FEATURE_EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(name: str, toy_npz, tmp_path) -> None:
    overrides = experiment_overrides(name, toy_npz, tmp_path)
    cfg = compose_train([f"experiment={name}", *overrides], tmp_path, tmp_path / "c")
    check(cfg)
    dm = build_data(cfg)
    task = build_task(cfg, num_classes=dm.num_classes)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    assert dm.num_classes >= 2 and trainer.max_epochs >= 1
    batch = next(iter(dm.train_dataloader()))
    feats, logits, _ = task(batch["x"][:2])
    assert logits.shape == (2, dm.num_classes) and feats.shape[1] == task.backbone.feature_dim


def test_experiments_not_built_here_are_built_by_their_own_tests() -> None:
    """Instead of skipping them above: each is named by a test module of its family, none is forgotten."""
    elsewhere = {name: family for name, family in experiment_families().items() if family != "features"}
    assert FEATURE_EXPERIMENTS and elsewhere and set(FEATURE_EXPERIMENTS) | set(elsewhere) == set(EXPERIMENTS)
    for name, family in elsewhere.items():
        modules = BUILT_ELSEWHERE[family]
        named = re.compile(rf"\b{name}\b")  # a whole name: not a prefix of a longer one
        assert any(named.search((REPO / "tests" / m).read_text()) for m in modules), (name, modules)


def test_fast_dev_run_smoke_trains_one_step(tmp_path) -> None:
    cfg = compose_train(["experiment=smoke", "debug=fast_dev_run", *TINY_SYNTHETIC], tmp_path, tmp_path / "c")
    dm = build_data(cfg)
    task = build_task(cfg, num_classes=dm.num_classes)
    before = {k: v.clone() for k, v in task.state_dict().items()}
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.fit(task, datamodule=dm)
    changed = [k for k, v in task.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("backbone.conv_layers.conv1") for k in changed)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_smoke_training_reports_verification_and_writes_checkpoints(tmp_path) -> None:
    cfg = compose_train(["experiment=smoke", *TINY_SYNTHETIC], tmp_path, tmp_path / "c")
    metrics = train(cfg)
    assert 0.0 <= metrics["val/eer"] <= 1.0 and 0.0 <= metrics["val/acc"] <= 1.0
    last = tmp_path / "checkpoints" / "last.ckpt"
    stored = read_checkpoint_config(last)
    assert stored["model"]["variant"] == "thin" and stored["_runtime"]["num_classes"] == 4
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_resume_continues_the_same_run(toy_npz, tmp_path) -> None:
    common = [
        f"data={'npz'}",
        f"data.dataset={toy_npz}",
        "data.train_users=[0,6]",
        "data.holdout_users=[6,8]",
        "data.num_workers=0",
        "model=signet_thin",
        "task.holdout_references=2",
        "task.log_images=false",
        "trainer.enable_model_summary=false",
        "~callbacks.progress_bar",
    ]
    # the best checkpoint tracks a metric that rarely "improves" (training loss, mode max), so only an
    # unconditional last.ckpt carries every epoch (Lightning 2.6's save_last would lag behind)
    common.append("callbacks.model_checkpoint.monitor=train/loss")
    common.append("callbacks.model_checkpoint.mode=max")
    train(compose_train([*common, "trainer.max_epochs=1"], tmp_path))
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    first = load_file(ckpt)
    train(compose_train([*common, "trainer.max_epochs=3", "resume=true"], tmp_path))
    second = load_file(ckpt)
    completed = [c["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] for c in (first, second)]
    assert completed[1] == completed[0] + 2  # two more epochs, saved at the same point of the loop
    assert second["epoch"] == 2
    assert second["global_step"] == 3 * first["global_step"] > 0
    # one run folder, one TensorBoard run: the resumed epochs are appended to the same logs
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == sorted(["checkpoints", "tensorboard"]) or (
        {"checkpoints", "tensorboard"} <= {p.name for p in tmp_path.iterdir()}
    )
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) >= 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+model.varient=thin", "model.varient: .*SigNet has no argument 'varient'"),
        ("data.batch_size=many", "data.batch_size: 'many' is a str"),
        ("loss=signet_f", "set data.include_forgeries=true"),
        ("optimizer._target_=torch.optim.Nope", "optimizer._target_: cannot import"),
    ],
)
def test_config_mistakes_fail_before_training_naming_the_key(override: str, message: str, tmp_path) -> None:
    cfg = compose_train(["experiment=smoke", override], tmp_path, tmp_path / "c")
    with pytest.raises(ConfigError, match=message):
        check(cfg)


def test_cli_reports_config_errors_without_training(tmp_path) -> None:
    result = run_cli(
        ["sigbench-train", "experiment=smoke", "+model.varient=thin", f"hydra.run.dir={tmp_path / 'r'}"],
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    assert "config error: model.varient" in result.stderr
    assert not (tmp_path / "r" / "checkpoints").exists()
    typo = run_cli(["sigbench-train", "sed=1", f"hydra.run.dir={tmp_path / 'r'}"], cwd=tmp_path, timeout=120)
    assert typo.returncode != 0 and "Key 'sed' not in 'TrainSchema'" in typo.stderr


def test_missing_resume_checkpoint_is_named(tmp_path) -> None:
    cfg = compose_train(["experiment=smoke", "resume=true"], tmp_path, tmp_path / "c")
    from sigbench.runner.train import resume_checkpoint

    with pytest.raises(ConfigError, match="resume=true: no .*last.ckpt"):
        resume_checkpoint(cfg)


def test_same_seed_same_numbers_on_cpu(tmp_path) -> None:
    """One seed sets every RNG: two runs of one config give identical weights and metrics."""
    results = []
    for run in ("a", "b"):
        cfg = compose_train(
            ["experiment=smoke", *TINY_SYNTHETIC, "~callbacks.progress_bar", "logger=csv"],
            tmp_path / run,
            tmp_path / "cache",
        )
        metrics = train(cfg)
        state = load_file(tmp_path / run / "checkpoints" / "last.ckpt")["state_dict"]
        results.append((metrics, state))
    (m1, s1), (m2, s2) = results
    assert m1 == m2
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    other = compose_train(
        ["experiment=smoke", *TINY_SYNTHETIC, "seed=7", "logger=csv"], tmp_path / "c", tmp_path / "cache"
    )
    train(other)
    s3 = load_file(tmp_path / "c" / "checkpoints" / "last.ckpt")["state_dict"]
    assert not torch.equal(
        s1["backbone.conv_layers.conv1.conv.weight"], s3["backbone.conv_layers.conv1.conv.weight"]
    )


def test_eval_cli_on_another_dataset_matches_the_python_api(toy_npz, tmp_path) -> None:
    """``sigbench-eval data=npz data.dataset=...``: the CLI resolves the data config (``seed: ${seed}``)
    and gives the same EER as :func:`evaluate_checkpoint` called with the equivalent plain dict."""
    from sigbench.runner.evaluate import evaluate_checkpoint

    train(compose_train(["experiment=smoke", "trainer.max_epochs=1", *TINY_SYNTHETIC], tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    options = ["protocol.folds=2", "protocol.exp_users=[0,8]"]
    options += ["protocol.options.gen_for_ref=3", "protocol.options.gen_for_test=3"]
    result = run_cli(
        [
            "sigbench-eval",
            f"ckpt={ckpt}",
            "data=npz",
            f"data.dataset={toy_npz}",
            "data.num_workers=0",
            "protocol=distance",
            *options,
            "cache_features=false",
            f"hydra.run.dir={tmp_path / 'eval'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cli_eer = json.loads((tmp_path / "eval" / "distance" / "results.json").read_text())["summary"]
    data_cfg = OmegaConf.to_container(compose_train(["data=npz"], tmp_path).data)
    data_cfg.update(dataset=str(toy_npz), num_workers=0, seed=1234)
    protocol = OmegaConf.to_container(OmegaConf.load(CONF / "protocol" / "distance.yaml"))
    protocol.update(folds=2, exp_users=[0, 8])
    protocol["options"].update(gen_for_ref=3, gen_for_test=3)
    api = evaluate_checkpoint(ckpt, {"distance": protocol}, out_dir=tmp_path / "api", data_cfg=data_cfg)
    eer = api["distance"]["metrics"]["EER"]["mean"]
    assert 0.0 <= eer <= 1.0
    assert cli_eer["metrics"]["EER"]["mean"] == pytest.approx(eer, abs=1e-12)


def test_reported_metrics_are_epoch_scalars_of_any_task() -> None:
    from sigbench.runner.train import reported

    metrics = {
        "train/loss": torch.tensor(1.5),
        "train/loss_step": torch.tensor(2.0),
        "train/loss_epoch": torch.tensor(1.5),
        "val/f_50": torch.tensor(0.25),
        "val/per_class": torch.zeros(3),
        "lr-Adam": torch.tensor(0.1),
    }
    assert reported(metrics) == {"train/loss": 1.5, "val/f_50": 0.25}
