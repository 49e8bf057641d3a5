"""Where the config tree lives: inside the package (``sigbench/conf``), so a wheel install carries it.

The console scripts name it as Hydra's ``pkg://sigbench.conf`` (found through the import system, wherever
sigbench is installed); :func:`conf_dir` gives the same folder as a path, for the compose API in tests and
tools. Outputs never go there: ``paths.root_dir`` is the directory a command is started from.  User config
folders (an ``experiment/`` of one's own, say) are added on the command line with
``hydra.searchpath=[file:///abs/path/to/conf]``; see docs/packaging.md.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_MODULE = "sigbench.conf"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"


def conf_dir() -> str:
    """The packaged config folder as an absolute path."""
    path = Path(__file__).resolve().parents[1] / "conf"
    if not (path / "train.yaml").exists():
        raise FileNotFoundError(
            f"sigbench config folder not found at {path}: a broken install, reinstall sigbench"
        )
    return str(path)
