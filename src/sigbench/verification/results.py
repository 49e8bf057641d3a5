"""Per-fold results in the reference layout, their summary, and atomic writing to disk.

A fold is ``{"all_metrics": compute_metrics(...), "predictions": {"genuinePreds": [...],
"randomPreds": [...], "skilledPreds": [...]}}`` (one score array per exploitation user, users in
increasing id order), which is what luizgh/sigver pickles, so existing analysis scripts read
``results.pkl`` unchanged. ``results.json`` holds the summary and the per-fold metrics (no scores);
non-finite floats (NaN, the ``inf`` threshold sklearn can return) are written as ``null`` so the file
is strict JSON. Both files are written to a temporary file in the same folder and moved into place
with ``os.replace``: a crash mid-write never leaves a truncated file, and an older file stays intact.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sigbench.atomic import atomic_write
from sigbench.verification.metrics import SCALAR_METRICS, compute_metrics, eer_confidence_interval

RESULTS_JSON = "results.json"
RESULTS_PKL = "results.pkl"


def fold_result(
    genuine: Sequence[np.ndarray],
    random: Sequence[np.ndarray],
    skilled: Sequence[np.ndarray],
    threshold: float = 0.0,
    drop_intermediate: bool = True,
) -> dict:
    """One fold in the reference layout: metrics and the per-user score arrays."""
    return {
        "all_metrics": compute_metrics(genuine, random, skilled, threshold, drop_intermediate),
        "predictions": {
            "genuinePreds": list(genuine),
            "randomPreds": list(random),
            "skilledPreds": list(skilled),
        },
    }


def summarize(folds: Sequence[dict], confidence: float = 0.95, ci_method: str = "bootstrap") -> dict:
    """Mean, std (population, ``np.std`` as the reference prints), per-fold values and a confidence
    interval of the mean (see :func:`eer_confidence_interval`) for every scalar metric.

    The default interval is the percentile bootstrap of the mean: it lies between the smallest and the
    largest fold value, so a rate's interval never leaves [0, 1] (a Student-t interval, ``ci_method="t"``,
    goes below zero when a rate is near 0 and its folds vary, e.g. ``FRR 0.08 ± 0.16 [-0.14, 0.30]``).
    NaN metrics (e.g. FAR_random without random forgeries) give NaN mean/std and no interval."""
    if not folds:
        raise ValueError("summarize needs at least one fold")
    out: dict[str, Any] = {
        "n_folds": len(folds),
        "confidence": confidence,
        "ci_method": ci_method,
        "metrics": {},
    }
    for key in SCALAR_METRICS:
        values = [float(f["all_metrics"][key]) for f in folds]
        arr = np.asarray(values)
        finite = bool(np.isfinite(arr).all())
        out["metrics"][key] = {
            "mean": float(arr.mean()),
            "std": float(arr.std()),
            "per_fold": values,
            "ci": eer_confidence_interval(arr, confidence, method=ci_method) if finite else None,
        }
    return out


def json_safe(obj: Any) -> Any:
    """numpy scalars/arrays to Python, non-finite floats to None, recursively."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_results(out_dir: str | os.PathLike, folds: Sequence[dict], summary: dict) -> dict[str, Path]:
    """Write ``results.json`` (summary + per-fold metrics) and ``results.pkl`` (the reference list of
    folds, scores included), each atomically. Returns the two paths."""
    out_dir = Path(out_dir)
    doc = {"summary": summary, "folds": [f["all_metrics"] for f in folds]}
    text = json.dumps(json_safe(doc), indent=2, allow_nan=False).encode()
    json_path = atomic_write(out_dir / RESULTS_JSON, lambda fh: fh.write(text))
    pkl_path = atomic_write(
        out_dir / RESULTS_PKL, lambda fh: pickle.dump(list(folds), fh, protocol=pickle.HIGHEST_PROTOCOL)
    )
    return {"json": json_path, "pkl": pkl_path}


def format_table(summary: dict) -> str:
    """Plain-text table: each scalar metric as ``mean ± std`` in percent, with the CI of the mean and the
    method that gave it."""
    conf = summary.get("confidence", 0.95)
    method = summary.get("ci_method", "t")
    header = f"{'metric':<20} {'mean ± std (%)':>18} {f'{conf:.0%} CI (%, {method})':>30}"
    lines = [header, "-" * len(header)]
    for key, stats in summary["metrics"].items():
        value = f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"
        ci = stats.get("ci")
        interval = f"[{100 * ci['low']:.2f}, {100 * ci['high']:.2f}]" if ci else "n/a"
        lines.append(f"{key:<20} {value:>18} {interval:>30}")
    lines.append(f"({summary['n_folds']} folds)")
    return "\n".join(lines)
