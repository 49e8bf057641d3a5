"""Sweep bookkeeping: one result record per job, and a summary table when the sweep ends.

Every multirun job writes ``job_result.json`` into its folder (overrides, status, final metrics, error);
:class:`SweepSummary`, a Hydra callback registered in ``conf/hydra/default.yaml``, gathers them when the
sweep ends into ``summary.csv`` and ``summary.md`` in the sweep folder.  Records live in the job folders
rather than in the callback so that jobs run by any launcher (in-process, joblib workers, SLURM nodes)
report the same way, and a failed job is a row with its error instead of the end of the sweep.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import math
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from sigbench.atomic import atomic_write_text

log = logging.getLogger(__name__)
RESULT_FILE = "job_result.json"
ERROR_FILE = "error.txt"


def in_multirun() -> bool:
    """Whether the current Hydra job is one job of a sweep."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def write_job_result(
    output_dir: str | Path,
    job: int | str,
    overrides: Sequence[str],
    status: str,
    metrics: Mapping[str, float] | None = None,
    error: BaseException | str | None = None,
) -> Path:
    """Record one job (``status``: ``"completed"`` or ``"failed"``); a failure also writes its traceback."""
    output_dir = Path(output_dir)
    message = None
    if error is not None:
        message = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        detail = (
            "".join(traceback.format_exception(error)) if isinstance(error, BaseException) else str(error)
        )
        atomic_write_text(output_dir / ERROR_FILE, detail)
    record = {
        "job": job,
        "overrides": list(overrides),
        "status": status,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "error": message,
        "finished": time.time(),
    }
    path = output_dir / RESULT_FILE
    atomic_write_text(path, json.dumps(record, indent=2))
    return path


def current_job() -> tuple[str, int | str, list[str]]:
    """(output folder, job number, overrides) of the running Hydra job."""
    hc = HydraConfig.get()
    return hc.runtime.output_dir, hc.job.get("num", 0), list(hc.overrides.task)


def read_results(sweep_dir: str | Path, since: float = 0.0) -> list[dict[str, Any]]:
    """Job records under ``sweep_dir`` finished after ``since``, ordered by job number."""
    rows = []
    for path in Path(sweep_dir).rglob(RESULT_FILE):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            log.warning("unreadable job record %s (%s)", path, err)
            continue
        if record.get("finished", 0.0) >= since:
            record["dir"] = str(path.parent.relative_to(sweep_dir))
            rows.append(record)
    return sorted(rows, key=lambda r: (str(r.get("job")).zfill(8), r["dir"]))


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _shared_overrides(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Overrides every job has (listed once above the Markdown table, which then shows what varies)."""
    if len(rows) < 2:
        return []
    first = list(rows[0].get("overrides", []))
    return [o for o in first if all(o in r.get("overrides", []) for r in rows[1:])]


def summary_tables(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(CSV, Markdown) of job, status, overrides, every metric seen, error.

    The CSV has each job's full override list; the Markdown lists the shared ones once and, per job,
    only those that differ (the swept values).
    """
    metrics = sorted({k for r in rows for k in r.get("metrics", {})})
    header = ["job", "status", "overrides", *metrics, "error"]
    shared = _shared_overrides(rows)

    def row(r: Mapping[str, Any], overrides: list[str]) -> list[str]:
        values = (_fmt(r["metrics"][m]) if m in r.get("metrics", {}) else "" for m in metrics)
        return [str(r.get("job")), r.get("status", "?"), " ".join(overrides), *values, r.get("error") or ""]

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(row(r, list(r.get("overrides", []))) for r in rows)

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    md = [f"Overrides of every job: `{' '.join(shared)}`", ""] if shared else []
    md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        varying = [o for o in r.get("overrides", []) if o not in shared]
        md.append("| " + " | ".join(cell(c) for c in row(r, varying)) + " |")
    return buf.getvalue(), "\n".join(md) + "\n"


def write_summary(sweep_dir: str | Path, since: float = 0.0) -> tuple[Path, Path, int, int]:
    """Write ``summary.csv`` / ``summary.md``; returns their paths, the number of jobs and of failed ones."""
    sweep_dir = Path(sweep_dir)
    rows = read_results(sweep_dir, since)
    csv_text, md_text = summary_tables(rows)
    atomic_write_text(sweep_dir / "summary.csv", csv_text)
    atomic_write_text(sweep_dir / "summary.md", md_text)
    failed = sum(r.get("status") != "completed" for r in rows)
    log.info("sweep summary: %d jobs (%d failed) -> %s", len(rows), failed, sweep_dir / "summary.md")
    return sweep_dir / "summary.csv", sweep_dir / "summary.md", len(rows), failed


class SweepFailed(SystemExit):
    """A sweep in which some job failed: raised after its summary is written, so the command exits 1."""


class SweepSummary(Callback):
    """Writes ``summary.csv`` / ``summary.md`` when a multirun ends (a no-op for single runs), then ends the
    process with status 1 when a job failed: a script or CI step that runs a sweep must not read success
    from a sweep that lost jobs (the failed jobs still leave the others' results and the summary)."""

    def __init__(self) -> None:
        self.started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()
        if not HydraConfig.initialized():
            # The sweeper resolves hydra.sweep.dir before any job exists, when ${hydra:runtime.cwd} (behind
            # paths.root_dir / paths.log_dir) cannot resolve yet: give it the sweep's config (a copy, since
            # set_config makes the hydra node read-only).  Every job then sets its own.
            HydraConfig.instance().set_config(copy.deepcopy(config))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Record jobs that ended before the entry point could (e.g. an exception Hydra caught)."""
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        output_dir = Path(config.hydra.runtime.output_dir)
        if (output_dir / RESULT_FILE).exists() and (output_dir / RESULT_FILE).stat().st_mtime >= self.started:
            return
        failed = job_return.status != JobStatus.COMPLETED
        value = job_return._return_value
        write_job_result(
            output_dir,
            config.hydra.job.get("num", 0),
            list(job_return.overrides or []),
            "failed" if failed else "completed",
            metrics=None if failed or not isinstance(value, (int, float)) else {"objective": float(value)},
            error=value if failed else None,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        _, md_path, jobs, failed = write_summary(config.hydra.sweep.dir, since=self.started)
        if failed:
            # SystemExit passes through Hydra's callback wrapper, which turns other exceptions into warnings
            raise SweepFailed(f"sweep: {failed} of {jobs} jobs failed; see {md_path}")
