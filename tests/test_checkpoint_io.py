"""Loading model files safely (nothing in them runs) and writing checkpoints atomically.

Every tool that takes a checkpoint (eval, embed, detect, segment, clean, invert, resume) is given a
checkpoint of another task, a truncated one and an empty one: each must answer with one error that names the
file and says what it holds, before any work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sigbench.checkpoint_io import (
    CONFIG_KEY,
    AtomicCheckpointIO,
    CheckpointError,
    load_file,
    load_task,
    read_checkpoint,
)
from sigbench.features.init import backbone_state
from sigbench.features.models import SigNet
from sigbench.features.teacher import load_teacher
from sigbench.features.weights import read_sigver_weights
from sigbench.runner.conf import conf_dir
from sigbench.runner.schema import register_schemas
from sigbench.runner.validation import ConfigError
from tests.helpers import REPO
from tests.train_helpers import compose_train, run_cli

if TYPE_CHECKING:
    import pytorch_lightning as pl

TASKS = {
    "feature-extractor": "sigbench.features.tasks.ClassificationTask",
    "detection": "sigbench.detection.task.DetectionTask",
    "segmentation": "sigbench.segmentation.task.SegmentationTask",
    "cleaning": "sigbench.cleaning.task.CleaningTask",
}


def fake_checkpoint(path: Path, kind: str) -> Path:
    """A checkpoint that says it is of task ``kind`` (its config), with no weights worth loading."""
    config = {"task": {"_target_": TASKS[kind]}, "model": {"_target_": "torch.nn.Identity"}, "data": {}}
    torch.save({"state_dict": {}, "epoch": 0, CONFIG_KEY: config}, path)
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per kind of wrong input: each kind of task, truncated, empty."""
    root = tmp_path_factory.mktemp("ckpts")
    files = {kind: fake_checkpoint(root / f"{kind}.ckpt", kind) for kind in TASKS}
    whole = (root / "detection.ckpt").read_bytes()
    files["truncated"] = root / "truncated.ckpt"
    files["truncated"].write_bytes(whole[: len(whole) // 2])
    files["empty"] = root / "empty.ckpt"
    files["empty"].write_bytes(b"")
    return files


class _CreatesFile:
    """A pickle payload: unpickling it calls ``Path.touch`` on a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_crafted_checkpoint_runs_nothing_in_any_loader(tmp_path) -> None:
    marker = tmp_path / "created_by_payload"
    path = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, CONFIG_KEY: {"task": {}}, "extra": _CreatesFile(marker)}, path)
    torch.load(path, weights_only=False)  # the payload is live: a plain unpickle creates the marker
    assert marker.exists()
    marker.unlink()
    loaders = [load_file, load_task, read_sigver_weights, backbone_state, load_teacher]
    for loader in loaders:
        with pytest.raises(CheckpointError) as info:
            loader(path)
        assert str(path) in str(info.value) and "Python objects other than tensors" in str(info.value)
        assert "(it names getattr)" in str(info.value)  # what it refused: Path.touch pickles as getattr
    assert not marker.exists()


def test_config_naming_code_outside_the_model_packages_is_refused(tmp_path) -> None:
    """Plain data, but the stored config asks to call ``Path.touch``: refused before anything is built."""
    marker = tmp_path / "created_by_config"
    config = {
        "task": {"_target_": TASKS["feature-extractor"]},
        "model": {"_target_": "pathlib.Path.touch", "_args_": [str(marker)]},
    }
    path = tmp_path / "config.ckpt"
    torch.save({"state_dict": {}, CONFIG_KEY: config}, path)
    with pytest.raises(CheckpointError, match=r"config.ckpt: its config names model._target_='pathlib"):
        load_task(path)
    assert not marker.exists()


def test_lightning_extras_load_with_weights_only(tmp_path) -> None:
    """Paths and NumPy scalars that callbacks may store are the only non-tensor types let through."""
    path = tmp_path / "extras.ckpt"
    held = {"dir": Path("/runs/a"), "score": np.float64(0.25), "step": np.int64(7), "t": torch.ones(2)}
    torch.save(held, path)
    back = load_file(path)
    assert back["dir"] == Path("/runs/a") and back["score"] == 0.25 and back["step"] == 7
    assert torch.equal(back["t"], torch.ones(2))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", r"empty.ckpt is empty \(0 bytes\)"),
        ("truncated", r"truncated.ckpt is truncated or not a PyTorch file \(\d+ bytes"),
        (
            "detection",
            r"detection.ckpt holds a detection checkpoint \(task=sigbench.detection.task.Detection",
        ),
    ],
)
def test_errors_name_the_file_and_what_it_holds(bad_files, kind: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message + r".*") as info:
        read_checkpoint(bad_files[kind], needs="feature-extractor", tool="sigbench-eval")
    if kind == "detection":
        assert str(info.value).endswith("sigbench-eval needs a feature-extractor checkpoint")


def test_weight_files_are_told_apart(tmp_path) -> None:
    sigver = tmp_path / "signet.pth"
    torch.save((SigNet("thin").state_dict(), {}, {}), sigver)
    with pytest.raises(
        CheckpointError, match=r"signet.pth holds a sigver weight file .*\(pass it as weights=\)"
    ):
        read_checkpoint(sigver, needs="feature-extractor", tool="sigbench-eval")
    text = tmp_path / "notes.ckpt"
    text.write_text("not a model\n")
    with pytest.raises(CheckpointError, match=r"notes.ckpt is truncated or not a PyTorch file \(12 bytes"):
        load_file(text)
    state = tmp_path / "state.pth"
    torch.save({"w": torch.zeros(1)}, state)
    with pytest.raises(CheckpointError, match="state.pth holds a bare state dict of 1 tensors"):
        read_checkpoint(state)


def _compose(name: str, overrides: list[str], tmp_path: Path):
    register_schemas()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(
            name, overrides=[*overrides, f"paths.root_dir={REPO}", f"paths.output_dir={tmp_path / 'out'}"]
        )


def _run_tool(tool: str, ckpt: Path, tmp_path: Path) -> None:
    """Call the tool's Python entry (what its CLI runs) with ``ckpt`` where it takes a checkpoint."""
    image = tmp_path / "page.png"
    if not image.exists():
        import cv2

        cv2.imwrite(str(image), np.full((64, 64, 3), 255, np.uint8))
    if tool == "eval":
        from sigbench.runner.evaluate import evaluate_checkpoint

        evaluate_checkpoint(ckpt, {"distance": {"name": "distance"}}, out_dir=tmp_path / "eval")
    elif tool == "embed":
        from sigbench.runner.embed import embed

        embed(_compose("embed", [f"ckpt={ckpt}", f"output={tmp_path / 'e.npz'}"], tmp_path))
    elif tool == "detect":
        from sigbench.runner.detect import detect

        detect(_compose("detect", [f"ckpt={ckpt}", f"input={image}"], tmp_path))
    elif tool == "segment":
        from sigbench.runner.segment import segment

        segment(_compose("segment", [f"ckpt={ckpt}", f"input={image}"], tmp_path))
    elif tool == "clean":
        from sigbench.runner.clean import run

        run(_compose("clean", [f"ckpt={ckpt}", f"input={image}"], tmp_path))
    elif tool == "clean_extractor":
        from sigbench.runner.clean import clutter_evaluation

        clutter_evaluation(ckpt, tmp_path / "cleaning.ckpt", {"name": "distance"}, tmp_path / "clean_out")
    elif tool == "invert":
        load_teacher(ckpt)
    elif tool == "resume":
        from sigbench.runner.train import resume_checkpoint

        resume_checkpoint(compose_train(["experiment=smoke", f"ckpt_path={ckpt}"], tmp_path))


# tool -> (the kind it needs, a checkpoint of another kind)
TOOLS = {
    "eval": ("feature-extractor", "detection"),
    "embed": ("feature-extractor", "segmentation"),
    "detect": ("detection", "feature-extractor"),
    "segment": ("segmentation", "detection"),
    "clean": ("cleaning", "feature-extractor"),
    "clean_extractor": ("feature-extractor", "cleaning"),
    "invert": ("feature-extractor", "detection"),
    "resume": ("feature-extractor", "segmentation"),
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
@pytest.mark.parametrize("bad", ["wrong task", "truncated", "empty"])
def test_every_tool_names_a_bad_checkpoint(tool: str, bad: str, bad_files, tmp_path) -> None:
    needs, other = TOOLS[tool]
    if tool == "clean_extractor":
        fake_checkpoint(tmp_path / "cleaning.ckpt", "cleaning")
    ckpt = bad_files[other if bad == "wrong task" else bad]
    expected = {
        "wrong task": f"holds a {other} checkpoint .*needs a {needs} checkpoint",
        "truncated": r"is truncated or not a PyTorch file \(\d+ bytes",
        "empty": r"is empty \(0 bytes\)",
    }[bad]
    with pytest.raises((CheckpointError, ConfigError), match=f"{ckpt}.* {expected}"):
        _run_tool(tool, ckpt, tmp_path)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))


def test_cli_prints_one_line_not_a_traceback(bad_files, tmp_path) -> None:
    ckpt = bad_files["detection"]
    result = run_cli(
        ["sigbench-eval", "protocol=distance", f"ckpt={ckpt}", f"hydra.run.dir={tmp_path / 'r'}"],
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "holds a detection checkpoint" in line]
    assert len(lines) == 1 and lines[0].startswith(f"sigbench-eval: {ckpt} holds"), result.stderr[-2000:]


# ---- atomic saves ---------------------------------------------------------------------------------------

SAVE_SCRIPT = """
import sys, torch
from sigbench.checkpoint_io import AtomicCheckpointIO
big = {"state_dict": {"w": torch.ones(int(sys.argv[2]))}, "epoch": 2}
AtomicCheckpointIO().save_checkpoint(big, sys.argv[1])
"""


def _other_filesystem_tmpdir(tmp_path: Path) -> Path:
    """A TMPDIR on another filesystem than ``tmp_path`` where there is one (/dev/shm), else a sibling."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev:
        folder = shm / f"sigbench-test-{os.getpid()}"
    else:
        folder = tmp_path / "elsewhere"
    folder.mkdir(exist_ok=True)
    return folder


def test_sigkill_during_a_save_keeps_the_previous_checkpoint(tmp_path) -> None:
    folder = tmp_path / "checkpoints"
    last = folder / "last.ckpt"
    good = {"state_dict": {"w": torch.arange(5.0)}, "epoch": 1}
    AtomicCheckpointIO().save_checkpoint(good, last)
    tmpdir = _other_filesystem_tmpdir(tmp_path)
    env = {**os.environ, "TMPDIR": str(tmpdir), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVE_SCRIPT, str(last), str(24 * 2**20)], env=env, stderr=subprocess.PIPE
    )
    started = None
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        partial = [p for p in folder.iterdir() if p.name != "last.ckpt" and p.stat().st_size > 0]
        if partial:
            started = partial[0]
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    proc.wait()
    if tmpdir.parent == Path("/dev/shm"):
        for leftover in tmpdir.iterdir():
            leftover.unlink()
        tmpdir.rmdir()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    # killed in the middle of writing: the temporary file sits beside last.ckpt, on the same filesystem
    assert started is not None and started.parent == folder and started.name.startswith(".last.")
    back = load_file(last)
    assert back["epoch"] == 1 and torch.equal(back["state_dict"]["w"], torch.arange(5.0))


def _atomic_trainer(root: Path, max_epochs: int) -> pl.Trainer:
    """A quiet two-step-per-epoch Trainer saving through :class:`AtomicCheckpointIO` under ``root``."""
    import pytorch_lightning as pl

    return pl.Trainer(
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        plugins=[AtomicCheckpointIO()],
    )


def test_lightning_saves_and_resumes_through_the_plugin(tmp_path) -> None:
    """A real Trainer writes through :class:`AtomicCheckpointIO` and resumes with weights_only=True."""
    from pytorch_lightning.demos.boring_classes import BoringModel

    cfg = compose_train(["experiment=smoke"], tmp_path)
    trainer_kwargs = OmegaConf.to_container(cfg.trainer)
    assert "plugins" not in trainer_kwargs  # the runner adds the plugin itself
    model = BoringModel()
    trainer = _atomic_trainer(tmp_path, max_epochs=1)
    trainer.fit(model)
    saved = list((tmp_path / "checkpoints").glob("*.ckpt"))
    assert len(saved) == 1 and not [p for p in saved[0].parent.iterdir() if p.name.startswith(".")]
    again = _atomic_trainer(tmp_path, max_epochs=2)
    again.fit(BoringModel(), ckpt_path=saved[0], weights_only=True)
    assert again.global_step == 4
