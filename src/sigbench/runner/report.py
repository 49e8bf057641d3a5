"""What a training run reports at its end: per-epoch history, the checkpoint it evaluates and why, the
summary table (terminal and ``train.log``) and ``metrics.json``.

Why a module of its own: an honest report has rules that are easy to lose in a training loop. The best
checkpoint is only evaluated when it was *not* chosen on the writers the final protocols test; a held-out
figure that got worse with training is said so in words; a figure on real signatures stands beside the
synthetic one, with whether it chose the checkpoint (then it is a validation figure, optimistic).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from sigbench.atomic import atomic_write_text
from sigbench.runner.summary import Section, Summary, format_value
from sigbench.verification.results import json_safe

log = logging.getLogger(__name__)

#: Per-epoch figures computed on the run's held-out writers: the writers the end-of-run protocols test.
HOLDOUT_KEYS = ("val/eer", "val/eer_user", "val/auc", "val/identification_acc")
HISTORY_PREFIXES = ("train/", "val/", "val_ext/")
#: Substrings of metric names for which a larger value is better (anything else: smaller is better).
HIGHER_IS_BETTER = ("acc", "auc", "precision", "f_", "psnr", "ssim", "map", "selection")


def higher_is_better(key: str) -> bool:
    name = key.rsplit("/", 1)[-1].lower()
    return any(part in name for part in HIGHER_IS_BETTER)


class MetricHistory(pl.Callback):
    """Epoch-level scalar metrics of every epoch (``history[epoch][key]``), for trends and metrics.json."""

    def __init__(self) -> None:
        self.history: dict[int, dict[str, float]] = {}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {}
        for key, value in trainer.callback_metrics.items():
            scalar = getattr(value, "numel", lambda: 1)() == 1
            if scalar and key.startswith(HISTORY_PREFIXES) and not key.endswith(("_step", "_epoch")):
                row[key] = float(value)
        self.history[int(trainer.current_epoch)] = row

    def state_dict(self) -> dict[str, Any]:
        return {"history": {str(k): v for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {int(k): dict(v) for k, v in state_dict.get("history", {}).items()}


@dataclass
class Trend:
    """One per-epoch figure from the first to the last epoch."""

    key: str
    first_epoch: int
    first: float
    last_epoch: int
    last: float
    best_epoch: int
    best: float

    @property
    def worse(self) -> bool:
        """Worse at the last epoch than at the first (by more than rounding)."""
        delta = self.last - self.first
        return (delta < -1e-9) if higher_is_better(self.key) else (delta > 1e-9)


def trends(history: Mapping[int, Mapping[str, float]], keys: list[str]) -> dict[str, Trend]:
    """First / last / best epoch of each key present in the history (finite values only)."""
    out = {}
    for key in keys:
        points = [(e, r[key]) for e, r in sorted(history.items()) if math.isfinite(r.get(key, math.nan))]
        if not points:
            continue
        pick = max if higher_is_better(key) else min
        best = pick(points, key=lambda p: p[1])  # earliest among equals, as ModelCheckpoint keeps it
        out[key] = Trend(key, *points[0], *points[-1], *best)
    return out


@dataclass
class CheckpointChoice:
    """The checkpoint the end-of-run protocols evaluate, its epoch and why it was chosen."""

    path: str
    epoch: int | None
    reason: str


def choose_checkpoint(
    output_dir: str | Path,
    monitor: str | None,
    best_path: str,
    history: Mapping[int, Mapping[str, float]],
    protocols_test_holdout: bool,
) -> CheckpointChoice:
    """The best checkpoint when its selection never looked at the protocols' test writers, else last.ckpt."""
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    last_epoch = max(history) if history else None
    if not monitor or not best_path or not Path(best_path).exists():
        return CheckpointChoice(str(last), last_epoch, f"last.ckpt (epoch {last_epoch}): no best checkpoint")
    if monitor in HOLDOUT_KEYS and protocols_test_holdout:
        return CheckpointChoice(
            str(last),
            last_epoch,
            f"last.ckpt (epoch {last_epoch}): the best checkpoint is chosen by {monitor}, measured on the "
            "held-out writers that the protocols test",
        )
    trend = trends(history, [monitor]).get(monitor)
    epoch = trend.best_epoch if trend else None
    return CheckpointChoice(best_path, epoch, f"{Path(best_path).name}: best by {monitor} (epoch {epoch})")


def _pct(value: float) -> str:
    return f"{100 * value:.2f} %"


def _protocol_section(title: str, summary: Mapping[str, Any]) -> Section:
    from sigbench.runner.evaluate import REPORTED

    labels = {
        "EER": "EER (global threshold)",
        "EER_userthresholds": "EER (user thresholds)",
        "mean_AUC": "AUC",
        "FRR": "FRR",
        "FAR_random": "FAR random",
        "FAR_skilled": "FAR skilled",
    }
    conf = summary.get("confidence", 0.95)
    method = summary.get("ci_method", "t")
    method = "bootstrap percentile" if method == "bootstrap" else method
    section = Section(title, ("", "mean", "± std", f"{conf:.0%} CI ({method})"))
    for key in REPORTED:
        stats = summary["metrics"][key]
        ci = stats.get("ci")
        interval = f"[{100 * ci['low']:.2f}, {100 * ci['high']:.2f}]" if ci else "n/a"
        section.add(labels[key], _pct(stats["mean"]), f"{100 * stats['std']:.2f}", interval)
    return section


def _seconds(value: float) -> str:
    if value >= 90:
        return f"{value / 60:.1f} min"
    return f"{value:.1f} s"


@dataclass
class RunReport:
    """Everything the end of a run reports; :meth:`summary` renders it, :meth:`to_json` stores it."""

    name: str
    checkpoint: CheckpointChoice | None
    history: dict[int, dict[str, float]]
    final: dict[str, float]
    protocols: dict[str, dict]
    protocol_data: dict[str, str]
    external: dict[str, dict[str, Any]]
    monitor: str | None
    timings: dict[str, float]
    links: dict[str, str]
    remarks: list[str]

    def trend_keys(self) -> list[str]:
        keys = [k for k in ("val/eer",) if any(k in row for row in self.history.values())]
        keys += sorted({k for row in self.history.values() for k in row if k.startswith("val_ext/")})
        return [k for k in keys if k.endswith("/eer")]

    def trend_remarks(self) -> list[str]:
        out = []
        for key, trend in trends(self.history, self.trend_keys()).items():
            if trend.worse:
                out.append(
                    f"{key} ({self._describe(key)}) got worse with training: {_pct(trend.first)} at epoch "
                    f"{trend.first_epoch}, {_pct(trend.last)} at epoch {trend.last_epoch}."
                )
        return out

    def _describe(self, key: str) -> str:
        """Whose signatures a per-epoch figure measures, and whether it chose the checkpoint."""
        role = "selects the checkpoint" if key == self.monitor else "not used for selection"
        if key.startswith("val_ext/"):
            info = self.external.get(key.split("/")[1], {})
            return f"{info.get('description', key)}; {role}"
        if key in HOLDOUT_KEYS:
            return f"held-out writers, which the protocols test; {role}"
        return role

    def summary(self) -> Summary:
        sections = []
        found = trends(self.history, self.trend_keys())
        if found:
            epochs = sorted(self.history)
            chosen = self.checkpoint.epoch if self.checkpoint is not None else None
            at = chosen if chosen is not None else epochs[-1]
            per_epoch = Section(
                "per-epoch validation",
                ("", f"epoch {at} (evaluated)", f"epoch {epochs[0]}", f"epoch {epochs[-1]}", "writers"),
            )
            for key, trend in found.items():
                value = self.history.get(at, {}).get(key, trend.last)
                last = _pct(trend.last) + (" (worse)" if trend.worse else "")
                per_epoch.add(key, _pct(value), _pct(trend.first), last, self._describe(key))
            sections.append(per_epoch)
        shown = set(found)
        last = Section("last epoch")
        for key, value in self.final.items():
            if key not in shown and not key.startswith(tuple(f"{p}/" for p in self.protocols)):
                last.add(key, format_value(key, value))
        sections.append(last)
        for name, summary in self.protocols.items():
            data = self.protocol_data.get(name, "")
            where = f" on {data}" if data else ""
            sections.append(
                _protocol_section(f"{name.upper()} protocol{where}, {summary['n_folds']} folds", summary)
            )
        if self.timings:
            timing = Section("time")
            for stage, seconds in self.timings.items():
                timing.add(stage, _seconds(seconds))
            sections.append(timing)
        remarks = list(self.remarks)
        if self.checkpoint is not None:
            remarks.insert(0, f"evaluated checkpoint: {self.checkpoint.reason}")
        remarks += self.trend_remarks()
        return Summary(f"sigbench: {self.name}", sections, remarks, dict(self.links))

    def to_json(self) -> dict[str, Any]:
        found = trends(self.history, self.trend_keys())
        return {
            "name": self.name,
            "checkpoint": asdict(self.checkpoint) if self.checkpoint else None,
            "monitor": self.monitor,
            "final": self.final,
            "history": {str(k): v for k, v in sorted(self.history.items())},
            "trends": {k: {**asdict(t), "worse": t.worse} for k, t in found.items()},
            "external_validation": self.external,
            "protocols": {
                name: {"data": self.protocol_data.get(name), **summary}
                for name, summary in self.protocols.items()
            },
            "timings_s": self.timings,
            "remarks": self.summary().remarks,
            "links": self.links,
        }


def write_metrics_json(path: str | Path, report: RunReport) -> Path:
    """``metrics.json`` of the run folder (strict JSON, non-finite values as null), written atomically."""
    text = json.dumps(json_safe(report.to_json()), indent=2, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def write_to_log_files(text: str) -> None:
    """Append ``text`` to the files of the root logger's file handlers (Hydra's ``train.log``) only, so
    the log holds the same summary as the terminal without printing it twice."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is None:
                    handler.stream = handler._open()
                handler.stream.write(text if text.endswith("\n") else text + "\n")
                handler.flush()
            finally:
                handler.release()
