"""Shared fixtures: tiny datasets the tests build themselves, and Hydra composition of the real configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sigbench.data.formats import save_npz
from tests.helpers import REPO, SHARED_DATA, make_toy_dataset

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs a worker process per core: a second torch / OpenMP thread per worker (or per
    # subprocess a test starts) would oversubscribe the cores and slow every test down several times
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


_early_build: subprocess.Popen | None = None


def _start_service_extractor_build(test_ids: list[str]) -> None:
    """Start building the service tests' extractor and bundle in the background as soon as the tests are
    collected, if any service test was selected and the bundle is not cached.

    It takes minutes on a CPU; started here, it overlaps with the tests that do not need it instead of
    holding up a test worker (and the other worker, waiting on the same lock) when the first service test
    runs. The build takes the cache's file lock, so a test that needs the bundle waits for the rest of it;
    if the build fails, that test's own call builds again and reports the failure.
    """
    global _early_build
    if _early_build is not None or not any("test_service_" in i for i in test_ids):
        return
    from tests.service_helpers import CACHE, bundle_is_cached

    if bundle_is_cached():
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    with open(CACHE / "early_build.log", "w") as log:
        _early_build = subprocess.Popen(
            [sys.executable, "-m", "tests.service_helpers"], cwd=REPO, env=env, stdout=log, stderr=log
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # a run without workers
        _start_service_extractor_build([item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    _start_service_extractor_build(ids)  # the controller of a `pytest -n N` run


def pytest_unconfigure(config: pytest.Config) -> None:
    if _early_build is not None:
        _early_build.wait()  # never leave it running (or half-written) behind the session


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
