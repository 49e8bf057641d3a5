"""``sigbench-detect gt=``: AOSSig txt, GEDI XML, COCO json and YOLO ground truth of the same boxes give the
same scores; format detection; mAP50 against a hand-computed value; Tobacco800 GEDI files read as they are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sigbench.detection.evaluate import average_precision_50
from sigbench.detection.groundtruth import detect_format, read_ground_truth
from sigbench.documents.formats import Annotation, FormatError, read_quads, to_yolo_lines, write_quads
from sigbench.runner.detect import score
from sigbench.runner.validation import ConfigError
from tests.detection_helpers import make_layout
from tests.helpers import SHARED_DATA

WIDTH, HEIGHT = 192, 128


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_layout(tmp_path_factory.mktemp("gt") / "data", pages={"test": 5})


def write_predictions(layout: Path, out: Path) -> None:
    """Per-page txt + json as ``write_page`` writes them: each truth box shifted, plus a false alarm."""
    rng = np.random.default_rng(3)
    out.mkdir()
    for label in sorted((layout / "L1" / "anno_label" / "test").glob("*.txt")):
        found = []
        for k, truth in enumerate(read_quads(label)):
            x0, y0, x1, y1 = truth.bounds()
            dx = (x1 - x0) * (0.0 if k == 0 else 0.35)  # the second signature is found too far off
            found.append(Annotation.from_box(x0 + dx, y0, x1 + dx, y1, score=float(rng.uniform(0.5, 1))))
        found.append(Annotation.from_box(1, 1, 20, 12, score=float(rng.uniform(0, 1))))
        write_quads(out / label.name, found)
        (out / f"{label.stem}.json").write_text(json.dumps({"width": WIDTH, "height": HEIGHT}))


@pytest.fixture(scope="module")
def predictions(layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pred") / "pred"
    write_predictions(layout, out)
    return out


def ultralytics_labels(layout: Path, folder: Path) -> Path:
    """The test pages' boxes as YOLO txt named by page stem, with a classes.txt one level up."""
    (folder / "test").mkdir(parents=True)
    (folder / "classes.txt").write_text("signature\n")
    for label in sorted((layout / "L1" / "anno_label" / "test").glob("*.txt")):
        lines = to_yolo_lines(read_quads(label), WIDTH, HEIGHT)
        (folder / "test" / label.name).write_text("\n".join(lines) + "\n")
    return folder / "test"


def test_every_format_gives_the_aossig_scores(layout: Path, predictions: Path, tmp_path: Path) -> None:
    sources = {
        "aossig": layout / "L1" / "anno_label" / "test",
        "gedi": layout / "gedi" / "test",
        "coco": layout / "coco" / "test.json",
        "yolo": ultralytics_labels(layout, tmp_path / "labels"),
    }
    results = {}
    for name, source in sources.items():
        assert detect_format(source) == name
        results[name] = score(predictions, str(source), score_threshold=0.5)
    reference = results.pop("aossig")
    assert reference["num_gt"] == 7  # 5 pages with 1, 2, 1, 2, 1 signatures
    assert 0 < reference["matched@50"] < reference["num_gt"]  # the shifted ones (IoU 0.48) are missed
    assert 0 < reference["map@50"] < 1
    for name, result in results.items():
        assert result == pytest.approx(reference, abs=1e-6), name


def test_map50_matches_the_hand_computed_value() -> None:
    box = Annotation.from_box(10, 10, 50, 30)
    gt = {"a": [box], "b": [Annotation.from_box(100, 10, 140, 30)]}
    pred = {
        "a": [Annotation.from_box(10, 10, 50, 30, score=0.9), Annotation.from_box(60, 60, 90, 80, score=0.8)],
        "b": [Annotation.from_box(100, 10, 140, 30, score=0.7)],
    }
    # ranked TP, FP, TP: precision 1 up to recall 0.5, then 2/3 -> 101-point COCO interpolation
    assert average_precision_50(gt, pred) == pytest.approx((51 * 1 + 50 * 2 / 3) / 101, abs=1e-4)


def test_bad_ground_truth_is_named(layout: Path, predictions: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        score(predictions, str(tmp_path / "missing"), 0.5)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no .xml"):
        score(predictions, str(tmp_path / "empty"), 0.5)
    partial = tmp_path / "partial"
    partial.mkdir()
    first = sorted((layout / "L1" / "anno_label" / "test").glob("*.txt"))[0]
    (partial / first.name).write_text(first.read_text())
    with pytest.raises(ConfigError, match="no ground truth for pages"):
        score(predictions, str(partial), 0.5)
    with pytest.raises(FormatError, match="size is unknown"):
        read_ground_truth(ultralytics_labels(layout, tmp_path / "yolo"), "yolo")


TOBACCO = SHARED_DATA / "tobacco800_dev"


@pytest.mark.skipif(not TOBACCO.is_dir(), reason="../shared/data/tobacco800_dev is not present")
def test_tobacco800_gedi_agrees_with_its_csv() -> None:
    import csv

    truth = read_ground_truth(TOBACCO / "gedi")
    with open(TOBACCO / "signature_boxes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected: dict[str, list[tuple[float, ...]]] = {}
    for row in rows:
        boxes = expected.setdefault(Path(row["page"]).stem, [])
        if row["x"]:
            x, y, w, h = (float(row[k]) for k in ("x", "y", "w", "h"))
            boxes.append((x, y, x + w, y + h))
    assert len(truth) == 200 and set(truth) == set(expected)
    for stem, boxes in expected.items():
        assert sorted(a.bounds() for a in truth[stem]) == sorted(boxes), stem
