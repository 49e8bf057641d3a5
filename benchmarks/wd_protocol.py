"""Wall time of the writer-dependent protocol: joblib workers vs one user at a time.

CEDAR-sized exploitation set (55 users, 24 genuine + 24 skilled each) plus development users for the
negatives, 2048-d non-negative float32 features with user structure (like SigNet's), 10 folds, the
reference settings (12 references, 10 test genuines, 14 negatives per development user, RBF SVM,
sigver random forgeries). The serial baseline is the same function with ``n_jobs=1`` (a plain loop over
users, no joblib). Both runs must give identical metrics and scores; timings are printed, not asserted.
The host is often shared: a pure-CPU calibration (how much more work N processes do than one, right now)
is printed next to the ratio, since no parallel code can beat it.

    .venv/bin/python benchmarks/wd_protocol.py [--folds 10] [--dev-users 20] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from sigbench.verification.metrics import SCALAR_METRICS
from sigbench.verification.wd import run_wd


def make_features(n_exp: int, n_dev: int, dim: int, seed: int = 0):
    """Users with a shared-offset centre; genuines near it, skilled forgeries between it and another."""
    rng = np.random.default_rng(seed)
    n_users = n_exp + n_dev
    centres = rng.gamma(1.0, 1.0, size=(n_users, dim)).astype(np.float32)
    n_gen, n_forg = 24, 24
    y = np.repeat(np.arange(n_users), n_gen + n_forg)
    yforg = np.tile(np.r_[np.zeros(n_gen, int), np.ones(n_forg, int)], n_users)
    x = centres[y] + rng.normal(0, 0.8, size=(len(y), dim)).astype(np.float32)
    forg = yforg == 1
    other = centres[rng.integers(0, n_users, forg.sum())]
    x[forg] = 0.5 * centres[y[forg]] + 0.5 * other + rng.normal(0, 0.8, size=(forg.sum(), dim))
    return np.maximum(x, 0).astype(np.float32), y, yforg


def _spin(n: int = 3_000_000) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - start


def host_capacity(n_jobs: int) -> float:
    """How many times more pure-CPU work ``n_jobs`` processes get done than one, right now.

    On a shared host other tenants can take cores; this bounds the speed-up any parallel code can show
    at the moment and makes the measured ratio interpretable.
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(n_jobs) as pool:
        list(pool.map(_spin, [10] * n_jobs))  # start the workers
        one = _spin()
        start = time.perf_counter()
        list(pool.map(_spin, [3_000_000] * n_jobs))
        many = time.perf_counter() - start
    return n_jobs * one / many


def timed(**kwargs):
    start = time.perf_counter()
    out = run_wd(**kwargs)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--exp-users", type=int, default=55)
    parser.add_argument("--dev-users", type=int, default=20)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--backend", default="loky")
    args = parser.parse_args()

    x, y, yforg = make_features(args.exp_users, args.dev_users, args.dim)
    common = dict(
        features=x,
        y=y,
        yforg=yforg,
        exp_users=range(args.exp_users),
        dev_users=range(args.exp_users, args.exp_users + args.dev_users),
        folds=args.folds,
    )
    print(
        f"WD protocol: {args.exp_users} users x {args.folds} folds, {args.dev_users} dev users, "
        f"{args.dim}-d, {os.cpu_count()} CPUs"
    )
    capacity_before = host_capacity(args.n_jobs)
    t_serial, serial = timed(n_jobs=1, **common)
    t_par, par = timed(n_jobs=args.n_jobs, backend=args.backend, **common)
    capacity_after = host_capacity(args.n_jobs)

    pairs = list(zip(serial, par, strict=True))
    same_metrics = all(s["all_metrics"][k] == p["all_metrics"][k] for s, p in pairs for k in SCALAR_METRICS)
    same_scores = all(
        np.array_equal(a, b)
        for s, p in pairs
        for key in ("genuinePreds", "randomPreds", "skilledPreds")
        for a, b in zip(s["predictions"][key], p["predictions"][key], strict=True)
    )
    eer = np.mean([f["all_metrics"]["EER"] for f in serial])
    print(f"serial (n_jobs=1):            {t_serial:8.2f} s")
    print(f"parallel (n_jobs={args.n_jobs}, {args.backend}): {t_par:8.2f} s")
    print(f"speed-up:                     {t_serial / t_par:8.2f} x")
    print(
        f"host capacity for {args.n_jobs} processes (pure-CPU calibration, before/after): "
        f"{capacity_before:.2f} x / {capacity_after:.2f} x"
    )
    print(f"identical metrics: {same_metrics}, identical scores: {same_scores}; mean EER {100 * eer:.2f}%")


if __name__ == "__main__":
    main()
