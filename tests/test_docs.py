"""The documentation stays true: the site builds in strict mode (no broken link, image or snippet), README's
links exist, and every command in README.md and docs/*.md composes with the configs it names and passes the
start-up checks the command itself would run, so a renamed or removed config key fails here first.

Commands are read from fenced ``bash`` / ``sh`` / ``shell`` / ``console`` blocks: continuation lines are
joined, comments dropped, ``for V in ...; do ... done`` loops unrolled, ``NAME=value`` lines substituted
into later lines, and chains (``&&``, ``;``, ``|``) split. ``sigbench-X args`` and ``sigbench X args`` (and
``python -m sigbench.cli.X``) are composed with Hydra's compose API from the config folder the package
uses (``sigbench.runner.conf.conf_dir()``); a multirun (``-m``, or an experiment that sets
``hydra.mode: MULTIRUN``) composes every combination of its sweep; ``make X`` must be a Makefile target;
``python path/to/script.py`` must name a file of the repository.
"""

from __future__ import annotations

import importlib
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from sigbench.data.formats import SignatureDataset, save_npz
from sigbench.runner.conf import conf_dir
from sigbench.runner.validation import ConfigError
from tests.helpers import REPO

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
FOR_LOOP = re.compile(r"^for\s+(?P<var>\w+)\s+in\s+(?P<values>[^;]*);\s*do\s*(?P<body>.*)$")
ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<value>\S*)$")
PLACEHOLDER = re.compile(r"<(?P<name>[\w.-]+)>")  # <time>, <run>: values the reader fills in
VARIABLE = re.compile(r"\$(?:\{(?P<braced>\w+)\}|(?P<plain>\w+))")
CHAIN = {"&&", "||", ";", "|", "&"}
# console-script / sub-command name -> module of sigbench.cli and the Hydra primary config it composes
MODULES = {"eval": "evaluate"}
CONFIGS = {
    "train": "train",
    "eval": "eval",
    "embed": "embed",
    "prepare": "prepare",
    "invert": "invert",
    "synth": "synth",
    "detect": "detect",
    "segment": "segment",
    "clean": "clean",
}
# argparse commands, checked by their own parsers: sigbench-synthetic, sigbench-service
ARGPARSE_PROGRAMS = {"synthetic": "sigbench.cli.synthetic", "service": "sigbench.service.cli"}


@dataclass(frozen=True)
class DocCommand:
    """One command line found in the docs: where it is, which program, and its arguments."""

    where: str  # "docs/detection.md:17"
    program: str  # a sigbench command ("train", "eval", ...), "make" or "python"
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: {self.program} {shlex.join(self.args)}"


def shell_blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number of the first line, lines) of each fenced shell block, indentation of its fence removed."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening["indent"], opening["fence"], opening["lang"]
        body, i = [], i + 1
        start = i + 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang in SHELL_LANGUAGES:
            yield start, body


def logical_lines(start: int, lines: list[str]) -> Iterator[tuple[int, str]]:
    """Lines with their ``\\`` continuations joined and ``#`` comments removed, numbered as in the file."""
    buffer, first = "", start
    for number, line in enumerate(lines, start):
        if not buffer:
            first = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        text = strip_comment(buffer + line).strip()
        buffer = ""
        if text.startswith("$ "):  # console transcripts: the prompt is not part of the command
            text = text[2:]
        text = PLACEHOLDER.sub(lambda m: m["name"], text)
        if text:
            yield first, text


def strip_comment(line: str) -> str:
    """``line`` without a trailing shell comment (a ``#`` outside quotes that starts a word)."""
    quote, previous = None, " "
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            return line[:index]
        previous = char
    return line


def substitute(line: str, variables: dict[str, str]) -> str:
    """Shell variables that the block itself set, replaced by their values; others left as they are."""

    def value(match: re.Match) -> str:
        name = match["braced"] or match["plain"]
        return variables.get(name, match.group(0))

    return VARIABLE.sub(value, line)


def unrolled(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """``for V in a b; do ... done`` repeated once per value with ``$V`` substituted; other lines as given."""
    i = 0
    while i < len(lines):
        number, line = lines[i]
        loop = FOR_LOOP.match(line)
        if not loop:
            yield number, line
            i += 1
            continue
        body: list[tuple[int, str]] = [(number, loop["body"])] if loop["body"] else []
        i += 1
        while i < len(lines) and lines[i][1] != "done":
            body.append(lines[i])
            i += 1
        i += 1  # "done"
        for value in shlex.split(loop["values"]):
            for line_number, text in body:
                yield line_number, substitute(text, {loop["var"]: value})


def split_chain(line: str) -> list[list[str]]:
    """The simple commands of a line (``a && b; c | d``), each as its words."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = ""
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in CHAIN:
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def recognise(words: list[str]) -> tuple[str, list[str]] | None:
    """(program, arguments) of a sigbench, make or python command; None for any other command."""
    while words and ASSIGNMENT.match(words[0]) and len(words) > 1:  # VAR=value program ...
        words = words[1:]
    head = Path(words[0]).name
    if head.startswith("sigbench-"):
        return head.removeprefix("sigbench-"), words[1:]
    if head == "sigbench":
        return (words[1], words[2:]) if len(words) > 1 else ("sigbench", [])
    if head == "make":
        return "make", words[1:]
    if re.fullmatch(r"python(3(\.\d+)?)?", head) and len(words) > 1:
        if words[1] == "-m" and len(words) > 2 and words[2].startswith("sigbench"):
            module = words[2].removeprefix("sigbench").removeprefix(".cli").lstrip(".")
            if not module:  # python -m sigbench <command> ...
                return (words[3], words[4:]) if len(words) > 3 else ("sigbench", [])
            return {v: k for k, v in MODULES.items()}.get(module, module), words[3:]
        if words[1].endswith(".py"):
            return "python", words[1:]
    return None


def doc_commands(path: Path, root: Path = REPO) -> list[DocCommand]:
    """Every sigbench, make and python command of the shell blocks of one Markdown file."""
    found = []
    where = path.relative_to(root).as_posix()
    for start, block in shell_blocks(path.read_text(encoding="utf-8")):
        variables: dict[str, str] = {}
        for number, line in unrolled(list(logical_lines(start, block))):
            for words in split_chain(substitute(line, variables)):
                if len(words) == 1 and (assignment := ASSIGNMENT.match(words[0])):
                    variables[assignment["name"]] = assignment["value"]
                    continue
                program = recognise(words)
                if program is not None:
                    found.append(DocCommand(f"{where}:{number}", program[0], tuple(program[1])))
    return found


def unique(commands: list[DocCommand]) -> list[DocCommand]:
    """One entry per distinct command, naming every place it appears (results repeat the guides' commands)."""
    places: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for command in commands:
        places.setdefault((command.program, command.args), []).append(command.where)
    return [DocCommand(", ".join(where), program, args) for (program, args), where in places.items()]


ALL_COMMANDS = [command for path in DOC_FILES for command in doc_commands(path)]
SIGBENCH_COMMANDS = unique([c for c in ALL_COMMANDS if c.program not in {"make", "python"}])


# ---------------------------------------------------------------------------------------------- composing


def console_scripts() -> set[str]:
    with open(REPO / "pyproject.toml", "rb") as fh:
        return set(tomllib.load(fh)["project"]["scripts"])


def sweep_combinations(overrides: list[str]) -> list[list[str]]:
    """Every combination of a multirun's overrides (``a=1,2 b=x,y`` -> four lists), as Hydra's sweeper."""
    choices = []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise AssertionError(f"{override.input_line}: only discrete sweeps can be composed here")
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([f"{key}={override.get_value_element_as_str()}"])
    return [list(combination) for combination in itertools.product(*choices)]


def swept_by_config(hydra_cfg: DictConfig) -> tuple[str, dict[str, str]]:
    """The sweeper's kind and the ``hydra.sweeper.params`` an experiment carries (key -> value string)."""
    sweeper = hydra_cfg.get("sweeper")
    if sweeper is None:
        return "", {}
    params = sweeper.get("params")
    plain = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    return str(sweeper.get("_target_", "")), {str(k): str(v) for k, v in plain.items()}


def compose_job(config_name: str, overrides: list[str], out_dir: Path) -> tuple[DictConfig, DictConfig]:
    """(job config, hydra config) composed as the command would, outputs pointed at ``out_dir``."""
    # ++ sets the key whether or not the config has a paths group (sigbench-prepare has none)
    paths = [
        f"++paths.root_dir={REPO}",
        f"++paths.output_dir={out_dir}",
        f"++paths.cache_dir={out_dir / 'c'}",
    ]
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose(config_name, overrides=[*overrides, *paths], return_hydra_config=True)
    with open_dict(cfg):
        hydra_cfg = cfg.pop("hydra")
    return cfg, hydra_cfg


def compose_command(command: DocCommand, out_dir: Path) -> list[DictConfig]:
    """The job configs of ``command``: one, or one per combination of a multirun's sweep."""
    module = MODULES.get(command.program, command.program)
    importlib.import_module(f"sigbench.cli.{module}")  # each command registers its config schema on import
    flags = [a for a in command.args if a.startswith("-")]
    unknown = set(flags) - {"-m", "--multirun"}
    assert not unknown, f"{command}: options {sorted(unknown)} are not composed by this test"
    overrides = [a for a in command.args if not a.startswith("-")]
    combinations = sweep_combinations(overrides)
    first, hydra_cfg = compose_job(CONFIGS[command.program], combinations[0], out_dir)
    multirun = bool(flags) or hydra_cfg.get("mode") == RunMode.MULTIRUN  # hydra.mode: MULTIRUN needs no -m
    if not multirun:
        assert len(combinations) == 1, f"{command}: a sweep (a,b) without -m / --multirun"
        return [first]
    sweeper, params = swept_by_config(hydra_cfg)
    if "optuna" in sweeper.lower():  # a search space, not a grid: every searched key must exist
        for key in params:
            assert OmegaConf.select(first, key, default="absent") != "absent", (
                f"{command}: {key} not in config"
            )
        return [first]
    given = {override.split("=", 1)[0].lstrip("+~") for override in overrides}
    swept = [f"{key}={value}" for key, value in params.items() if key not in given]
    return [
        compose_job(CONFIGS[command.program], c, out_dir)[0] for c in sweep_combinations([*overrides, *swept])
    ]


def stand_in_user_files(cfg: DictConfig) -> DictConfig:
    """A documented command may name the reader's own dataset files (``data.dataset=/data/gpds960.npz``,
    distillation's ``data.inverted``), which the start-up check opens. Such a path is replaced by a small
    valid dataset of 10,000 writers (as many as GPDS-synthetic) so that every other check still runs."""
    data = cfg.get("data")
    keys = [
        key
        for key in ("dataset", "inverted")
        if isinstance(data, DictConfig)
        and isinstance(data.get(key), str)
        and data[key].endswith(".npz")
        and not Path(data[key]).exists()
    ]
    if not keys:
        return cfg
    stand_in = Path(cfg.paths.output_dir) / "stand_in.npz"
    if not stand_in.exists():
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        writers = np.arange(10_000)
        save_npz(
            SignatureDataset(
                x=np.zeros((writers.size, 1, 2, 2), np.uint8),
                y=writers,
                yforg=np.zeros(writers.size, np.int64),
                user_mapping=[f"w{u}" for u in range(10_000)],
                filenames=[f"s{i}.png" for i in range(writers.size)],
            ),
            stand_in,
        )
    cfg = cfg.copy()
    for key in keys:
        cfg.data[key] = str(stand_in)
    return cfg


def start_up_check(program: str, cfg: DictConfig) -> None:
    """What the command checks before it starts work: the training checks, or the protocol's."""
    from sigbench.runner.build import check
    from sigbench.runner.evaluate import check_protocol

    missing = sorted(OmegaConf.missing_keys(cfg))
    assert not missing, f"required values not given: {', '.join(missing)}"
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    if program == "train":
        check(stand_in_user_files(cfg))
    elif cfg.get("protocol") is not None:
        check_protocol(OmegaConf.to_container(cfg.protocol, resolve=True))


# -------------------------------------------------------------------------------------------------- tests


def test_the_docs_hold_the_commands_they_should() -> None:
    """The extraction itself: a command of each kind is found where the guides put it."""
    programs = {c.program for c in ALL_COMMANDS}
    assert {"train", "eval", "embed", "prepare", "invert", "synth", "detect", "segment", "clean"} <= programs
    assert {"make", "python", "synthetic"} <= programs
    assert any(
        c.program == "make" and c.args == ("run",) for c in ALL_COMMANDS if c.where.startswith("README")
    )
    # the detection loop over five levels is unrolled with $RUN / $DATA / $L substituted
    levels = [c for c in ALL_COMMANDS if c.program == "detect" and c.where.startswith("docs/detection.md")]
    assert [c.args[1] for c in levels] == [
        f"input=outputs/.cache/documents/docs-key/{level}/data/test"
        for level in ("L1", "L2", "L3", "L4", "L5")
    ]


def test_extraction_of_a_handwritten_block(tmp_path) -> None:
    text = "\n".join(
        [
            "text",
            "  ```bash",
            "  R=out/run   # where",
            "  sigbench-train experiment=smoke \\",
            "      trainer.max_epochs=2   # two",
            "  for p in wd wi; do",
            "    sigbench eval ckpt=$R/last.ckpt protocol=$p",
            "  done",
            "  mkdir -p x && python -m sigbench.cli.evaluate ckpt=a 'data.x=[1, 2]'; make docs",
            "  ```",
            "```python",
            "sigbench-train not=shell",
            "```",
        ]
    )
    doc = tmp_path / "case.md"
    doc.write_text(text, encoding="utf-8")
    found = [(c.where, c.program, c.args) for c in doc_commands(doc, tmp_path)]
    assert found == [
        ("case.md:4", "train", ("experiment=smoke", "trainer.max_epochs=2")),
        ("case.md:7", "eval", ("ckpt=out/run/last.ckpt", "protocol=wd")),
        ("case.md:7", "eval", ("ckpt=out/run/last.ckpt", "protocol=wi")),
        ("case.md:9", "eval", ("ckpt=a", "data.x=[1, 2]")),
        ("case.md:9", "make", ("docs",)),
    ]


def test_a_stale_key_fails_composition(tmp_path) -> None:
    """The check bites: the page-size override without '+' (the key is not in the data config) fails."""
    stale = DocCommand(
        "case", "train", ("experiment=aossig_detection_fasterrcnn", "data.source.page_size=a4_300dpi")
    )
    with pytest.raises(Exception, match="page_size"):
        compose_command(stale, tmp_path)
    fixed = DocCommand(
        "case", "train", ("experiment=aossig_detection_fasterrcnn", "+data.source.page_size=a4_300dpi")
    )
    (cfg,) = compose_command(fixed, tmp_path)
    assert cfg.data.source.page_size == "a4_300dpi"


def test_a_wrong_argument_fails_the_start_up_check(tmp_path) -> None:
    (cfg,) = compose_command(
        DocCommand("case", "train", ("experiment=smoke", "+model.varient=thin")), tmp_path
    )
    with pytest.raises(ConfigError, match="varient"):
        start_up_check("train", cfg)


def test_a_sweep_composes_every_combination(tmp_path) -> None:
    command = DocCommand("case", "train", ("-m", "experiment=smoke", "model=signet_thin,signet", "seed=1,2"))
    jobs = compose_command(command, tmp_path)
    assert [(job.model.variant, job.seed) for job in jobs] == [
        ("thin", 1),
        ("thin", 2),
        ("signet", 1),
        ("signet", 2),
    ]


def test_a_sweep_an_experiment_carries_composes_every_job(tmp_path) -> None:
    """compare_losses sweeps the objective in hydra.sweeper.params; a command-line value narrows it."""
    jobs = compose_command(DocCommand("case", "train", ("-m", "experiment=compare_losses")), tmp_path)
    assert [job.loss._target_.rsplit(".", 1)[1] for job in jobs] == [
        "SigNetLoss",
        "TripletLoss",
        "NTXentLoss",
    ]
    narrowed = compose_command(
        DocCommand("case", "train", ("-m", "experiment=compare_losses", "objective=ntxent")), tmp_path
    )
    assert len(narrowed) == 1 and narrowed[0].loss._target_.endswith("NTXentLoss")


USER_FOLDER = re.compile(r"^(?P<key>hydra\.searchpath=\[file://)(?P<folder>[^\]]+)\]$")


def documented_user_files(folder: str) -> dict[str, str]:
    """The YAML blocks of the guides whose first or second line names a file of ``folder`` (``# /x/a.yaml``),
    by their path relative to it: a documented user config folder, as the reader would write it."""
    files = {}
    for path in DOC_FILES:
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
            for line in block.split("\n")[:2]:  # a package header may come first
                if line.startswith(f"# {folder.rstrip('/')}/"):
                    files[line[len(folder.rstrip("/")) + 3 :].strip()] = block
    return files


def with_user_folders(command: DocCommand, tmp_path: Path) -> DocCommand:
    """A ``hydra.searchpath`` folder the reader makes (not in the repository) is written from the guides'
    YAML blocks into ``tmp_path`` and the override pointed there; a folder the guides do not show stays."""
    args = []
    for arg in command.args:
        match = USER_FOLDER.match(arg)
        if match and not Path(match["folder"]).exists() and (files := documented_user_files(match["folder"])):
            for relative, text in files.items():
                (tmp_path / "user_conf" / relative).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / "user_conf" / relative).write_text(text, encoding="utf-8")
            arg = f"{match['key']}{tmp_path / 'user_conf'}]"
        args.append(arg)
    return DocCommand(command.where, command.program, tuple(args))


def test_the_documented_user_folder_is_found(tmp_path) -> None:
    """The example of docs/packaging.md: both of its files are shown and the override is rewritten."""
    files = documented_user_files("/home/me/sigconf")
    assert set(files) == {"experiment/my_run.yaml", "data/my_scans.yaml"}
    command = with_user_folders(
        DocCommand("case", "train", ("hydra.searchpath=[file:///home/me/sigconf]", "experiment=my_run")),
        tmp_path,
    )
    (cfg,) = compose_command(command, tmp_path)
    assert cfg.name == "my_run" and cfg.data.train_users == [0, 300]


@pytest.mark.parametrize("command", SIGBENCH_COMMANDS, ids=str)
def test_every_documented_command_composes(command: DocCommand, tmp_path) -> None:
    if command.program == "sigbench":  # the bare umbrella lists the commands
        from sigbench.cli.commands import available_commands

        assert not command.args and "sigbench" in console_scripts()
        assert set(CONFIGS) <= set(available_commands())
        return
    if "--help" in command.args:  # the help text is printed, not composed
        result = subprocess.run(
            [sys.executable, "-m", "sigbench", command.program, *command.args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert result.returncode == 0 and command.program in result.stdout, result.stderr[-2000:]
        return
    command = with_user_folders(command, tmp_path)
    if command.program in ARGPARSE_PROGRAMS:
        module = importlib.import_module(ARGPARSE_PROGRAMS[command.program])
        module.build_parser().parse_args(list(command.args))  # exits with the parser's message if wrong
        return
    assert command.program in CONFIGS, f"{command}: unknown sigbench command {command.program!r}"
    scripts = console_scripts()
    assert f"sigbench-{command.program}" in scripts or "sigbench" in scripts, f"{command}: no such command"
    for job in compose_command(command, tmp_path):
        try:
            start_up_check(command.program, job)
        except (ConfigError, AssertionError) as err:
            raise AssertionError(f"{command}: {err}") from None


@pytest.mark.parametrize("command", [c for c in ALL_COMMANDS if c.program == "make"], ids=str)
def test_every_documented_make_target_exists(command: DocCommand) -> None:
    targets = set(re.findall(r"^([A-Za-z][\w.-]*):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))
    assert command.args, f"{command}: make without a target"
    assert set(command.args) <= targets, f"{command}: no target {sorted(set(command.args) - targets)}"


@pytest.mark.parametrize("command", [c for c in ALL_COMMANDS if c.program == "python"], ids=str)
def test_every_documented_script_exists(command: DocCommand) -> None:
    assert (REPO / command.args[0]).is_file(), f"{command}: {command.args[0]} is not in the repository"


def test_readme_links_and_images_exist() -> None:
    """README is not part of the site build, so its relative links are checked here."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text)
    assert any(t.endswith(".png") for t in targets), "the front page shows a picture"
    local = [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+://", t)]
    missing = [t for t in local if t and not (REPO / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    guides = {p.name for p in (REPO / "docs").glob("*.md")} - {"index.md"}
    linked = {Path(t).name for t in local if t.startswith("docs/")}
    assert guides <= linked, f"guides missing from README's table of contents: {sorted(guides - linked)}"


def build_site(config: Path, site: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("mkdocs", reason="mkdocs is in the docs extra (pip install -e '.[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is in the docs extra (pip install -e '.[docs]')")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(config),
            "--site-dir",
            str(site),
        ],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_site_builds_in_strict_mode(tmp_path) -> None:
    result = build_site(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    nav_pages = re.findall(r":\s*([\w-]+)\.md\s*$", (REPO / "mkdocs.yml").read_text(), flags=re.MULTILINE)
    guides = sorted(p.stem for p in (REPO / "docs").glob("*.md"))
    assert sorted(nav_pages) == guides, "every guide is in the nav, and the nav names only existing guides"
    for page in guides:
        built = tmp_path / "site" / ("index.html" if page == "index" else f"{page}/index.html")
        assert built.is_file(), built
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "offline handwritten signature analysis" in home  # README's opening, taken by a snippet
    assert (tmp_path / "site" / "synthetic_samples.png").is_file()


def test_a_broken_link_fails_the_site_build(tmp_path) -> None:
    """Strict mode bites: a copy of the docs with one link to a missing page does not build."""
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    with (tmp_path / "docs" / "results.md").open("a", encoding="utf-8") as fh:
        fh.write("\nSee [the missing guide](no-such-guide.md).\n")
    result = build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-guide.md" in result.stdout + result.stderr
