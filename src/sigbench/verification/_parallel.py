"""Chunked joblib dispatch shared by the protocols.

All randomness is drawn before dispatch and every task is a pure function of its inputs, so results do
not depend on ``n_jobs`` or the backend. Tasks are grouped into a few large contiguous chunks per worker
so dispatch overhead stays negligible. Large arrays go in ``shared`` (not in the items): with process
backends joblib then memory-maps them once per call instead of pickling them with every chunk, and with
``threading`` they are simply shared. Task functions must be module-level (picklable) for ``loky``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from joblib import Parallel, delayed, effective_n_jobs

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("loky", "threading", "multiprocessing", "sequential")


def check_backend(backend: str) -> None:
    """Raise a ValueError listing the valid joblib backends."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown joblib backend {backend!r}; valid: {', '.join(BACKENDS)}")


def _run_chunk(fn: Callable[..., R], chunk: Sequence[Any], shared: dict[str, Any]) -> list[R]:
    return [fn(item, **shared) for item in chunk]


def parallel_map(
    fn: Callable[..., R],
    items: Sequence[T],
    n_jobs: int = 1,
    backend: str = "loky",
    shared: dict[str, Any] | None = None,
    chunks_per_job: int = 2,
) -> list[R]:
    """``[fn(x, **shared) for x in items]`` in order, over ``n_jobs`` workers in contiguous chunks."""
    check_backend(backend)
    shared = shared or {}
    items = list(items)
    n_workers = effective_n_jobs(n_jobs)
    if n_workers == 1 or len(items) <= 1 or backend == "sequential":
        return _run_chunk(fn, items, shared)
    n_chunks = max(1, min(len(items), n_workers * chunks_per_job))
    bounds = [round(i * len(items) / n_chunks) for i in range(n_chunks + 1)]
    chunks = [items[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    out = Parallel(n_jobs=n_workers, backend=backend)(delayed(_run_chunk)(fn, c, shared) for c in chunks)
    return [r for chunk in out for r in chunk]
