"""A quiet console: no LeafSpec deprecation, no Lightning tips, a model summary whose FLOPs are counted,
and the verification EER in the progress bar."""

from __future__ import annotations

import logging
import warnings

from sigbench.runner.quiet import DropTips, quiet_console
from tests.train_helpers import TINY_SYNTHETIC, run_cli


def test_filters_drop_only_the_noise(caplog) -> None:
    quiet_console()
    quiet_console()
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    assert sum(isinstance(f, DropTips) for f in logger.filters) == 1  # idempotent
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("💡 Tip: install something")
        logger.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_console()  # re-installed after simplefilter reset the list
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]


def test_a_training_run_prints_no_noise(tmp_path) -> None:
    args = ["sigbench-train", "experiment=smoke", *TINY_SYNTHETIC, "trainer.enable_model_summary=true"]
    result = run_cli(
        [*args, f"paths.cache_dir={tmp_path / 'c'}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "LeafSpec" not in out and "💡" not in out and "litlogger" not in out
    flops = next(line for line in out.splitlines() if line.startswith("Total FLOPs"))
    assert flops.split(":")[1].strip() not in ("0", "0 ")  # counted on an example input, not an empty column
    assert "val/eer" in out.split("sigbench: smoke")[0]  # in the progress bar, before the summary
