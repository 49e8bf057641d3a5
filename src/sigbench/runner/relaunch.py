"""Keep every DDP rank of a Hydra job in that job's folder.

Lightning starts ranks > 0 by re-running the command line with ``hydra.run.dir=<HydraConfig run.dir>``,
``hydra.job.name=train_ddp_process_<rank>`` and ``hydra.output_subdir=null`` appended (lightning_fabric's
``_hydra_subprocess_cmd``).  For a single run that already lands in the same folder: the run dir's
``${now:...}`` is resolved once per process and cached, and the children write only their own log file.
In a sweep it does not: the command line still says ``-m`` with every swept value, so each child would start
a whole sweep of its own, and ``run.dir`` is not the job's folder.  :func:`pin_children_to_job` rewrites
both before the trainer is built, so the children re-run exactly this job, in its folder.

Lightning also leaves its DDP world behind in the launching process (``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_PORT`` ... in ``os.environ``, an initialised process group): the next job of a sweep would then
believe its processes were started externally and wait for ranks that never come.
:func:`own_ddp_world` gives each job a clean slate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write


def child_command(task_overrides: list[str], argv0: str) -> list[str]:
    """The command line a rank > 0 child should see for one job: its overrides, as a single run."""
    return [argv0, *task_overrides, "hydra.mode=RUN"]


def pin_children_to_job() -> None:
    """In a multirun job, make Lightning's DDP re-launch run this job (not the sweep) in this job's folder."""
    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    sys.argv = child_command(list(hc.overrides.task), sys.argv[0])
    with read_write(hc.run), open_dict(hc.run):
        hc.run.dir = hc.runtime.output_dir


DDP_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "PL_GLOBAL_SEED")


@contextmanager
def own_ddp_world() -> Iterator[None]:
    """Run one job, then undo what a DDP launch left in this process (env variables, process group)."""
    saved = {k: os.environ.get(k) for k in DDP_ENV}
    try:
        yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
