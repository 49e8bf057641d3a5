"""ROC and DET curves of verification scores, as PNG files or TensorBoard figures.

Figures are built with the object-oriented API (``matplotlib.figure.Figure`` + the Agg canvas) so that
nothing here touches pyplot's global state or needs a display: safe inside training jobs and threads.
Curves pool the scores of all users (the global-threshold view used by the EER); they use every ROC point
(``drop_intermediate=False``) because plotting, unlike the reference EER rule, should show them all.
Accept means ``score >= threshold``; DET axes are probit-scaled (normal deviate), as is customary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import norm

from sigbench.verification.metrics import compute_eer, roc_curve

Scores = np.ndarray | Sequence[np.ndarray]
_DET_TICKS = np.array([0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95])


def _pool(scores: Scores | None) -> np.ndarray:
    if scores is None:
        return np.empty(0)
    if isinstance(scores, np.ndarray):
        return scores.reshape(-1)
    parts = [np.asarray(s).reshape(-1) for s in scores]
    return np.concatenate(parts) if parts else np.empty(0)


def _forgery_sets(skilled: Scores | None, random: Scores | None) -> list[tuple[str, np.ndarray]]:
    sets = [(name, _pool(s)) for name, s in (("skilled", skilled), ("random", random))]
    sets = [(n, s) for n, s in sets if s.size]
    if not sets:
        raise ValueError("plotting needs skilled or random forgery scores")
    return sets


def _new_figure() -> Figure:
    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_roc(
    genuine: Scores, skilled: Scores | None = None, random: Scores | None = None, title: str = "ROC"
) -> Figure:
    """ROC (true acceptance vs false acceptance) of genuine against each forgery type; returns a Figure."""
    gen = _pool(genuine)
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for name, forg in _forgery_sets(skilled, random):
        fpr, tpr, _ = roc_curve(gen, forg, drop_intermediate=False)
        eer, _ = compute_eer(gen, forg)
        ax.plot(fpr, tpr, label=f"{name} (EER {100 * eer:.2f}%)")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=0.8)
    ax.set(
        xlabel="False acceptance rate", ylabel="True acceptance rate", title=title, xlim=(0, 1), ylim=(0, 1)
    )
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def plot_det(
    genuine: Scores, skilled: Scores | None = None, random: Scores | None = None, title: str = "DET"
) -> Figure:
    """DET (false rejection vs false acceptance, probit axes) per forgery type; returns a Figure."""
    gen = _pool(genuine)
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    eps = 1e-4
    for name, forg in _forgery_sets(skilled, random):
        fpr, tpr, _ = roc_curve(gen, forg, drop_intermediate=False)
        far = norm.ppf(np.clip(fpr, eps, 1 - eps))
        frr = norm.ppf(np.clip(1 - tpr, eps, 1 - eps))
        eer, _ = compute_eer(gen, forg)
        ax.plot(far, frr, label=f"{name} (EER {100 * eer:.2f}%)")
    ticks = norm.ppf(_DET_TICKS)
    labels = [f"{100 * t:g}" for t in _DET_TICKS]
    lim = (norm.ppf(eps), norm.ppf(1 - eps))
    ax.plot(lim, lim, ls=":", c="grey", lw=0.8)
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set(
        xlabel="False acceptance rate (%)", ylabel="False rejection rate (%)", title=title, xlim=lim, ylim=lim
    )
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def save_curves(
    out_dir: str | os.PathLike,
    genuine: Scores,
    skilled: Scores | None = None,
    random: Scores | None = None,
    prefix: str = "",
) -> dict[str, Path]:
    """Write ``{prefix}roc.png`` and ``{prefix}det.png`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, make in (("roc", plot_roc), ("det", plot_det)):
        path = out / f"{prefix}{kind}.png"
        make(genuine, skilled, random).savefig(path)
        paths[kind] = path
    return paths


def add_curves_to_tensorboard(
    writer: Any,
    genuine: Scores,
    skilled: Scores | None = None,
    random: Scores | None = None,
    global_step: int | None = None,
    tag: str = "verification",
) -> None:
    """Add the ROC and DET figures to a ``torch.utils.tensorboard.SummaryWriter`` (``{tag}/roc``,
    ``{tag}/det``). Any object with ``add_figure(tag, figure, global_step)`` works."""
    writer.add_figure(f"{tag}/roc", plot_roc(genuine, skilled, random), global_step=global_step)
    writer.add_figure(f"{tag}/det", plot_det(genuine, skilled, random), global_step=global_step)


def add_score_histograms(
    writer: Any,
    genuine: Scores,
    skilled: Scores | None = None,
    random: Scores | None = None,
    global_step: int | None = None,
    tag: str = "verification",
) -> list[str]:
    """Histograms of the pooled scores per kind (``{tag}/scores/genuine``, ``.../skilled``,
    ``.../random``): how far apart the distributions are, epoch after epoch. Returns the tags written."""
    tags = []
    for name, scores in (("genuine", genuine), ("skilled", skilled), ("random", random)):
        pooled = _pool(scores)
        if pooled.size:
            writer.add_histogram(f"{tag}/scores/{name}", pooled, global_step=global_step)
            tags.append(f"{tag}/scores/{name}")
    return tags
