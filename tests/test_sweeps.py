"""Sweeps and scale-out: a 2x2 multirun with its summary, a failing job that does not stop its sweep,
launcher / Optuna configs, DDP on two CPU processes in one run folder, and the DDP evaluation gather."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch.utils.data import DistributedSampler

from sigbench.runner.conf import conf_dir
from sigbench.runner.schema import register_schemas
from sigbench.runner.sweep import summary_tables
from tests.train_helpers import TINY_SYNTHETIC, run_cli

TINY = [
    "experiment=smoke",
    *TINY_SYNTHETIC,
    "data.batch_size=8",  # one small training batch per job: the sweep mechanics are the test
    "+trainer.limit_train_batches=1",
    "~callbacks.progress_bar",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic cache for the module: the tiny set is generated once."""
    return tmp_path_factory.mktemp("cache")


def read_summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_multirun_2x2_writes_a_folder_per_job_and_a_summary(tmp_path, cache) -> None:
    sweep = tmp_path / "sweep"
    args = ["optimizer.lr=0.01,0.02", "seed=1,2", "logger=csv", "callbacks=none", f"paths.cache_dir={cache}"]
    result = run_cli(["sigbench-train", "-m", *TINY[:-1], *args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1", "2", "3"]
    for job in jobs:  # its config, log, metrics and record (no checkpoints asked for: callbacks=none)
        assert {".hydra", "train.log", "csv", "job_result.json"} <= {p.name for p in (sweep / job).iterdir()}
    rows = read_summary(sweep)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    swept = {(o for o in r["overrides"].split() if o.startswith(("optimizer.lr=", "seed="))) for r in rows}
    assert len({tuple(s) for s in swept}) == 4
    assert all(0.0 <= float(r["val/eer"]) <= 1.0 for r in rows)
    table = (sweep / "summary.md").read_text()
    assert "| job | status | overrides |" in table and "optimizer.lr=0.02 seed=2" in table


def test_a_failing_job_is_reported_and_the_sweep_goes_on(tmp_path, cache, monkeypatch) -> None:
    from sigbench.cli.train import main

    sweep = tmp_path / "sweep"
    argv = [
        "sigbench-train",
        "-m",
        *TINY,
        "model.variant=thin,bogus",
        "logger=csv",
        f"paths.cache_dir={cache}",
        f"hydra.sweep.dir={sweep}",
        f"paths.root_dir={tmp_path}",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match="1 of 2 jobs failed"):
        main()  # the failure is recorded, the other job runs, and the sweep then exits non-zero
    rows = {r["job"]: r for r in read_summary(sweep)}
    assert rows["0"]["status"] == "completed" and float(rows["0"]["val/eer"]) >= 0.0
    assert rows["1"]["status"] == "failed" and "bogus" in rows["1"]["error"]
    assert "model.variant='bogus'" in (sweep / "1" / "error.txt").read_text()
    assert (sweep / "0" / "checkpoints" / "last.ckpt").exists()


def test_summary_of_failed_and_completed_jobs() -> None:
    rows = [
        {"job": 0, "status": "completed", "overrides": ["a=1", "b=1"], "metrics": {"val/eer": 0.25}},
        {"job": 1, "status": "failed", "overrides": ["a=1", "b=2"], "error": "ValueError: x|y"},
    ]
    csv_text, md = summary_tables(rows)
    assert csv_text.splitlines()[1] == "0,completed,a=1 b=1,0.2500,"
    assert "Overrides of every job: `a=1`" in md and "| 1 | failed | b=2 |  | ValueError: x\\|y |" in md


def compose_hydra(overrides: list[str]):
    register_schemas()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("launcher=joblib", "launcher", "JoblibLauncher"),
        ("launcher=submitit_slurm", "launcher", "SlurmLauncher"),
        ("hparams_search=optuna_eer", "sweeper", "OptunaSweeper"),
    ],
)
def test_launcher_and_search_configs_select_their_plugins(override: str, key: str, expected: str) -> None:
    cfg = compose_hydra(["experiment=smoke", override])
    assert cfg.hydra[key]._target_.endswith(expected)
    if key == "sweeper":
        assert cfg.hydra.sweeper.direction == "minimize" and "optimizer.lr" in cfg.hydra.sweeper.params
    assert compose_hydra(["experiment=smoke"]).hydra.callbacks.sweep_summary._target_.endswith("SweepSummary")


def logged_scalars(tensorboard_dir: Path, tag: str) -> list[float]:
    """Every value of ``tag`` in the TensorBoard event files of one run, in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tensorboard_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [e.value for e in events.Scalars(tag)]


def single_process_holdout_eer(ckpt: Path, out: Path, monkeypatch) -> float:
    """The held-out EER of a checkpoint, recomputed in this one process: ``sigbench-embed`` exports the
    held-out writers' embeddings, the verification function scores them."""
    from sigbench.cli.embed import main
    from sigbench.runner.build import load_task
    from sigbench.verification.holdout import holdout_verification

    argv = ["sigbench-embed", f"ckpt={ckpt}", "split=holdout", "device=cpu", f"hydra.run.dir={out}"]
    monkeypatch.setattr(sys, "argv", [*argv, f"paths.root_dir={out}"])
    main()
    data = np.load(out / "embeddings.npz")
    references = load_task(ckpt)[0].holdout_references
    return holdout_verification(data["features"], data["y"], data["yforg"], num_references=references)["EER"]


def test_ddp_cpu_trains_smoke_in_one_run_folder(tmp_path, cache, monkeypatch) -> None:
    run = tmp_path / "run"
    result = run_cli(
        ["sigbench-train", *TINY, "trainer=ddp_cpu", f"paths.cache_dir={cache}", f"hydra.run.dir={run}"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no second Hydra folder
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert (run / "train.log").exists() and (run / "train_ddp_process_1.log").exists()
    folders = {p.name for p in run.iterdir() if p.is_dir()}
    assert folders == {".hydra", "checkpoints", "tensorboard"}  # one TensorBoard run (rank 0 only)
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) >= 1
    # only rank 0 prints the summary (the held-out EER is computed on the set gathered from both ranks)
    eers = [line.split("│")[2].strip() for line in result.stdout.splitlines() if "│ val/eer " in line]
    assert len(eers) == 1 and eers[0].endswith("%")
    # the EER rank 0 logged, on the held-out set gathered from both ranks, is the whole set's EER: the same
    # checkpoint (one epoch, validated after its only step) evaluated again in a single process
    (gathered,) = logged_scalars(run / "tensorboard", "val/eer")
    alone = single_process_holdout_eer(run / "checkpoints" / "last.ckpt", tmp_path / "embed", monkeypatch)
    assert gathered == pytest.approx(alone, abs=1e-6)


class _FakeRanks:
    """Stands in for a LightningModule under DDP: all_gather stacks what each rank would hold."""

    def __init__(self, shards: list[torch.Tensor]) -> None:
        self.shards = shards
        self.device = torch.device("cpu")
        self._trainer = type("T", (), {"world_size": len(shards)})()
        self.trainer = self._trainer

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.shards)


@pytest.mark.parametrize(("n", "world"), [(10, 2), (11, 2), (7, 3), (2, 4)])
def test_gather_restores_dataset_order_from_distributed_shards(n: int, world: int) -> None:
    from sigbench.features.tasks.distributed import gather_in_order, shard

    data = torch.arange(n) * 10
    shards = [data[list(DistributedSampler(range(n), world, r, shuffle=False))] for r in range(world)]
    (ordered,) = gather_in_order(_FakeRanks(shards), [shards[0]], total=n)
    assert torch.equal(ordered, data)
    for r in range(world):  # our own sharding of references matches the sampler's
        assert torch.equal(data[shard(torch.arange(n), r, world)], shards[r])
