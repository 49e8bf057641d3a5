"""``hydra.main`` for sigbench's commands: the packaged configs, a ``--help`` of the command's own, and a
clear message when a Hydra plugin that an override asks for is not installed.

Hydra's ``--help`` lists every config group of the search path (so ``sigbench eval --help`` would show the
training groups) and opens with "... is powered by Hydra".  Here ``-h`` / ``--help`` prints the command's
module docstring (what it does, example calls) and only the groups its own primary config composes, each with
the current choice and the available options; ``--hydra-help`` still gives Hydra's text.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hydra

from sigbench.extras import install_hint
from sigbench.runner.conf import CONFIG_MODULE, CONFIG_PATH

HELP_FLAGS = ("-h", "--help")

#: Override prefixes that need a Hydra plugin: (prefix, plugin module, extra that installs it).
PLUGINS: tuple[tuple[str, str, str], ...] = (
    ("hparams_search=", "hydra_plugins.hydra_optuna_sweeper", "sweeps"),
    ("hydra/sweeper=optuna", "hydra_plugins.hydra_optuna_sweeper", "sweeps"),
    ("launcher=joblib", "hydra_plugins.hydra_joblib_launcher", "sweeps"),
    ("hydra/launcher=joblib", "hydra_plugins.hydra_joblib_launcher", "sweeps"),
    ("launcher=submitit", "hydra_plugins.hydra_submitit_launcher", "cluster"),
    ("hydra/launcher=submitit", "hydra_plugins.hydra_submitit_launcher", "cluster"),
)


def hydra_command(config_name: str) -> Callable[[Callable[..., Any]], Callable[[], Any]]:
    """Decorate a task function as a sigbench command composing ``<config_name>.yaml`` of the packaged
    configs (``pkg://sigbench.conf``), with the command's own ``--help``."""

    def decorate(task: Callable[..., Any]) -> Callable[[], Any]:
        hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(task)

        @functools.wraps(task)
        def main() -> Any:
            args = sys.argv[1:]
            if any(a in HELP_FLAGS for a in args):
                doc = sys.modules[task.__module__].__doc__ or ""
                print(command_help(program_name(config_name), doc, config_name, args))
                return None
            check_plugins(args)
            return hydra_main()

        return main

    return decorate


def program_name(config_name: str = "") -> str:
    """How the user called the command (``sigbench train``, ``sigbench-train``), or ``sigbench <config>``
    when run as ``python -m sigbench.cli.<module>`` (whose ``argv[0]`` is a file path)."""
    called = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return called if called.startswith("sigbench") else f"sigbench {config_name}".strip()


def check_plugins(args: Sequence[str]) -> None:
    """Exit with the extra to install when an override needs a Hydra plugin that is missing (Hydra itself
    would only say that a config such as ``hydra/sweeper/optuna`` cannot be found)."""
    for arg in args:
        for prefix, module, extra in PLUGINS:
            if arg.lstrip("+~").startswith(prefix) and importlib.util.find_spec(module) is None:
                raise SystemExit(
                    f"{program_name()}: '{arg}' needs the Hydra plugin {module.split('.')[-1]}, which is not "
                    f"installed: {install_hint(extra)}"
                )


@dataclass
class ConfigOutline:
    """What ``--help`` shows of a composed primary config."""

    groups: list[tuple[str, str, list[str]]]  # (group, current choice, options)
    keys: list[tuple[str, str]]  # (top-level key outside the groups, its value as written)


def outline(config_name: str, overrides: Sequence[str] = ()) -> ConfigOutline:
    """The groups that ``config_name`` composes (Hydra's own ``hydra/*`` groups left out) with their
    choice and options, and its other top-level keys, with ``overrides`` applied."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        groups = []
        for group, choice in cfg.hydra.runtime.choices.items():
            if group == "hydra" or group.startswith("hydra/"):
                continue
            options = loader.get_group_options(group)
            if options:
                groups.append((group, "null" if choice is None else str(choice), options))
    tops = {group.split("/")[0] for group, _, _ in groups} | {"hydra"}
    keys = []
    for key in cfg:
        if key in tops:
            continue
        node = cfg._get_node(key)
        value = node if OmegaConf.is_config(node) else node._value()
        keys.append((str(key), yaml_text(value)))
    return ConfigOutline(sorted(groups), keys)


def yaml_text(value: Any) -> str:
    """A value as it would be written on the command line (``null``, ``true``, ``{}``, ``${...}``)."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(value):
        return OmegaConf.to_yaml(value).strip().replace("\n", " ") or "{}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def command_help(prog: str, doc: str, config_name: str, args: Sequence[str] = ()) -> str:
    """The text of ``<prog> --help``: what the command does, its groups and keys, and how to override."""
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        shown, problem = outline(config_name, overrides), ""
    except Exception as err:  # a wrong override must not hide the help itself
        shown, problem = outline(config_name), f"\n(the overrides given did not compose: {err})\n"
    columns = max(60, shutil.get_terminal_size((100, 24)).columns)
    width = max((len(name) for name, *_ in [*shown.groups, *shown.keys]), default=0)

    def row(name: str, text: str) -> str:
        return textwrap.fill(
            f"{name:<{width}}  {text}",
            width=columns,
            initial_indent="  ",
            subsequent_indent=" " * (width + 4),
            break_on_hyphens=False,
        )

    usage = f"Usage: {prog} [GROUP=OPTION ...] [KEY=VALUE ...] [-m] [--cfg job] [--hydra-help]"
    lines = [doc.strip(), "", usage]
    if shown.groups:
        lines += ["", f"Config groups of {config_name}.yaml (current choice, options):"]
        lines += [row(g, f"{choice}  (options: {', '.join(options)})") for g, choice, options in shown.groups]
    if shown.keys:
        lines += ["", "Other keys (KEY=VALUE; ??? must be given):"]
        lines += [row(key, value) for key, value in shown.keys]
    lines += [
        problem,
        "Any key of the composed config can be set with KEY=VALUE (`--cfg job` prints it); -m runs a",
        "sweep over comma-separated values. Your own config folders (e.g. one with experiment/my_run.yaml)",
        "join the search path with hydra.searchpath=[file:///absolute/path/to/folder]. Outputs go under",
        "the current directory (paths.root_dir).",
    ]
    return "\n".join(lines)
