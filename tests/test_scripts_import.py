"""Benchmarks and figure scripts are not run by the suite, so a refactor could break them silently: each
must at least import (its module-level code and every name it imports from sigbench must exist)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.helpers import REPO

SCRIPTS = sorted([*REPO.glob("benchmarks/*.py"), *REPO.glob("scripts/*.py")])


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_imports(path) -> None:
    spec = importlib.util.spec_from_file_location(f"_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # main() is guarded by __name__ == "__main__"
    assert callable(getattr(module, "main", None)), f"{path} has no main()"
