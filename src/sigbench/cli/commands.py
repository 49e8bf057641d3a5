"""``sigbench``: one command with sub-commands (``sigbench train ...``, ``sigbench eval ...``); also
``python -m sigbench``.  The ``sigbench-<name>`` scripts remain as aliases of the same functions.

A sub-command is one row of :data:`COMMANDS`: its ``module:function`` (imported only when that command runs,
so ``sigbench --help`` stays fast) and a one-line summary.  Optional rows (packages that may not be
installed, such as the service) are listed only when their module can be found.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Command:
    target: str  # "package.module:function", called without arguments (it reads sys.argv)
    summary: str
    optional: bool = False  # listed only when the module is importable

    @property
    def module(self) -> str:
        return self.target.split(":")[0]

    def available(self) -> bool:
        if not self.optional:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            return False


COMMANDS: dict[str, Command] = {
    "train": Command("sigbench.cli.train:main", "train a model from composed configs (experiment=NAME)"),
    "eval": Command(
        "sigbench.cli.evaluate:main", "verification protocols (WD, WI, distance) on a checkpoint or features"
    ),
    "prepare": Command("sigbench.cli.prepare:main", "preprocess a real dataset's scans into an npz"),
    "synthetic": Command("sigbench.cli.synthetic:main", "write synthetic signatures (PNG files, npz)"),
    "embed": Command("sigbench.cli.embed:main", "embeddings of a trained checkpoint (npz, projector)"),
    "invert": Command("sigbench.cli.invert:main", "training-like signatures from a trained teacher"),
    "synth": Command("sigbench.cli.synth:main", "a synthesised document set with signatures (COCO, YOLO)"),
    "detect": Command("sigbench.cli.detect:main", "signatures on pages (images, folders, PDFs)"),
    "segment": Command("sigbench.cli.segment:main", "signature ink masks on pages or crops"),
    "clean": Command("sigbench.cli.clean:main", "remove clutter from signature crops (SignVer cleaner)"),
    "service": Command(
        "sigbench.service.cli:main", "the verification service (bundles, enrolment, API)", optional=True
    ),
}


def available_commands() -> dict[str, Command]:
    return {name: command for name, command in COMMANDS.items() if command.available()}


def overview() -> str:
    """The text of ``sigbench --help``."""
    from sigbench import __version__

    commands = available_commands()
    width = max(len(name) for name in commands)
    rows = "\n".join(f"  {name:<{width}}  {command.summary}" for name, command in commands.items())
    return (
        f"sigbench {__version__}: offline handwritten signature analysis experiments.\n\n"
        f"Usage: sigbench COMMAND [ARGS ...]    (sigbench COMMAND --help: what it does, its options)\n\n"
        f"Commands:\n{rows}\n\n"
        "Each command also exists as sigbench-COMMAND; `python -m sigbench COMMAND` is the same."
    )


@contextmanager
def running_as_main(module: ModuleType, argv0: str, args: Sequence[str]) -> Iterator[None]:
    """Run ``module``'s entry point as if it had been started directly: ``sys.argv`` holds only its own
    arguments and ``__main__`` is that module.  Lightning re-launches DDP ranks with
    ``python -m <__main__.__spec__.name> <sys.argv[1:]>``; without this the ranks would start
    ``sigbench`` without the sub-command."""
    saved_argv, saved_main = sys.argv, sys.modules.get("__main__")
    sys.argv = [argv0, *args]
    sys.modules["__main__"] = module
    try:
        yield
    finally:
        sys.argv = saved_argv
        if saved_main is not None:
            sys.modules["__main__"] = saved_main


def main(argv: Sequence[str] | None = None) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(overview())
        return 0
    if args[0] == "--version":
        from sigbench import __version__

        print(f"sigbench {__version__}")
        return 0
    name, rest = args[0], args[1:]
    commands = available_commands()
    if name not in commands:
        raise SystemExit(f"sigbench: unknown command {name!r}; commands: {', '.join(commands)}")
    module_name, function = commands[name].target.split(":")
    module = importlib.import_module(module_name)
    with running_as_main(module, f"sigbench {name}", rest):
        result = getattr(module, function)()
    return result if isinstance(result, int) else None  # an exit status; other values are not one


if __name__ == "__main__":
    sys.exit(main())
