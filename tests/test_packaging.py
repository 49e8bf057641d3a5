"""Packaging: the wheel carries the configs and works outside a checkout; the ``sigbench`` command dispatches
to its sub-commands; each ``--help`` shows only its own groups; user config folders join the search path;
missing optional stacks name their extra; pins carry their reason."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from sigbench.cli import command, commands
from sigbench.extras import MissingExtraError, require
from sigbench.runner.conf import CONFIG_MODULE, conf_dir
from sigbench.runner.schema import register_schemas
from tests.helpers import CONF, REPO
from tests.train_helpers import TINY_SYNTHETIC

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


# ---- the wheel -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (no stale build folders), pip-installed into a folder."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (source / name).write_bytes((REPO / name).read_bytes())
    subprocess.run(["cp", "-r", str(REPO / "src"), str(source / "src")], check=True)
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)], check=True
    )
    (wheel,) = dist.glob("sigbench-*.whl")
    target = root / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True
    )
    return wheel


def test_the_wheel_carries_every_config_and_the_package_files(installed: Path) -> None:
    names = set(zipfile.ZipFile(installed).namelist())
    packaged = {f"sigbench/conf/{p.relative_to(CONF).as_posix()}" for p in CONF.rglob("*.yaml")}
    assert len(packaged) > 100 and "sigbench/conf/experiment/smoke.yaml" in packaged
    assert packaged <= names, sorted(packaged - names)[:5]
    assert {"sigbench/py.typed", "sigbench/conf/__init__.py", "sigbench/__main__.py"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(installed).read(entry_points).decode()
    assert "sigbench = sigbench.cli.commands:main" in scripts and "sigbench-train = " in scripts


def test_the_installed_package_composes_smoke_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    site = installed.parents[1] / "site"
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = subprocess.run(
        [sys.executable, "-c", "import sigbench; print(sigbench.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site)  # the installed copy, not the checkout

    result = subprocess.run(
        [str(site / "bin" / "sigbench"), "train", "experiment=smoke", "--cfg", "job", "--resolve"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "name: smoke" in result.stdout
    assert f"root_dir: {elsewhere}" in result.stdout  # outputs go under the working directory
    assert str(site) not in result.stdout.split("paths:")[1].split("\n\n")[0]


# ---- config folders --------------------------------------------------------------------------------------
def test_conf_dir_is_the_packaged_folder() -> None:
    assert Path(conf_dir()) == CONF.resolve()


def test_a_user_folder_joins_the_search_path(tmp_path: Path) -> None:
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - smoke\n\nname: mine\nseed: 7\n"
    )
    (tmp_path / "experiment" / "smoke.yaml").write_text("# @package _global_\nname: shadowed\n")
    register_schemas()
    search = f"hydra.searchpath=[file://{tmp_path}]"
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        mine = compose("train", overrides=["experiment=mine", search])
        smoke = compose("train", overrides=["experiment=smoke", search])
    assert (mine.name, mine.seed, mine.data.dataset.num_writers) == ("mine", 7, 14)  # on top of smoke
    assert smoke.name == "smoke"  # the packaged config comes first on the search path


# ---- the sigbench command --------------------------------------------------------------------------------
def test_every_command_target_exists() -> None:
    for name, cmd in commands.COMMANDS.items():
        module, function = cmd.target.split(":")
        if cmd.optional and not cmd.available():
            continue
        imported = __import__(module, fromlist=[function])
        assert callable(getattr(imported, function)), name


def test_the_overview_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.main([]) == 0
    out = capsys.readouterr().out
    for name in ("train", "eval", "prepare", "synthetic", "embed", "invert", "synth", "detect", "clean"):
        assert f"\n  {name} " in out
    with pytest.raises(SystemExit, match="unknown command 'bogus'"):
        commands.main(["bogus"])


def test_a_sub_command_runs_as_main_with_only_its_arguments(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "fake_cli.py").write_text(
        "import sys\nSEEN = []\n"
        "def main():\n"
        "    SEEN.append((list(sys.argv), sys.modules['__main__'].__spec__.name))\n"
        "    return 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(commands.COMMANDS, "fake", commands.Command("fake_cli:main", "a test command"))
    main_before, argv_before = sys.modules["__main__"], list(sys.argv)
    assert commands.main(["fake", "a=1", "-m"]) == 3
    import fake_cli

    # Lightning re-launches DDP ranks as `python -m <__main__.__spec__.name> <argv[1:]>`: that must be
    # this sub-command with its own arguments
    assert fake_cli.SEEN == [(["sigbench fake", "a=1", "-m"], "fake_cli")]
    assert sys.modules["__main__"] is main_before and sys.argv == argv_before


def test_optional_commands_are_listed_only_when_importable(tmp_path: Path, monkeypatch) -> None:
    missing = commands.Command("sigbench_not_installed.cli:main", "absent", optional=True)
    assert not missing.available()
    monkeypatch.setitem(commands.COMMANDS, "absent", missing)
    assert "absent" not in commands.available_commands()
    with pytest.raises(SystemExit, match="unknown command 'absent'"):
        commands.main(["absent"])
    present = commands.Command("sigbench.cli.train:main", "present", optional=True)
    assert present.available()


# ---- per-command help ------------------------------------------------------------------------------------
def groups_in(text: str) -> set[str]:
    section = text.split("Config groups of")[1].split("\n\n")[0]
    return {line.split()[0] for line in section.splitlines()[1:] if line.startswith("  ") and line[2] != " "}


def test_eval_help_lists_only_its_own_groups(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["sigbench eval", "--help"])
    from sigbench.cli.evaluate import main

    assert main() is None
    out = capsys.readouterr().out
    assert out.startswith("``sigbench-eval``: verification protocols")
    assert "Usage: sigbench eval " in out and "powered by Hydra" not in out
    assert groups_in(out) == {"data", "paths", "protocol"}
    assert "  ckpt " in out and "  weights " in out  # its plain keys


def test_train_help_applies_the_overrides_given(capsys: pytest.CaptureFixture[str]) -> None:
    text = command.command_help("sigbench train", "doc", "train", ["experiment=smoke", "--help"])
    assert {"model", "optimizer", "experiment", "trainer"} <= groups_in(text)
    assert "protocol" not in groups_in(text)
    model_row = next(line for line in text.splitlines() if line.startswith("  model "))
    assert model_row.split()[1] == "signet_thin"  # smoke's choice, not the default signet
    broken = command.command_help("sigbench train", "doc", "train", ["experiment=nope"])
    assert "did not compose" in broken and "model" in groups_in(broken)


# ---- optional stacks -------------------------------------------------------------------------------------
def test_a_missing_plugin_names_its_extra(monkeypatch) -> None:
    monkeypatch.setattr(command, "PLUGINS", (("launcher=x", "hydra_plugins.not_installed_xyz", "cluster"),))
    with pytest.raises(SystemExit, match=r"pip install 'sigbench\[cluster\]'"):
        command.check_plugins(["seed=1", "launcher=x"])
    command.check_plugins(["seed=1"])  # nothing asked for: no error


def test_require_names_the_extra_only_for_the_missing_package(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(MissingExtraError, match=r"reading PDFs needs .*pip install 'sigbench\[documents\]'"):
        require("not_installed_pkg_xyz", "documents", "reading PDFs")
    (tmp_path / "broken_pkg_xyz").mkdir()
    (tmp_path / "broken_pkg_xyz" / "__init__.py").write_text("import another_missing_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:  # installed but broken: reinstalling would not help
        require("broken_pkg_xyz", "documents", "x")
    assert not isinstance(info.value, MissingExtraError)
    assert require("json", "documents", "x").__name__ == "json"


def test_extras_cover_the_optional_stacks_and_dev_takes_them_all() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"sweeps", "cluster", "documents", "service", "docs", "dev"} <= set(extras)
    assert f"sigbench[{','.join(['sweeps', 'cluster', 'documents', 'service', 'docs'])}]" in extras["dev"]
    core = " ".join(PYPROJECT["project"]["dependencies"])
    for optional in ("optuna", "submitit", "segmentation-models", "pypdfium2", "pycocotools", "sqlalchemy"):
        assert optional not in core


def test_every_exact_or_upper_pin_says_why() -> None:
    lines = (REPO / "pyproject.toml").read_text().splitlines()
    pinned = [line for line in lines if line.strip().startswith('"') and ("==" in line or "<" in line)]
    assert len(pinned) >= 6
    assert [line for line in pinned if "#" not in line] == []


def test_license_and_version() -> None:
    import sigbench

    assert "the sigbench contributors" in (REPO / "LICENSE").read_text()
    assert PYPROJECT["project"]["license"] == "MIT"
    assert sigbench.__version__ == PYPROJECT["project"]["version"]


def test_ddp_ranks_relaunch_the_sub_command(tmp_path: Path) -> None:
    """Lightning starts rank 1 by re-running the command line; through ``python -m sigbench train`` it must
    re-run the train sub-command in the same run folder (rank 1 writes its own log there)."""
    run = tmp_path / "run"
    args = ["experiment=smoke", *TINY_SYNTHETIC, "data.batch_size=8", "+trainer.limit_train_batches=1"]
    args += ["~callbacks.progress_bar", "trainer=ddp_cpu", f"paths.cache_dir={tmp_path / 'cache'}"]
    result = subprocess.run(
        [sys.executable, "-m", "sigbench", "train", *args, f"hydra.run.dir={run}"],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "train.log").exists() and (run / "train_ddp_process_1.log").exists()
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "run"]  # no second Hydra folder
