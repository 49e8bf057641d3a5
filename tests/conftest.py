"""Shared fixtures: tiny datasets the tests build themselves, and Hydra composition of the real configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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


@pytest.fixture(scope="module")
def single_thread():
    """Tiny networks run many small ops: one torch thread avoids OpenMP contention on busy machines.

    Use with ``pytestmark = pytest.mark.usefixtures("single_thread")`` in a test module.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_hydra_run_left_over():
    """A test that runs a Hydra main in-process leaves that run's config in Hydra's global ``HydraConfig``;
    code that reads it (the overrides written to TensorBoard) must not see another test's run."""
    yield
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().cfg = None
