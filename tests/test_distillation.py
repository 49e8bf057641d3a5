"""Distillation with continual learning: loss terms against their definitions, the student's head, the
paired data (inverted set drawn with replacement), model selection, standalone student checkpoints, and
the whole recipe at smoke size (teacher -> sigbench-invert -> student -> verification)."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import yaml
from torch import nn

from sigbench.checkpoint_io import load_file
from sigbench.data.distillation import DistillationDataModule, WithReplacementBatches
from sigbench.data.formats import save_npz
from sigbench.features.losses.distillation import DistillationLoss, pad_logits
from sigbench.features.selection import SelectionCheckpoint, is_better, selection_score
from sigbench.features.tasks.distillation import DistillationTask, val_accuracy
from sigbench.runner.checkpoints import CONFIG_KEY, ConfigInCheckpoint
from tests.distill_helpers import SMALL, TinyNet, class_images, continual_set, tiny_teacher, uint8_set
from tests.helpers import CONF

SGD = functools.partial(torch.optim.SGD, lr=0.01)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def teacher():
    return tiny_teacher(num_classes=4, seed=0, steps=20)


# ---- loss ----------------------------------------------------------------------------------------------
def _softmax(row: list[float], t: float) -> list[float]:
    exps = [math.exp(v / t) for v in row]
    return [e / sum(exps) for e in exps]


def _kl_batchmean(student: list[list[float]], teacher: list[list[float]], t: float) -> float:
    """sum_b sum_k q_bk (log q_bk - log p_bk) / B, with p = softmax(student / T), q = softmax(teacher / T)."""
    total = 0.0
    for s_row, t_row in zip(student, teacher, strict=True):
        p, q = _softmax(s_row, t), _softmax(t_row, t)
        total += sum(qk * (math.log(qk) - math.log(pk)) for pk, qk in zip(p, q, strict=True) if qk > 0)
    return total / len(student)


def _cross_entropy(logits: list[list[float]], y: list[int]) -> float:
    return sum(
        math.log(sum(math.exp(v) for v in row)) - row[k] for row, k in zip(logits, y, strict=True)
    ) / len(y)


S_INV = [[1.0, -0.5, 0.2, 0.0, 2.0, -1.0], [0.3, 0.3, -2.0, 1.5, 0.0, 0.4], [-1.0, 0.0, 1.0, 0.5, 0.2, 0.1]]
T_INV = [[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 3.0], [0.5, -0.5, 2.5, 0.0]]
S_C = [[0.1, 0.2, -0.3, 0.4, 1.0, -2.0], [1.2, 0.0, 0.0, -0.7, -0.5, 2.5]]
T_C = [[1.0, 0.0, 0.0, -1.0], [-0.2, 0.4, 1.1, 0.0]]
Y_C = [0, 1]  # new classes, i.e. student outputs 4 and 5


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_loss_terms_equal_their_sums(temperature: float) -> None:
    loss = DistillationLoss(d_lamb=0.5, c_lamb=2.0, p_lamb=1.7, temperature=temperature)
    out = loss(*map(torch.tensor, (S_INV, T_INV, S_C, T_C)), torch.tensor(Y_C))
    kd_d = _kl_batchmean(S_INV, [[*row, 0.0, 0.0] for row in T_INV], temperature)  # zero-padded teacher
    ce_c = _cross_entropy([row[4:] for row in S_C], Y_C)
    kd_p = _kl_batchmean([row[:4] for row in S_C], T_C, temperature)
    assert float(out.parts["kd_d"]) == pytest.approx(kd_d, rel=1e-5)
    assert float(out.parts["ce_c"]) == pytest.approx(ce_c, rel=1e-5)
    assert float(out.parts["kd_p"]) == pytest.approx(kd_p, rel=1e-5)
    assert float(out.loss) == pytest.approx(0.5 * kd_d + 2.0 * ce_c + 1.7 * kd_p, rel=1e-5)
    squared = DistillationLoss(temperature=temperature, t_squared=True)
    out2 = squared(*map(torch.tensor, (S_INV, T_INV, S_C, T_C)), torch.tensor(Y_C))
    assert float(out2.parts["kd_p"]) == pytest.approx(temperature**2 * kd_p, rel=1e-5)


def test_plain_distillation_is_kd_d_alone_and_mask_padding_drops_the_new_classes() -> None:
    s_inv, t_inv = torch.tensor(S_INV), torch.tensor(T_INV)
    plain = DistillationLoss(d_lamb=3.0)(s_inv, t_inv)
    assert set(plain.parts) == {"kd_d"}
    assert float(plain.loss) == pytest.approx(
        _kl_batchmean(S_INV, [[*r, 0.0, 0.0] for r in T_INV], 1.0), rel=1e-5
    )
    masked = DistillationLoss(padding="mask")(s_inv, t_inv)
    # the teacher puts no mass on outputs 4, 5: KL = sum_k<4 q_k (log q_k - log p_k) with p over all 6
    assert float(masked.loss) == pytest.approx(
        _kl_batchmean(S_INV, [[*r, -1e9, -1e9] for r in T_INV], 1.0), rel=1e-5
    )
    assert torch.equal(pad_logits(t_inv, 4), t_inv)
    with pytest.raises(ValueError, match="narrower"):
        pad_logits(t_inv, 3)


# ---- task ----------------------------------------------------------------------------------------------
def test_student_head_starts_from_the_teacher_rows(teacher) -> None:
    task = DistillationTask(TinyNet(), num_classes=3, optimizer=SGD, teacher=teacher, init_from_teacher=True)
    head, t_head = task.classification_head, teacher.head
    assert head.out_features == 4 + 3
    assert torch.equal(head.weight[:4], t_head.weight) and torch.equal(head.bias[:4], t_head.bias)
    for new in range(4, 7):  # new rows: freshly initialised, unlike any teacher row
        assert not any(torch.allclose(head.weight[new], t_head.weight[k]) for k in range(4))
    for name, value in teacher.backbone.state_dict().items():
        assert torch.equal(task.backbone.state_dict()[name], value)
    fresh = DistillationTask(TinyNet(), num_classes=3, optimizer=SGD, teacher=teacher)
    assert not torch.equal(fresh.classification_head.weight[:4], t_head.weight)
    # the teacher is not part of the student: not trained, not saved
    assert not any(k.startswith("teacher") for k in task.state_dict())
    assert all(p.requires_grad is False for p in teacher.parameters())
    with pytest.raises(ValueError, match="init_from_teacher"):
        DistillationTask(TinyNet(feature_dim=10), 3, SGD, teacher=teacher, init_from_teacher=True)


def test_val_accuracy_batch_mean_is_the_reference_figure() -> None:
    hits = torch.tensor([True, True, True, False, True])
    assert val_accuracy(hits, batch_size=4, mode="batch_mean") == pytest.approx((0.75 + 1.0) / 2)
    assert val_accuracy(hits, batch_size=4, mode="sample") == pytest.approx(0.8)


# ---- data ----------------------------------------------------------------------------------------------
def _inverted(per_class: int = 2, classes: int = 4):
    x, y = class_images(classes, per_class, seed=5)
    return uint8_set(x, y.numpy())


@pytest.mark.parametrize("resident", [False, True])
def test_inverted_set_is_drawn_with_replacement_to_the_continual_length(resident: bool) -> None:
    batches = WithReplacementBatches(population=5, num_samples=23, batch_size=4, seed=1)
    drawn = list(batches)
    assert len(batches) == len(drawn) == 6 and [len(b) for b in drawn] == [4, 4, 4, 4, 4, 3]
    flat = np.concatenate(drawn)
    assert flat.min() >= 0 and flat.max() < 5 and len(np.unique(flat)) < len(flat)  # repeats
    assert not np.array_equal(np.concatenate(list(batches)), flat)  # a new draw each epoch

    dm = DistillationDataModule(
        _inverted(per_class=2),
        continual_set(writers=4, genuine=6),
        train_users=[0, 3],
        holdout_users=[3, 4],
        val_fraction=0.2,
        batch_size=5,
        input_size=SMALL,
        inverted_val_fraction=0.25,
        device_resident=resident,
    )
    dm.setup("fit")
    loaders = dm.train_dataloader()
    inverted = list(loaders["inverted"])
    assert len(inverted) == len(loaders["continual"])
    assert sum(len(b["y"]) for b in inverted) == len(dm.train_index) == 15
    assert len(dm.inverted_train) == 6 and len(dm.inverted_val) == 2
    seen = torch.cat([b["x"].flatten(1) for b in inverted])
    assert len(torch.unique(seen, dim=0)) <= 6 < len(seen)  # drawn from 6 training images, with repeats
    assert inverted[0]["x"].shape[-2:] == SMALL  # used as they are, no crop
    assert dm.val_loader_kinds == ["classification", "verification", "inverted"]
    assert dm.num_classes == 3 and dm.teacher_labels == 4

    wrong = DistillationDataModule(_inverted(), continual_set(), input_size=(20, 30))
    with pytest.raises(ValueError, match="without cropping"):
        wrong.setup("fit")


# ---- selection -----------------------------------------------------------------------------------------
def test_selection_rule_on_hand_made_numbers() -> None:
    assert selection_score([0.9, 0.7]) == pytest.approx((0.8, 0.1))
    assert selection_score([0.6]) == (0.6, 0.0)
    assert is_better((0.5, 0.4), None)
    assert is_better((0.81, 0.3), (0.80, 0.0))  # higher mean wins whatever the std
    assert not is_better((0.79, 0.0), (0.80, 0.3))
    assert is_better((0.80, 0.05), (0.80, 0.10))  # equal mean: the smaller std
    assert not is_better((0.80, 0.15), (0.80, 0.10))
    assert is_better((0.80, 0.10), (0.80, 0.10))  # equal both: the later epoch (reference: <=)


class _Scripted(pl.LightningModule):
    """Logs a scripted (mean, std) per validation epoch."""

    def __init__(self, script: list[tuple[float, float]]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.script = script

    def training_step(self, batch, batch_idx):
        return (self.w - 1).pow(2).sum()

    def validation_step(self, batch, batch_idx):
        return None

    def on_validation_epoch_end(self) -> None:
        mean, std = self.script[self.current_epoch]
        self.log_dict({"val/selection": mean, "val/selection_std": std})

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return [torch.zeros(1)]

    def val_dataloader(self):
        return [torch.zeros(1)]


def test_selection_checkpoint_breaks_ties_by_the_smaller_std(tmp_path) -> None:
    script = [(0.5, 0.1), (0.7, 0.2), (0.7, 0.1), (0.7, 0.3), (0.6, 0.0)]
    checkpoint = SelectionCheckpoint(dirpath=tmp_path, filename="best-{epoch}", auto_insert_metric_name=False)
    trainer = pl.Trainer(
        max_epochs=len(script),
        callbacks=[checkpoint],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(_Scripted(script))
    assert Path(checkpoint.best_model_path).name == "best-2.ckpt"
    assert checkpoint.best_std == pytest.approx(0.1) and float(checkpoint.best_model_score) == pytest.approx(
        0.7
    )
    assert [p.name for p in tmp_path.glob("best-*.ckpt")] == ["best-2.ckpt"]


# ---- fitting -------------------------------------------------------------------------------------------
def _fit(
    task: DistillationTask, dm: DistillationDataModule, tmp_path: Path, config: dict | None = None
) -> pl.Trainer:
    callbacks = [SelectionCheckpoint(dirpath=tmp_path, save_last=True)]
    if config is not None:
        callbacks.append(ConfigInCheckpoint(config))
    trainer = pl.Trainer(
        max_epochs=1,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        num_sanity_val_steps=0,
    )
    trainer.fit(task, datamodule=dm)
    return trainer


def test_continual_fit_logs_the_selection_and_saves_a_standalone_student(teacher, tmp_path) -> None:
    dm = DistillationDataModule(
        _inverted(per_class=3),
        continual_set(writers=5, genuine=6),
        train_users=[0, 3],
        holdout_users=[3, 5],
        batch_size=4,
        eval_batch_size=4,
        input_size=SMALL,
    )
    dm.setup("fit")
    task = DistillationTask(
        TinyNet(), dm.num_classes, SGD, teacher=teacher, holdout_references=2, log_images=False
    )
    config = {"task": {"_target_": "x", "teacher": {"_target_": "load_teacher", "path": "t.ckpt"}}}
    trainer = _fit(task, dm, tmp_path, config)
    metrics = trainer.callback_metrics
    for key in ("train/kd_d", "train/ce_c", "train/kd_p", "val/acc", "val/acc_inverted", "val/eer"):
        assert key in metrics and torch.isfinite(metrics[key])
    mean, std = selection_score([float(metrics["val/acc"]), float(metrics["val/acc_inverted"])])
    assert float(metrics["val/selection"]) == pytest.approx(mean) and float(
        metrics["val/selection_std"]
    ) == pytest.approx(std)
    assert not teacher.training
    saved = load_file(tmp_path / "last.ckpt")
    assert saved[CONFIG_KEY]["task"]["teacher"] is None and saved[CONFIG_KEY]["task"]["teacher_classes"] == 4
    assert config["task"]["teacher"] is not None  # the run's own config is untouched
    assert not any(k.startswith("teacher") for k in saved["state_dict"])
    rebuilt = DistillationTask(TinyNet(), dm.num_classes, SGD, teacher_classes=4)
    rebuilt.load_state_dict(saved["state_dict"])  # a student needs no teacher to be evaluated
    with pytest.raises(RuntimeError, match="no teacher"):
        rebuilt.teacher_logits(torch.zeros(1, 1, *SMALL))


def test_plain_distillation_uses_the_inverted_images_alone(teacher, tmp_path) -> None:
    dm = DistillationDataModule(_inverted(per_class=3), dataset=None, batch_size=4, input_size=SMALL)
    dm.setup("fit")
    assert (
        dm.num_classes == 0
        and dm.val_loader_kinds == ["inverted"]
        and set(dm.train_dataloader()) == {"inverted"}
    )
    assert sum(len(b["y"]) for b in dm.train_dataloader()["inverted"]) == len(dm.inverted_train)  # once each
    task = DistillationTask(TinyNet(), 0, SGD, teacher=teacher, log_images=False)
    assert task.classification_head.out_features == 4
    trainer = _fit(task, dm, tmp_path)
    metrics = trainer.callback_metrics
    assert "train/ce_c" not in metrics and torch.isfinite(metrics["train/kd_d"])
    assert float(metrics["val/selection"]) == pytest.approx(float(metrics["val/acc_inverted"]))
    assert float(metrics["val/selection_std"]) == 0.0


# ---- the recipe ----------------------------------------------------------------------------------------
def test_recipe_end_to_end_at_smoke_size(tmp_path) -> None:
    """distill_synthetic_teacher -> sigbench-invert -> distill_synthetic_student -> verification, tiny."""
    from hydra import compose, initialize_config_dir

    from sigbench.cli.invert import register_invert_schema, run
    from sigbench.runner.conf import conf_dir
    from sigbench.runner.evaluate import evaluate_checkpoint
    from sigbench.runner.train import train
    from tests.train_helpers import compose_train

    tiny = [
        "data.dataset.num_writers=6",
        "data.dataset.genuine_per_writer=5",
        "data.dataset.forgeries_per_writer=1",
        "data.dataset.num_workers=0",
        "data.holdout_users=[4,6]",
        "data.batch_size=8",
        "data.eval_batch_size=16",
        "task.holdout_references=2",
        "task.log_images=false",
        "trainer.max_epochs=1",
        "trainer.enable_model_summary=false",
        "~callbacks.progress_bar",
        "~callbacks.lr_monitor",
        "logger=csv",
        f"paths.log_dir={tmp_path}",
    ]
    cache, root = tmp_path / "cache", tmp_path / "distill_synthetic"  # the recipe's fixed folders
    # the teacher: SigNet-thin instead of SigNet to keep this test in seconds
    teacher_cfg = ["experiment=distill_synthetic_teacher", "model=signet_thin", "data.train_users=[0,2]"]
    train(compose_train([*teacher_cfg, *tiny, "~evaluation"], root / "teacher", cache))
    teacher_ckpt = root / "teacher" / "checkpoints" / "best.ckpt"

    register_invert_schema()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        invert_cfg = compose(
            "invert",
            overrides=[
                f"teacher={teacher_ckpt}",
                f"output={root / 'inverted.npz'}",
                "per_class=3",
                "batch_size=3",
                "chunk_size=3",
                "params.iterations=2",
                "params.jitter=4",
                "progress=false",
                "device=cpu",
            ],
        )
    report = run(invert_cfg)
    assert report.images == 6 and report.chunks_computed == 2

    student_cfg = [
        "experiment=distill_synthetic_student",
        "data.train_users=[2,4]",
        "~evaluation.wi",
        "evaluation.wd.exp_users=[4,6]",
        "evaluation.wd.dev_users=[2,4]",
        "evaluation.wd.folds=2",
        "evaluation.wd.options.gen_for_train=2",
        "evaluation.wd.options.gen_for_test=2",
        "evaluation.wd.options.forg_from_dev=2",
    ]
    metrics = train(compose_train([*student_cfg, *tiny], root / "student", cache))  # finds both by default
    assert 0.0 <= metrics["wd/EER"] <= 1.0  # verification after training, from the student's checkpoint
    # teacher vs student on the held-out writers; the student needs no teacher file to be rebuilt
    protocol = {"name": "distance", "folds": 1, "options": {"gen_for_ref": 2, "gen_for_test": 2}}
    teacher_summary = evaluate_checkpoint(teacher_ckpt, {"distance": protocol}, tmp_path / "et", device="cpu")
    teacher_ckpt.rename(tmp_path / "moved.ckpt")
    summary = evaluate_checkpoint(
        root / "student" / "checkpoints" / "best.ckpt", {"distance": protocol}, tmp_path / "es", device="cpu"
    )
    assert 0.0 <= teacher_summary["distance"]["metrics"]["EER"]["mean"] <= 1.0
    assert 0.0 <= summary["distance"]["metrics"]["EER"]["mean"] <= 1.0


@pytest.mark.parametrize("name", ["viana2024_distill", "viana2024_distill_sweep"])
def test_paper_experiments_compose_and_pass_the_startup_checks(name: str, tmp_path) -> None:
    from sigbench.runner.build import check
    from tests.train_helpers import compose_train

    # stand-ins for the files: the start-up checks read their headers and writer ids, never the images
    inverted, continual = tmp_path / "data.npz", tmp_path / "gpds_synthetic.npz"
    save_npz(uint8_set(torch.zeros(2, 1, 150, 220), np.array([0, 1])), inverted)
    save_npz(uint8_set(torch.zeros(2, 1, 8, 8), np.array([2000, 9950])), continual)
    given = ["task.teacher.path=signet.pth", f"data.inverted={inverted}", f"data.dataset={continual}"]
    cfg = compose_train([f"experiment={name}", *given], tmp_path)
    check(cfg)  # every _target_ against its signature, the data files' headers and writer ranges
    assert (cfg.loss.d_lamb, cfg.loss.c_lamb, cfg.loss.p_lamb, cfg.loss.temperature) == (1.0, 1.0, 1.7, 1.0)
    assert not cfg.loss.t_squared and cfg.loss.padding == "zeros"
    assert (cfg.data.batch_size, cfg.data.inverted_batch_size, cfg.trainer.max_epochs) == (32, 32, 60)
    assert cfg.callbacks.model_checkpoint.monitor == "val/selection"
    if name.endswith("sweep"):  # the sweep is in the experiment's hydra node (compose leaves it out)
        overlay = yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text())
        assert overlay["hydra"]["sweeper"]["params"]["loss.p_lamb"] == "0.0,1.0,1.7,3.0"
