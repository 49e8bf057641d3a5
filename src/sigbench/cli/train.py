"""``sigbench-train``: train features from composed configs (``experiment=NAME``, overrides, -m)."""

from __future__ import annotations

import logging
import math

from omegaconf import DictConfig

from sigbench.cli.command import hydra_command
from sigbench.runner.schema import register_schemas

register_schemas()
log = logging.getLogger(__name__)


@hydra_command("train")
def main(cfg: DictConfig) -> float | None:
    """Train; returns ``optimized_metric`` at the last epoch (the sweep / Optuna objective).

    In a sweep a failing job does not stop the others: its error is recorded in its folder
    (``error.txt``, ``job_result.json``) and it returns ``None``, as does a job whose metric is missing or
    not finite. The Optuna sweeper records ``None`` as a failed trial; a NaN would instead make Optuna 2.x
    reject the value twice and end the whole study. When the sweep ends, its exit status is 1 if any job
    failed (:class:`sigbench.runner.sweep.SweepSummary`).
    """
    from pytorch_lightning.utilities import rank_zero_only

    from sigbench.runner.relaunch import own_ddp_world, pin_children_to_job
    from sigbench.runner.sweep import current_job, in_multirun, write_job_result
    from sigbench.runner.train import train
    from sigbench.runner.validation import ConfigError

    sweep = in_multirun()
    if sweep:
        pin_children_to_job()
    try:
        if sweep:
            with own_ddp_world():
                metrics = train(cfg)
        else:
            metrics = train(cfg)
    except Exception as err:
        if not sweep:
            if isinstance(err, ConfigError):
                raise SystemExit(f"sigbench-train: config error: {err}") from None
            raise
        log.exception("job failed; the sweep goes on")
        if rank_zero_only.rank == 0:  # SLURM starts every DDP rank as a job task: one record per job
            write_job_result(*current_job(), status="failed", error=err)
        return None
    if sweep and rank_zero_only.rank == 0:
        write_job_result(*current_job(), status="completed", metrics=metrics)
    value = metrics.get(cfg.optimized_metric)
    return value if value is not None and math.isfinite(value) else None


if __name__ == "__main__":
    main()
