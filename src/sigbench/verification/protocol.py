"""One front door: run a verification protocol on extracted features and get per-fold results.

``run_protocol(features, y, yforg, "wd" | "wi" | "distance" | "pairs", exp_users, dev_users, ...)``
returns the reference per-fold layout (:mod:`sigbench.verification.results`); :func:`summarize`,
:func:`write_results` and :func:`format_table` turn it into numbers and files. Protocol-specific options
are passed as keywords and forwarded to :func:`~sigbench.verification.wd.run_wd`,
:func:`~sigbench.verification.wi.run_wi`, :func:`~sigbench.verification.distance.run_distance` or
:func:`~sigbench.verification.pairs.run_pairs` (see their docstrings for the reference defaults); a
misspelt option is an error, not ignored.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import numpy as np

from sigbench.verification.distance import run_distance
from sigbench.verification.pairs import run_pairs
from sigbench.verification.results import format_table, summarize, write_results
from sigbench.verification.wd import run_wd
from sigbench.verification.wi import run_wi

__all__ = ["PROTOCOLS", "format_table", "protocol_options", "run_protocol", "summarize", "write_results"]

PROTOCOLS: dict[str, Callable[..., list[dict]]] = {
    "wd": run_wd,
    "wi": run_wi,
    "distance": run_distance,
    "pairs": run_pairs,
}
_COMMON = ("features", "y", "yforg", "exp_users", "dev_users", "folds", "seed", "n_jobs")


def protocol_options(protocol: str) -> dict[str, object]:
    """The protocol-specific keyword options and their defaults."""
    runner = _runner(protocol)
    params = inspect.signature(runner).parameters
    return {name: p.default for name, p in params.items() if name not in _COMMON}


def _runner(protocol: str) -> Callable[..., list[dict]]:
    try:
        return PROTOCOLS[protocol]
    except (KeyError, TypeError):
        raise ValueError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}") from None


def run_protocol(
    features: np.ndarray,
    y: np.ndarray,
    yforg: np.ndarray,
    protocol: str,
    exp_users: Iterable[int],
    dev_users: Iterable[int] | None = None,
    folds: int = 10,
    seed: int = 1234,
    n_jobs: int = 1,
    **protocol_params: object,
) -> list[dict]:
    """Run ``protocol`` for ``folds`` folds drawn from ``np.random.RandomState(seed)``.

    Returns ``[{"all_metrics": {...}, "predictions": {"genuinePreds", "randomPreds", "skilledPreds"}}]``,
    one per fold, users in increasing id order. ``n_jobs`` parallelises users (and WI folds); results
    are identical for any ``n_jobs``. Raises ValueError on unknown protocol or option names (listing
    the valid ones) and on invalid data (see :func:`sigbench.verification.splits.validate_inputs`).
    """
    runner = _runner(protocol)
    valid = protocol_options(protocol)
    unknown = sorted(set(protocol_params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for protocol {protocol!r}; valid: {', '.join(sorted(valid))}"
        )
    return runner(
        features,
        y,
        yforg,
        exp_users,
        dev_users,
        folds=folds,
        seed=seed,
        n_jobs=n_jobs,
        **protocol_params,
    )
