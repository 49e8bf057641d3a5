"""Start-up checks that name the key: value limits, writer ranges, dataset files, loss against task, and
outputs that cannot be written -- each refused before any data is generated, loaded or written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from sigbench.atomic import unwritable_reason
from sigbench.data.formats import user_range
from sigbench.runner.build import check
from sigbench.runner.conf import conf_dir
from sigbench.runner.schema import register_schemas
from sigbench.runner.validation import ConfigError
from tests.helpers import REPO
from tests.train_helpers import compose_train, run_cli


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("not a folder\n")
    return path


def _junk_npz(tmp_path: Path) -> Path:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip archive")
    return path


def _pickled_npz(tmp_path: Path) -> Path:
    path = tmp_path / "sigver.npz"
    np.savez(
        path,
        x=np.zeros((2, 1, 4, 4), np.uint8),
        y=np.array([0, 1]),
        yforg=np.array([0, 0]),
        user_mapping={0: 7, 1: 8},
        filenames=np.array(["a", "b"]),
    )
    return path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.batch_size=0"], r"^data.batch_size=0: must be > 0$"),
        (["data.eval_batch_size=-4"], r"^data.eval_batch_size=-4: must be > 0$"),
        (["optimizer.lr=-0.01"], r"^optimizer.lr=-0.01: must be >= 0$"),
        (["data.val_fraction=1.5"], r"^data.val_fraction=1.5: must be in \[0, 1\)$"),
        (
            ["data.train_users=[10,0]"],
            r"^data.train_users: \[10, 0\] is an empty .*did you mean \[0, 10\]\?\)$",
        ),
        (
            ["data.holdout_users=[12,12]"],
            r"^data.holdout_users: \[12, 12\] is an empty \[first, last\) range",
        ),
        (
            ["data.train_users=[100,200]"],
            r"^data.train_users=\[100, 200\] selects no writer .*14 writers, ids 0..13",
        ),
        (["data.train_users=[0,x]"], r"data.train_users"),
        (
            ["+evaluation.d.name=distance", "+evaluation.d.exp_users=[9,3]"],
            r"^evaluation.d.exp_users: \[9, 3\]",
        ),
        (
            ["loss=triplet"],
            r"^loss=TripletLoss does not fit task=ClassificationTask: the loss takes embeddings",
        ),
        (["task=metric", "loss=signet"], r"^loss=SigNetLoss does not fit task=MetricTask: .*loss=triplet"),
        (
            ["loss=cleaning_l1"],
            r"^loss=L1Loss does not fit task=ClassificationTask: the loss takes a predicted",
        ),
    ],
)
def test_value_mistakes_are_refused_naming_the_key(overrides, message, tmp_path) -> None:
    cfg = compose_train(["experiment=smoke", *overrides], tmp_path, tmp_path / "c")
    with pytest.raises(ConfigError, match=message):
        check(cfg)
    assert not (tmp_path / "c").exists()  # nothing generated


def test_detection_refuses_a_loss(tmp_path) -> None:
    cfg = compose_train(
        ["experiment=aossig_detection_fasterrcnn_cpu", "++loss._target_=torch.nn.L1Loss"], tmp_path
    )
    with pytest.raises(
        ConfigError, match=r"^loss: task=DetectionTask computes its own losses; set loss=null$"
    ):
        check(cfg)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.npz", r"^data.dataset: .*missing.npz does not exist$"),
        (_junk_npz, r"^data.dataset: .*junk.npz: not a readable npz dataset \(BadZipFile"),
        (_pickled_npz, r"^data.dataset: .*sigver.npz: key 'user_mapping' holds pickled Python objects"),
    ],
)
def test_dataset_file_is_checked_before_loading(make, message, tmp_path) -> None:
    path = make(tmp_path)
    cfg = compose_train(["experiment=smoke", "data=npz", f"data.dataset={path}"], tmp_path)
    with pytest.raises(ConfigError, match=message):
        check(cfg)


def test_npz_ranges_are_checked_against_its_writers_and_trust_pickle_opts_in(toy_npz, tmp_path) -> None:
    base = ["experiment=smoke", "data=npz", f"data.dataset={toy_npz}", "data.num_workers=0"]
    check(compose_train([*base, "data.train_users=[0,6]", "data.holdout_users=[6,8]"], tmp_path))
    cfg = compose_train([*base, "data.train_users=[0,6]", "data.holdout_users=[8,20]"], tmp_path)
    with pytest.raises(
        ConfigError, match=r"data.holdout_users=\[8, 20\] selects no writer .*8 writers, ids 0..7"
    ):
        check(cfg)
    pickled = _pickled_npz(tmp_path)
    check(compose_train(["experiment=smoke", "data=npz", f"data.dataset={pickled}", "data.trust_pickle=true",
                         "data.train_users=[0,1]", "data.holdout_users=[1,2]"], tmp_path))  # fmt: skip


def test_user_range_reads_two_ids_only_as_a_range() -> None:
    assert user_range([2, 5]).tolist() == [2, 3, 4]
    assert user_range([4, 1, 2]).tolist() == [4, 1, 2]
    with pytest.raises(ValueError, match=r"\[5, 2\] is an empty .*did you mean \[2, 5\]"):
        user_range([5, 2])


# ---- outputs that cannot be written --------------------------------------------------------------------


def test_unwritable_reason_probes_the_filesystem(a_file, tmp_path) -> None:
    assert unwritable_reason(tmp_path / "new" / "deeper") is None
    assert not (tmp_path / "new").exists()  # the probe creates nothing on the way
    assert (
        unwritable_reason(a_file / "sub")
        == f"cannot create {a_file / 'sub'}: {a_file} is a file, not a folder"
    )
    assert unwritable_reason(a_file) == f"{a_file} is a file, not a folder"
    assert unwritable_reason(tmp_path, "file") == f"{tmp_path} is a folder, not a file"
    assert unwritable_reason(a_file / "x.npz", "file").endswith(f"{a_file} is a file, not a folder")
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]


def test_read_only_folder_is_refused(tmp_path) -> None:
    """Permission bits stop only non-root users: as root, a 0555 folder *is* writable, so there is nothing
    to refuse; a place root cannot write either (sysfs) is used when there is one."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            assert unwritable_reason(folder / "out") == f"cannot write in {folder} (Permission denied)"
        finally:
            folder.chmod(0o755)
        return
    sysfs = Path("/sys")
    try:
        fd, probe = tempfile.mkstemp(dir=sysfs)
    except OSError:
        reason = unwritable_reason(sysfs / "sigbench_out")
        assert reason is not None and reason.startswith(f"cannot write in {sysfs} (")
        return
    os.close(fd)
    os.unlink(probe)
    pytest.skip("running as root with a writable /sys: no read-only place to test against")


def test_train_refuses_an_unwritable_run_folder(a_file, tmp_path) -> None:
    cfg = compose_train(["experiment=smoke"], a_file / "run", tmp_path / "c")
    with pytest.raises(ConfigError, match=rf"^paths.output_dir={a_file / 'run'}: cannot create .* is a file"):
        check(cfg)


def test_cli_names_an_unwritable_hydra_run_dir(a_file, tmp_path) -> None:
    """Hydra creates the run folder before sigbench code runs: a callback names it instead of a traceback."""
    result = run_cli(["sigbench-train", "experiment=smoke", f"hydra.run.dir={a_file / 'run'}"], cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"sigbench-train: hydra.run.dir={a_file / 'run'}: cannot create {a_file / 'run'}: "
        f"{a_file} is a file, not a folder"
    )


def _compose(name: str, overrides: list[str], tmp_path: Path):
    register_schemas()
    if name == "invert":
        from sigbench.cli.invert import register_invert_schema

        register_invert_schema()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(name, overrides=[*overrides, f"paths.root_dir={REPO}", f"paths.output_dir={tmp_path}"])


@pytest.mark.parametrize("tool", ["detect", "segment", "clean", "embed", "invert", "synth", "prepare"])
def test_every_writing_tool_refuses_an_unwritable_output(tool: str, a_file, tmp_path) -> None:
    ckpt = tmp_path / "model.ckpt"
    torch.save({"not": "loaded"}, ckpt)  # exists; never read, the output is refused first
    out = a_file / "out"
    if tool == "prepare":
        from sigbench.cli.prepare import config_problems

        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            cfg = compose(
                "prepare", overrides=["dataset=folder", f"dataset.path={tmp_path}", f"output={out}.npz"]
            )
        assert config_problems(cfg) == [
            f"output={out}.npz: cannot create {out}.npz: {a_file} is a file, not a folder"
        ]
        return
    if tool == "synth":
        from sigbench.cli.synth import run

        call = lambda: run(_compose("synth", [f"out_dir={out}", "num_pages=1"], tmp_path))  # noqa: E731
    elif tool == "invert":
        from sigbench.cli.invert import run

        call = lambda: run(_compose("invert", [f"teacher={ckpt}", f"output={out}/inv.npz"], tmp_path))  # noqa: E731
    elif tool == "embed":
        from sigbench.runner.embed import embed

        call = lambda: embed(_compose("embed", [f"ckpt={ckpt}", f"output={out}/e.npz"], tmp_path))  # noqa: E731
    else:
        import importlib

        module, function = {"detect": ("detect", "detect"), "segment": ("segment", "segment")}.get(
            tool, (tool, "run")
        )
        entry = getattr(importlib.import_module(f"sigbench.runner.{module}"), function)
        call = lambda: entry(_compose(tool, [f"ckpt={ckpt}", f"input={ckpt}", f"output={out}"], tmp_path))  # noqa: E731
    with pytest.raises(
        ConfigError, match=rf"^(out_dir|output)={out}.*: cannot create .*: {a_file} is a file, not a folder$"
    ):
        call()
