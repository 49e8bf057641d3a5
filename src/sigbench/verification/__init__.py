"""Signature verification on extracted features: the reference metrics and the WD / WI / distance
protocols (notes/protocols.md sections 6-8), and every pair of signatures (``pairs``). Works on numpy
features and scores only.

Modules: ``metrics`` (reference metric suite, a-priori threshold, CI), ``splits`` (references / test /
negatives, shared by all protocols), ``wd``, ``wi``, ``distance`` (baselines and ``DistanceMatcher``),
``pairs`` (genuine vs impostor pairs), ``holdout`` (quick check during training), ``protocol`` (front
door), ``results`` (summary and atomic files), ``plots`` (ROC/DET). Names below are imported lazily so
that ``import sigbench.verification`` stays cheap (sklearn SVMs and matplotlib load only when used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "eer": "metrics",
    "compute_eer": "metrics",
    "compute_metrics": "metrics",
    "far_frr_at_threshold": "metrics",
    "a_priori_metrics": "metrics",
    "eer_confidence_interval": "metrics",
    "holdout_verification": "holdout",
    "DistanceMatcher": "distance",
    "distance_scores": "distance",
    "run_protocol": "protocol",
    "run_wd": "wd",
    "run_wi": "wi",
    "run_distance": "distance",
    "run_pairs": "pairs",
    "PROTOCOLS": "protocol",
    "summarize": "results",
    "write_results": "results",
    "format_table": "results",
    "save_curves": "plots",
    "add_curves_to_tensorboard": "plots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sigbench.verification' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sigbench.verification.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
