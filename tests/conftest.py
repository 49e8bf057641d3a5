"""Shared fixtures: tiny datasets the tests build themselves, and Hydra composition of the real configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigbench.data.formats import save_npz
from tests.helpers import SHARED_DATA, make_toy_dataset


@pytest.fixture(scope="session")
def toy_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "toy.npz"
    save_npz(make_toy_dataset(), path)
    return path


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    folder = SHARED_DATA / "samples"
    if not folder.exists():
        pytest.skip(f"shared sample scans not found at {folder}")
    return folder
