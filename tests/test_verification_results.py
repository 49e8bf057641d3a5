"""summarize / write_results / format_table, including atomic writes."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from sigbench.verification import results as results_mod
from sigbench.verification.results import fold_result, format_table, summarize, write_results


def _folds():
    a = fold_result([np.array([1.0, 2.0])], [np.array([-1.0])], [np.array([0.5, 3.0])])
    b = fold_result([np.array([1.0, 2.0])], [np.array([-1.0])], [np.array([-0.5, 0.0])])
    return [a, b]


def test_summary_mean_std_per_fold_ci():
    folds = _folds()
    # fold a: ROC 3S 2G 1G 0.5S, (tp,fp) (0,1) (1,1) (2,1) (2,2); the point at 2 is dropped (vertical
    # segment), leaving |fp + tp - 2| / 2 = 1, 0.5 (t=3), 0.5 (t=1), 1 -> t = 3:
    # FRR(3) = 1, FAR(3) = 1/2 -> EER 0.75 (the reference's drop_intermediate quirk)
    # fold b: separable -> EER 0
    assert [f["all_metrics"]["EER"] for f in folds] == [0.75, 0.0]
    s = summarize(folds)
    eer = s["metrics"]["EER"]
    assert eer["per_fold"] == [0.75, 0.0]
    assert eer["mean"] == pytest.approx(0.375)
    assert eer["std"] == pytest.approx(0.375)  # population std, as the reference prints
    assert eer["ci"]["low"] < 0.375 < eer["ci"]["high"]
    assert s["n_folds"] == 2
    table = format_table(s)
    assert "EER" in table and "37.50 ± 37.50" in table and "(2 folds)" in table
    with pytest.raises(ValueError, match="at least one fold"):
        summarize([])


def test_write_results_json_and_reference_pickle(tmp_path):
    folds = _folds()
    folds[0]["all_metrics"]["global_threshold"] = float("inf")  # sklearn's first ROC threshold
    paths = write_results(tmp_path / "run", folds, summarize(folds))
    doc = json.loads(paths["json"].read_text())  # strict JSON: no Infinity / NaN tokens
    assert doc["folds"][0]["global_threshold"] is None
    assert doc["summary"]["metrics"]["EER"]["per_fold"] == [0.75, 0.0]
    with open(paths["pkl"], "rb") as fh:
        loaded = pickle.load(fh)
    assert list(loaded[1]) == ["all_metrics", "predictions"]
    np.testing.assert_array_equal(loaded[1]["predictions"]["skilledPreds"][0], [-0.5, 0.0])
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["results.json", "results.pkl"]


def test_failed_write_leaves_no_file_and_keeps_old_one(tmp_path, monkeypatch):
    folds = _folds()
    summary = summarize(folds)
    write_results(tmp_path, folds[:1], summarize(folds[:1]))
    old_pkl = (tmp_path / "results.pkl").read_bytes()
    old_json = (tmp_path / "results.json").read_bytes()

    def crash(obj, fh, protocol=None):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(results_mod.pickle, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        write_results(tmp_path, folds, summary)
    assert (tmp_path / "results.pkl").read_bytes() == old_pkl  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.pkl"]  # no temp left
    assert (tmp_path / "results.json").read_bytes() != old_json  # json was complete and replaced first

    fresh = tmp_path / "fresh"
    with pytest.raises(OSError, match="disk full"):
        write_results(fresh, folds, summary)
    assert not (fresh / "results.pkl").exists()
    assert sorted(p.name for p in fresh.iterdir()) == ["results.json"]
