"""Hand-made cases for the AOSSig / ICDAR-2015 detection metric."""

from __future__ import annotations

import pytest

from sigbench.detection.evaluate import evaluate_pages, evaluate_quads, match_page, polygon_iou
from sigbench.documents.formats import Annotation, write_quads

box = Annotation.from_box


def test_polygon_iou_basics():
    a = box(0, 0, 2, 1)
    assert polygon_iou(a, a) == 1.0
    assert polygon_iou(a, box(0, 0, 1, 1)) == 0.5  # intersection 1, union 2
    assert polygon_iou(a, box(2, 0, 3, 1)) == 0.0  # touching edge
    assert polygon_iou(a, box(5, 5, 6, 6)) == 0.0
    diamond = Annotation(((1, 0), (2, 1), (1, 2), (0, 1)))  # area 2 inside the 2x2 square
    assert polygon_iou(diamond, box(0, 0, 2, 2)) == pytest.approx(0.5)
    assert polygon_iou(a, Annotation(((0, 0), (1, 0), (2, 0), (3, 0)))) == 0.0  # degenerate


def test_iou_exactly_at_threshold_does_not_match():
    result = evaluate_pages({"p": [box(0, 0, 2, 1)]}, {"p": [box(0, 0, 1, 1)]}, iou=0.5)
    assert result["matched"] == 0 and result["precision"] == 0 and result["fmeasure"] == 0
    assert evaluate_pages({"p": [box(0, 0, 2, 1)]}, {"p": [box(0, 0, 1, 1)]}, iou=0.49)["matched"] == 1


def test_duplicate_predictions_match_once():
    gt = {"p": [box(0, 0, 10, 10)]}
    result = evaluate_pages(gt, {"p": [box(0, 0, 10, 10), box(0, 0, 10, 10)]})
    assert result == {
        "precision": 0.5,
        "recall": 1.0,
        "fmeasure": pytest.approx(2 / 3),
        "matched": 1,
        "num_gt": 1,
        "num_pred": 2,
    }


def test_misses_and_low_scores():
    gt = {"p": [box(0, 0, 10, 10), box(20, 0, 30, 10)]}
    pred = {"p": [box(0, 0, 10, 10, score=0.9), box(20, 0, 30, 10, score=0.49), box(50, 50, 60, 60)]}
    result = evaluate_pages(gt, pred, score_threshold=0.5)
    assert (result["matched"], result["num_gt"], result["num_pred"]) == (1, 2, 2)
    assert result["precision"] == 0.5 and result["recall"] == 0.5
    # a score equal to the threshold is kept
    assert evaluate_pages(gt, pred, score_threshold=0.49)["matched"] == 2


def test_greedy_order_is_not_optimal():
    # GT 0 overlaps both predictions and grabs the first; GT 1 only overlaps that first one -> 1 match,
    # where an optimal assignment would find 2. The protocol is greedy, so 1 is the expected answer.
    g0, g1 = box(0, 0, 10, 10), box(0, 0, 10, 8)
    p0, p1 = box(0, 0, 10, 9), box(0, 0, 10, 12)
    assert polygon_iou(g1, p1) < 0.7 < polygon_iou(g0, p1)
    assert match_page([g0, g1], [p0, p1], iou=0.7) == 1
    assert match_page([g1, g0], [p0, p1], iou=0.7) == 2  # reordering GT changes the result


def test_micro_average_over_pages():
    gt = {"a": [box(0, 0, 4, 4)], "b": [box(0, 0, 4, 4), box(10, 0, 14, 4), box(20, 0, 24, 4)]}
    pred = {"b": [box(0, 0, 4, 4), box(10, 0, 14, 4)]}
    result = evaluate_pages(gt, pred)
    # micro: 2 matched / 4 GT (a macro mean of the page recalls would give (0 + 2/3) / 2)
    assert result["recall"] == 0.5 and result["precision"] == 1.0
    assert result["fmeasure"] == pytest.approx(2 / 3)


def test_orphan_prediction_page_is_an_error():
    with pytest.raises(ValueError, match="ghost"):
        evaluate_pages({"p": []}, {"ghost": [box(0, 0, 1, 1)]})


def test_evaluate_quads_directories(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    empty = evaluate_quads(gt_dir, pred_dir)
    assert empty == {"precision": 0, "recall": 0, "fmeasure": 0, "matched": 0, "num_gt": 0, "num_pred": 0}
    write_quads(gt_dir / "a.txt", [box(0, 0, 10, 10)])
    write_quads(gt_dir / "b.txt", [box(0, 0, 10, 10)])  # no prediction file: all misses
    write_quads(pred_dir / "a.txt", [box(1, 1, 10, 10, score=0.9), box(30, 30, 40, 40, score=0.1)])
    result = evaluate_quads(gt_dir, pred_dir, iou=0.75)
    assert (result["matched"], result["num_gt"], result["num_pred"]) == (1, 2, 1)
    assert evaluate_quads(gt_dir, pred_dir, iou=0.85)["matched"] == 0  # IoU is 0.81
    write_quads(pred_dir / "c.txt", [])
    with pytest.raises(ValueError, match=r"c\.txt"):
        evaluate_quads(gt_dir, pred_dir)
    with pytest.raises(FileNotFoundError, match="missing"):
        evaluate_quads(tmp_path / "missing", pred_dir)
