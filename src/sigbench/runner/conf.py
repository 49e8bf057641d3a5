"""Where the config tree lives: the repository's ``conf/`` (with ``experiments/`` linked in as the
``experiment`` group), or ``$SIGBENCH_CONF`` for installs outside a checkout."""

from __future__ import annotations

import os
from pathlib import Path


def conf_dir() -> str:
    env = os.environ.get("SIGBENCH_CONF")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "conf"
    if not (path / "train.yaml").exists():
        raise FileNotFoundError(
            f"sigbench config folder not found at {path}; run from a checkout or set SIGBENCH_CONF"
        )
    return str(path)
