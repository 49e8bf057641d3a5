"""Calibration: the two thresholds of each mode, chosen a priori on development writers.

On *development* writers (never the ones the error rates are reported on) each writer's first ``n_ref``
genuine signatures are its references; its other genuine signatures, its skilled forgeries and other
writers' genuine signatures (random forgeries) are scored against them, exactly as verification scores a
query. Then

* ``accept`` is the lowest threshold at which the false-acceptance rate of skilled forgeries is at most
  ``target_far`` (accept where ``score >= accept``);
* ``reject`` is the highest threshold at which the false-rejection rate is at most ``target_frr``
  (reject where ``score < reject``).

When the two cross (the development scores separate so well that both targets hold at once) both are set
to their midpoint, where both targets still hold. The same scores on *held-out* writers give the rates a
deployment can expect, reported beside the targets with the bench's a-priori metrics
(:func:`sigbench.verification.metrics.far_frr_at_threshold`,
:func:`~sigbench.verification.metrics.a_priori_metrics`), and a DET plot
(:func:`sigbench.verification.plots.plot_det`) per mode.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sigbench.service.bundle import Calibration, Thresholds
from sigbench.service.pipeline import Pipeline
from sigbench.service.verify import DEFAULT_FUSION, mode_scores
from sigbench.verification.metrics import a_priori_metrics, far_frr_at_threshold
from sigbench.verification.plots import plot_det

DEFAULT_TARGETS = {"far_skilled": 0.01, "frr": 0.01}


@dataclass
class Labelled:
    """Embeddings with their writer (``y``) and kind (``yforg``: 0 genuine, 1 skilled forgery)."""

    embeddings: np.ndarray
    y: np.ndarray
    yforg: np.ndarray

    def users(self) -> np.ndarray:
        return np.unique(self.y)


@dataclass
class ScoreSets:
    """Per-writer score arrays of genuine queries, random forgeries and skilled forgeries."""

    genuine: list[np.ndarray]
    random: list[np.ndarray]
    skilled: list[np.ndarray]

    def pooled(self, kind: str) -> np.ndarray:
        parts = getattr(self, kind)
        return np.concatenate(parts) if parts else np.empty(0)


def score_sets(
    data: Labelled,
    mode: str,
    n_ref: int,
    negatives: np.ndarray | None = None,
    fusion: str = DEFAULT_FUSION,
    random_per_writer: int = 1,
) -> ScoreSets:
    """Scores of every writer's queries against its first ``n_ref`` genuine signatures.

    Random forgeries: the first ``random_per_writer`` genuine queries of every other writer.
    """
    users = data.users()
    rows = {u: np.flatnonzero((data.y == u) & (data.yforg == 0)) for u in users}
    short = [int(u) for u in users if len(rows[u]) <= n_ref]
    if short:
        raise ValueError(f"calibration: writers {short} have <= {n_ref} genuine signatures (n_ref={n_ref})")
    others = {u: rows[u][n_ref : n_ref + random_per_writer] for u in users}
    out = ScoreSets([], [], [])
    for u in users:
        refs = data.embeddings[rows[u][:n_ref]]
        random_rows = np.concatenate([others[v] for v in users if v != u]) if len(users) > 1 else []
        skilled_rows = np.flatnonzero((data.y == u) & (data.yforg == 1))
        groups = (rows[u][n_ref:], np.asarray(random_rows, dtype=int), skilled_rows)
        for target, group in zip((out.genuine, out.random, out.skilled), groups, strict=True):
            if len(group) == 0:
                target.append(np.empty(0))
            else:
                target.append(mode_scores(mode, data.embeddings[group], refs, negatives, fusion))
    return out


def choose_thresholds(
    genuine: np.ndarray, skilled: np.ndarray, target_far: float, target_frr: float
) -> tuple[float, float, str]:
    """``(accept, reject, note)`` meeting the targets on these scores (see the module docstring)."""
    if genuine.size == 0 or skilled.size == 0:
        raise ValueError(
            f"calibration needs genuine and skilled scores; got {genuine.size} and {skilled.size}"
        )
    for name, value in (("target_far", target_far), ("target_frr", target_frr)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    forged = np.sort(skilled)[::-1]
    allowed_fa = int(np.floor(target_far * forged.size))
    # accepted forgeries are those >= accept: just above the (allowed_fa + 1)-th highest leaves allowed_fa
    accept = float(np.nextafter(forged[allowed_fa], np.inf))
    real = np.sort(genuine)
    allowed_fr = int(np.floor(target_frr * real.size))
    reject = float(real[allowed_fr])  # rejected genuines are those < reject: at most allowed_fr
    note = ""
    if reject > accept:
        accept = reject = (accept + reject) / 2.0
        note = "both targets hold at one threshold on the development writers: no refer band"
    return accept, reject, note


def rates(scores: ScoreSets, accept: float, reject: float) -> dict[str, float]:
    """Held-out rates of the three-way rule: accept errors at ``accept``, reject errors at ``reject``,
    and how often each kind of query is referred."""
    at_accept = far_frr_at_threshold(scores.genuine, scores.random, scores.skilled, accept)
    at_reject = far_frr_at_threshold(scores.genuine, scores.random, scores.skilled, reject)
    gen, skl = scores.pooled("genuine"), scores.pooled("skilled")
    return {
        "genuine_mean": float(gen.mean()),
        "genuine_std": float(gen.std()),
        "FAR_skilled": at_accept["FAR_skilled"],
        "FAR_random": at_accept["FAR_random"],
        "FRR": at_reject["FRR"],
        "genuine_accepted": float(np.mean(gen >= accept)),
        "genuine_referred": float(np.mean((gen >= reject) & (gen < accept))),
        "skilled_referred": float(np.mean((skl >= reject) & (skl < accept))),
        "skilled_rejected": float(np.mean(skl < reject)),
    }


def det_png(scores: ScoreSets, title: str) -> bytes:
    import matplotlib.pyplot as plt

    figure = plot_det(scores.genuine, scores.skilled, scores.random, title=title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def calibrate(
    development: Labelled,
    held_out: Labelled,
    negatives: np.ndarray | None,
    n_ref: int = 5,
    target_far: float = DEFAULT_TARGETS["far_skilled"],
    target_frr: float = DEFAULT_TARGETS["frr"],
    modes: Sequence[str] = ("distance", "wd_svm"),
    fusion: str = DEFAULT_FUSION,
) -> Calibration:
    """Thresholds per mode from ``development``, their rates on ``held_out``, DET plots of ``held_out``."""
    overlap = set(development.users().tolist()) & set(held_out.users().tolist())
    if overlap:
        raise ValueError(f"calibration: development and held-out writers overlap: {sorted(overlap)[:10]}")
    thresholds, plots, report = {}, {}, {"fusion": fusion, "n_ref": n_ref}
    for mode in modes:
        dev = score_sets(development, mode, n_ref, negatives, fusion)
        test = score_sets(held_out, mode, n_ref, negatives, fusion)
        accept, reject, note = choose_thresholds(
            dev.pooled("genuine"), dev.pooled("skilled"), target_far, target_frr
        )
        eer_point = a_priori_metrics(dev.genuine, dev.skilled, test.genuine, test.random, test.skilled)
        mode_report = {
            "development": {"writers": int(len(development.users())), **rates(dev, accept, reject)},
            "held_out": {"writers": int(len(held_out.users())), **rates(test, accept, reject)},
            "held_out_at_dev_eer_threshold": eer_point,
            "note": note,
        }
        targets = {"far_skilled": target_far, "frr": target_frr}
        thresholds[mode] = Thresholds(accept, reject, targets, mode_report)
        plots[mode] = det_png(test, f"{mode}: held-out writers")
        report[mode] = mode_report
    return Calibration(thresholds, negatives, plots, report)


# --------------------------------------------------------------------------------------------- synthetic


def synthetic_scans(
    writers: Iterable[int], genuine: int, forgeries: int, seed: int = 0, difficulty: str = "default"
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Raw scans (dark ink on paper) of the built-in synthetic writers, with ``y`` / ``yforg`` labels."""
    from sigbench.data.synthetic import render_raw_scan

    images, y, yforg = [], [], []
    for writer in writers:
        for sample in range(genuine):
            images.append(render_raw_scan(writer, sample, False, difficulty, seed))
            y.append(writer)
            yforg.append(0)
        for sample in range(forgeries):
            images.append(render_raw_scan(writer, sample, True, difficulty, seed))
            y.append(writer)
            yforg.append(1)
    return images, np.asarray(y), np.asarray(yforg)


class _OneSignature:
    """A signature source handing out one given image (the page synthesiser's source interface)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def sample(self, rng: np.random.Generator) -> Any:
        from sigbench.documents.sources import SignatureSample

        return SignatureSample(self.image, "calibration", "calibration")

    def config(self) -> dict[str, Any]:
        return {}


def page_crop(image: np.ndarray, index: int, page_seed: int = 1) -> np.ndarray:
    """``image`` pasted on synthesised page ``index`` (level 1, scanned) and cut out at its box, grey."""
    import cv2

    from sigbench.data.preprocess import to_grayscale
    from sigbench.documents.synthesize import synthesize_page
    from sigbench.service.pipeline import cut
    from sigbench.service.synthetic import annotation_boxes

    cv2.setNumThreads(1)  # one page per worker process; the workers are the parallelism
    page = synthesize_page(index, 1, _OneSignature(image), seed=page_seed, capture=("scan",))
    (_, box), *_ = annotation_boxes(page)
    return to_grayscale(cut(page.image, box))


def page_crops(
    images: Sequence[np.ndarray], y: np.ndarray, yforg: np.ndarray, page_seed: int = 1, n_jobs: int = 1
) -> list:
    """Each signature pasted on its own synthesised page (level 1, scanned) and cut out at its box: what
    the pipeline sees of a signature on a document (page resolution, ink fusion, capture noise).

    Every page is drawn from its own index and ``page_seed`` alone, so the crops are the same for any
    ``n_jobs`` (joblib worker processes of one thread each; 1 runs in this process).
    """
    indices = [
        int(writer) * 1000 + 500 * int(forged) + k
        for k, (writer, forged) in enumerate(zip(y, yforg, strict=True))
    ]
    if len(indices) != len(images):
        raise ValueError(f"page_crops: {len(images)} images but {len(indices)} labels")
    if n_jobs == 1:
        return [page_crop(image, index, page_seed) for image, index in zip(images, indices, strict=True)]
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        return Parallel(n_jobs=n_jobs)(
            delayed(page_crop)(image, index, page_seed) for image, index in zip(images, indices, strict=True)
        )


def synthetic_crops(
    writers: Iterable[int],
    genuine: int,
    forgeries: int,
    seed: int = 0,
    on_pages: bool = True,
    difficulty: str = "default",
    n_jobs: int = 1,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Signature images of synthetic writers as the pipeline receives them, with ``y`` / ``yforg``:
    ``on_pages``: as cut from synthesised pages (:func:`page_crops`, ``n_jobs`` processes), else raw scans.
    They need no model, so they can be made while the models train."""
    images, y, yforg = synthetic_scans(writers, genuine, forgeries, seed, difficulty)
    if on_pages:
        images = page_crops(images, y, yforg, n_jobs=n_jobs)
    return images, y, yforg


def synthetic_labelled(
    pipeline: Pipeline,
    writers: Iterable[int],
    genuine: int,
    forgeries: int,
    seed: int = 0,
    on_pages: bool = True,
    difficulty: str = "default",
    n_jobs: int = 1,
) -> Labelled:
    """Synthetic writers (:func:`synthetic_crops`) embedded through the service pipeline (the same path a
    deployed query takes)."""
    images, y, yforg = synthetic_crops(writers, genuine, forgeries, seed, on_pages, difficulty, n_jobs)
    return Labelled(pipeline.embed_crops(images), y, yforg)


def report_lines(calibration: Calibration | dict[str, Any]) -> list[str]:
    """Human-readable summary: thresholds, targets, development and held-out rates per mode."""
    report = calibration.report if isinstance(calibration, Calibration) else calibration
    lines = []
    for mode, entry in report.items():
        if not isinstance(entry, dict) or "held_out" not in entry:
            continue
        dev, test = entry["development"], entry["held_out"]
        lines.append(
            f"{mode}: held-out FAR(skilled) {100 * test['FAR_skilled']:.1f}% "
            f"(development {100 * dev['FAR_skilled']:.1f}%), held-out FRR {100 * test['FRR']:.1f}% "
            f"(development {100 * dev['FRR']:.1f}%), "
            f"referred: genuine {100 * test['genuine_referred']:.1f}%, "
            f"skilled {100 * test['skilled_referred']:.1f}%"
        )
    return lines
