"""The end-of-run summary: fits the terminal, numbers beside labels, copyable paths, honest trends, intervals
inside [0, 100], metrics.json and the log file."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from sigbench.runner.report import CheckpointChoice, RunReport, write_metrics_json, write_to_log_files
from sigbench.runner.summary import Section, Summary, metrics_summary, render, terminal_width
from sigbench.verification.metrics import eer_confidence_interval
from sigbench.verification.results import fold_result, summarize

LONG_PATH = "/data/" + "deep/" * 30 + "run"


def _report(history: dict[int, dict[str, float]]) -> RunReport:
    folds = [
        fold_result([np.array([1.0, 2.0])], [np.array([-1.0])], [np.array([0.5, 3.0])]),
        fold_result([np.array([1.0, 2.0])], [np.array([-1.0])], [np.array([-0.5, 0.0])]),
    ]
    protocol = summarize(folds)
    return RunReport(
        name="quickstart",
        checkpoint=CheckpointChoice(
            f"{LONG_PATH}/best.ckpt", 1, "best.ckpt: best by val_ext/kaggle/eer (epoch 1)"
        ),
        history=history,
        final={"val/acc": 0.5, "wd/EER": 0.375},
        protocols={"wd": protocol, "wi": protocol},
        protocol_data={"wd": "held-out writers [100, 150]", "wi": "held-out writers [100, 150]"},
        external={"kaggle": {"description": "kaggle: 21 real writers, distance protocol"}},
        monitor="val_ext/kaggle/eer",
        timings={"data": 3.0, "train": 200.0, "wd": 20.0, "wi": 10.0},
        links={"run folder": LONG_PATH, "tensorboard": f"tensorboard --logdir {LONG_PATH}/tensorboard"},
        remarks=[],
    )


HISTORY = {
    0: {"val/eer": 0.242, "val_ext/kaggle/eer": 0.30},
    1: {"val/eer": 0.260, "val_ext/kaggle/eer": 0.20},
    2: {"val/eer": 0.274, "val_ext/kaggle/eer": 0.25},
}


@pytest.mark.parametrize("width", [60, 80, 100])
def test_tables_fit_the_width_and_paths_stay_whole_below_them(width: int) -> None:
    text = render(_report(HISTORY).summary(), width=width)
    lines = text.splitlines()
    first_link = next(i for i, line in enumerate(lines) if line.startswith("run folder"))
    assert all(len(line) <= width for line in lines[:first_link])
    assert lines[first_link].endswith(LONG_PATH)  # one copyable line, however long
    assert lines[first_link + 1] == f"tensorboard  tensorboard --logdir {LONG_PATH}/tensorboard"
    assert all("│" not in line for line in lines[first_link:])


def test_terminal_width_follows_columns(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal_width() == 72
    monkeypatch.setenv("COLUMNS", "400")
    assert terminal_width() == 100  # capped: a wide terminal does not spread the columns apart
    monkeypatch.setenv("COLUMNS", "10")
    assert terminal_width() == 40


def test_numbers_sit_beside_their_labels() -> None:
    text = render(metrics_summary("t", {"val/eer": 0.25, "train/loss": 1.5}, {"run folder": LONG_PATH}), 100)
    row = next(line for line in text.splitlines() if "val/eer" in line)
    assert row.split("│")[1].strip() == "val/eer" and row.split("│")[2].strip() == "25.00 %"
    assert len(row) < 30


def test_a_held_out_figure_that_got_worse_is_said_plainly() -> None:
    summary = _report(HISTORY).summary()
    remarks = " ".join(summary.remarks[1:])
    assert (
        "val/eer" in remarks and "got worse with training: 24.20 % at epoch 0, 27.40 % at epoch 2" in remarks
    )
    assert "val_ext/kaggle/eer" not in remarks  # 30 % -> 25 %: better, not flagged
    assert summary.remarks[0].startswith("evaluated checkpoint: best.ckpt: best by val_ext/kaggle/eer")
    text = render(summary, 100)
    row = next(line for line in text.splitlines() if line.startswith("│ val/eer "))
    # evaluated epoch 1, first epoch 0, last epoch 2 flagged
    assert [c.strip() for c in row.split("│")[2:5]] == ["26.00 %", "24.20 %", "27.40 % (worse)"]
    better = {e: {"val/eer": 0.3 - 0.01 * e} for e in range(3)}
    assert not _report(better).summary().remarks[1:]


def test_each_protocol_once_with_timings_and_the_interval_method() -> None:
    text = render(_report(HISTORY).summary(), 100)
    assert text.count("WD protocol on held-out writers [100, 150], 2 folds") == 1
    assert text.count("WI protocol") == 1
    assert "95% CI (bootstrap percentile)" in text
    assert "wd/EER" not in text  # the protocol's figures are in its own table, not repeated
    for stage, shown in (("data", "3.0 s"), ("train", "3.3 min"), ("wd", "20.0 s")):
        assert any(line.startswith(f"│ {stage} ") and shown in line for line in text.splitlines())


def test_confidence_intervals_stay_inside_0_100() -> None:
    # FRR of 5 folds, mostly 0: the Student-t interval goes below zero, the bootstrap one cannot
    frr = [0.0, 0.0, 0.0, 0.0, 0.4]
    t = eer_confidence_interval(frr, method="t")
    assert t["low"] < 0.0
    folds = [{"all_metrics": {k: v for k in ("FAR_random", "FAR_skilled", "mean_AUC", "EER")}} for v in frr]
    for fold, v in zip(folds, frr, strict=True):
        fold["all_metrics"].update(FRR=v, EER_userthresholds=1.0 - v)
    summary = summarize(folds)
    assert summary["ci_method"] == "bootstrap"
    for key, stats in summary["metrics"].items():
        assert 0.0 <= stats["ci"]["low"] <= stats["mean"] <= stats["ci"]["high"] <= 1.0, key
    assert summary["metrics"]["FRR"]["ci"]["low"] == 0.0


def test_metrics_json_and_log_file_hold_the_summary(tmp_path) -> None:
    report = _report(HISTORY)
    path = write_metrics_json(tmp_path / "metrics.json", report)
    doc = json.loads(path.read_text())
    assert doc["checkpoint"]["epoch"] == 1 and doc["monitor"] == "val_ext/kaggle/eer"
    assert doc["trends"]["val/eer"]["worse"] is True and doc["trends"]["val_ext/kaggle/eer"]["worse"] is False
    assert doc["protocols"]["wd"]["metrics"]["EER"]["mean"] == pytest.approx(0.375)
    assert doc["timings_s"]["train"] == 200.0
    assert not list(tmp_path.glob(".*tmp*"))  # written through a temporary file, nothing left behind

    handler = logging.FileHandler(tmp_path / "train.log")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        text = render(report.summary(), 80)
        write_to_log_files(text)
    finally:
        root.removeHandler(handler)
        handler.close()
    assert (tmp_path / "train.log").read_text() == text


def test_sections_without_rows_are_left_out() -> None:
    summary = Summary("t", [Section("empty"), Section("full", None, [("a", "1")])])
    text = render(summary, 60)
    assert "empty" not in text and "full" in text
