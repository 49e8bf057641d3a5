"""``sigbench-detect``: a trained detector over image files, folders and PDFs, with per-page outputs.

The detector is rebuilt from the config its checkpoint carries; page geometry (long side, tiling) defaults
to what it was trained with, so a model trained on tiles of 300-dpi scans is applied the same way. With
``gt=`` (a folder of AOSSig label txt files) the predictions are scored at once with
:func:`sigbench.detection.evaluate.evaluate_pages` at IoU 0.5 and 0.75 -- the two numbers AOSSig reports --
plus COCO mAP at IoU 0.5. ``gt`` may be AOSSig txt, GEDI XML (Tobacco800), a COCO json or YOLO txt
(:func:`sigbench.detection.groundtruth.read_ground_truth`, detected unless ``gt_format`` names it).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sigbench.atomic import remove_stale_temps_in
from sigbench.checkpoint_io import load_task
from sigbench.detection.evaluate import average_precision_50, evaluate_pages
from sigbench.detection.groundtruth import GT_FORMATS, read_ground_truth
from sigbench.detection.infer import detect_pages, iter_pages, write_page
from sigbench.documents.formats import FormatError, atomic_write_text, read_quads
from sigbench.features.extract import pick_device
from sigbench.images import DEFAULT_DPI, DEFAULT_MAX_PIXELS, gather_inputs, skipped_note, write_skipped
from sigbench.runner.preflight import check_output
from sigbench.runner.summary import print_summary
from sigbench.runner.validation import ConfigError

log = logging.getLogger(__name__)
EVAL_IOUS = (0.5, 0.75)


def geometry(cfg: DictConfig, trained: dict[str, Any]) -> dict[str, int | None]:
    """Long side and tiling: the command line's where given (0 switches off), else the checkpoint's data."""

    def pick(key: str, fallback: int | None) -> int | None:
        value = cfg.get(key)
        return trained.get(key, fallback) if value is None else value

    return {
        "long_side": pick("long_side", 1024) or None,
        "tile_size": pick("tile_size", None) or None,
        "tile_overlap": pick("tile_overlap", 256) or 0,
    }


def page_sizes(pred_dir: Path) -> dict[str, tuple[int, int]]:
    """``{stem: (width, height)}`` from the per-page json files :func:`write_page` wrote (YOLO needs them)."""
    sizes = {}
    for path in sorted(pred_dir.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and "width" in record and "height" in record:
            sizes[path.stem] = (int(record["width"]), int(record["height"]))
    return sizes


def score(
    pred_dir: Path, gt: str, score_threshold: float, gt_format: str = "auto", stems: list[str] | None = None
) -> dict[str, float]:
    """AOSSig P/R/F at each IoU of :data:`EVAL_IOUS` and mAP50 of the predictions in ``pred_dir``.

    ``stems`` are the pages this run wrote (default: every ``*.txt`` of ``pred_dir``); each must have ground
    truth -- a page missing from ``gt`` almost always means mismatched names, which would skew the scores.
    Ground-truth pages that were not run are left out, so a subset of a collection can be scored.
    """
    try:
        truth = read_ground_truth(gt, gt_format, sizes=page_sizes(pred_dir))
    except (FileNotFoundError, FormatError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    stems = sorted(p.stem for p in pred_dir.glob("*.txt")) if stems is None else stems
    missing = [s for s in stems if s not in truth]
    if missing:
        raise ConfigError(f"gt: {gt} has no ground truth for pages {', '.join(missing[:5])}")
    pred = {s: read_quads(pred_dir / f"{s}.txt") for s in stems}
    truth = {s: truth[s] for s in stems}
    metrics: dict[str, float] = {}
    for iou in EVAL_IOUS:
        result = evaluate_pages(truth, pred, iou=iou, score_threshold=score_threshold)
        tag = f"{round(iou * 100):d}"
        metrics.update({f"{k}@{tag}": result[k] for k in ("precision", "recall", "fmeasure")})
        metrics.update({f"matched@{tag}": result["matched"], f"num_pred@{tag}": result["num_pred"]})
        metrics["num_gt"] = result["num_gt"]
    metrics["map@50"] = average_precision_50(truth, pred)
    return metrics


def check_map_threshold(value: Any) -> float | None:
    """``map_threshold`` as a probability in (0, 1), or ``None`` (the detector's own)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"map_threshold: {value!r}, expected a probability in (0, 1) or null")
    return float(value)


def apply_map_threshold(detector: Any, value: float | None, ckpt: str) -> None:
    """Decode a heatmap detector's map at ``value`` instead of its trained threshold.

    Only the decoding changes (which map cells form a box), so it can be chosen on held-out pages after
    training; a detector without a probability map (the torchvision ones) is an error naming the option.
    """
    if value is None:
        return
    if getattr(detector, "architecture", None) != "heatmap":
        kind = getattr(detector, "architecture", type(detector).__name__)
        raise ConfigError(
            f"map_threshold: only heatmap detectors decode a probability map; {ckpt} holds a {kind} detector"
        )
    detector.threshold = value


def detect(cfg: DictConfig) -> dict[str, Any]:
    """Run ``sigbench-detect``; returns the page count, output folder and metrics (when ``gt`` is set)."""
    if not Path(cfg.ckpt).is_file():
        raise ConfigError(f"ckpt: {cfg.ckpt} does not exist")
    check_output(cfg.get("output"), "output")
    out_dir = Path(str(cfg.output)) if cfg.get("output") else None
    max_pixels, dpi = cfg.get("max_pixels", DEFAULT_MAX_PIXELS), cfg.get("dpi", DEFAULT_DPI)
    skip_bad = bool(cfg.get("skip_bad", False))
    map_threshold = check_map_threshold(cfg.get("map_threshold"))
    checked = gather_inputs(cfg.input, out_dir, "sigbench-detect", skip_bad, max_pixels, dpi)
    if out_dir is None:
        raise ConfigError("output= is required (a folder for the per-page results)")
    task, config = load_task(cfg.ckpt, map_location="cpu", needs="detection", tool="sigbench-detect")
    device = pick_device(cfg.device)
    detector = task.detector.to(device).eval()
    apply_map_threshold(detector, map_threshold, str(cfg.ckpt))
    classes = list(detector.classes)
    shape = geometry(cfg, config.get("data", {}))
    remove_stale_temps_in(out_dir)  # what a killed earlier run left in its output folder
    gt_format = str(cfg.get("gt_format", "auto"))
    if gt_format not in GT_FORMATS:
        raise ConfigError(f"gt_format: {gt_format!r}, expected one of {GT_FORMATS}")
    if cfg.get("gt") and not Path(str(cfg.gt)).exists():
        raise ConfigError(f"gt: {cfg.gt} does not exist")
    pages = counts = 0
    stems: list[str] = []
    chunk: list[tuple[str, str, Any]] = []

    def flush() -> None:
        nonlocal pages, counts
        found = detect_pages(
            detector, [p for _, _, p in chunk], batch_size=cfg.batch_size, device=device, **shape
        )
        for (stem, source, page), detections in zip(chunk, found, strict=True):
            written = write_page(
                out_dir,
                stem,
                source,
                page,
                detections,
                classes,
                cfg.score_threshold,
                cfg.crops,
                cfg.annotated,
            )
            counts += written["kept"]
            stems.append(stem)
        pages += len(chunk)
        chunk.clear()

    for item in iter_pages(checked.files, dpi=dpi, max_pixels=max_pixels):
        chunk.append(item)
        if len(chunk) >= cfg.batch_size:
            flush()
    if chunk:
        flush()
    metrics: dict[str, float] = {}
    if cfg.get("gt"):
        metrics = score(out_dir, str(cfg.gt), cfg.score_threshold, gt_format, stems)
        atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    write_skipped(out_dir, checked.skipped)
    notes = {"pages": str(pages), f"boxes >= {cfg.score_threshold}": str(counts), "output": str(out_dir)}
    notes.update(skipped_note(checked.skipped, out_dir))
    print_summary(f"sigbench-detect: {Path(cfg.ckpt).name}", metrics, notes)
    skipped = [{"path": s.path, "reason": s.reason} for s in checked.skipped]
    return {"pages": pages, "boxes": counts, "output": str(out_dir), "metrics": metrics, "skipped": skipped}
