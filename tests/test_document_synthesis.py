"""Fusion, capture simulation, whole synthesised sets and their exports (issue 8, ``sigbench-synth``)."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from sigbench.data.formats import save_npz
from sigbench.documents import templates
from sigbench.documents.capture import simulate_capture, transform_points
from sigbench.documents.formats import LABELS, from_yolo_lines, read_coco, read_quads
from sigbench.documents.fusion import FUSIONS, fit_to_slot, fuse
from sigbench.documents.sources import FolderSource, SyntheticSource, ink_mask, make_source
from sigbench.documents.synthesize import (
    CONFIG_FILE,
    load_or_synthesize,
    split_of,
    synthesize_dataset,
    synthesize_page,
)
from tests.helpers import make_toy_dataset

SMALL = [400, 300]  # (H, W)
SLOT = (40, 60, 260, 140)


def _page() -> np.ndarray:
    """Paper with a ruled line and some 'printed' text, so fusions have texture to disturb."""
    page = np.full((300, 320, 3), 235, np.uint8)
    page[120:122] = 30
    page[20:30, 10:200:7] = 40
    return page


def _signature() -> np.ndarray:
    return SyntheticSource(num_writers=3, samples_per_writer=2).sample(np.random.default_rng(1)).image


def _tight(mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Each side of an (exclusive-end) box touches an ink pixel and no ink lies outside it."""
    x0, y0, x1, y1 = box
    inside = mask[y0:y1, x0:x1]
    return (
        inside.sum() == mask.sum()
        and inside[0].any()
        and inside[-1].any()
        and inside[:, 0].any()
        and inside[:, -1].any()
    )


# ------------------------------------------------------------------------------------------ fusion


@pytest.mark.parametrize("mode", FUSIONS)
def test_fusion_changes_only_the_slot_and_box_is_tight(mode: str) -> None:
    page = _page()
    fused = fuse(page, _signature(), None, SLOT, mode, np.random.default_rng(0))
    changed = (fused.page != page).any(axis=2)
    x0, y0, x1, y1 = SLOT
    assert changed.any()
    assert not changed[:y0].any() and not changed[y1:].any()
    assert not changed[:, :x0].any() and not changed[:, x1:].any()
    assert page.sum() == _page().sum(), "the input page is not modified"
    bx0, by0, bx1, by1 = fused.box
    assert x0 <= bx0 < bx1 <= x1 and y0 <= by0 < by1 <= y1
    assert _tight(fused.mask, fused.box)
    # The ink is visible: pasted ink pixels are darker than the slot's paper around them.
    gray = fused.page.mean(axis=2)
    paper = np.median(gray[y0:y1, x0:x1][~fused.mask[y0:y1, x0:x1]])
    assert gray[fused.mask].mean() < paper - 30


def test_fit_to_slot_scales_by_0_9_to_0_95_of_the_fit() -> None:
    """A 100 x 50 ink rectangle into a 220 x 60 slot: fit scale min(2.2, 1.2) = 1.2, then x 0.9..0.95."""
    gray = np.full((80, 140), 250, np.uint8)
    gray[15:65, 20:120] = 20
    mask = ink_mask(gray)
    for seed in range(5):
        small, small_mask, x, y = fit_to_slot(gray, mask, (10, 10, 230, 70), np.random.default_rng(seed))
        h, w = small.shape
        assert 0.9 * 1.2 * 50 - 1 <= h <= 0.95 * 1.2 * 50 + 1
        assert 0.9 * 1.2 * 100 - 1 <= w <= 0.95 * 1.2 * 100 + 1
        assert x >= 10 and x + w <= 230 and y >= 10 and y + h <= 70
        assert small_mask.all()


def test_ink_fusion_uses_the_requested_colour() -> None:
    fused = fuse(_page(), _signature(), None, SLOT, "ink", np.random.default_rng(0), ink_color=(0, 0, 200))
    ink = fused.page[fused.mask].astype(int)
    assert (ink[:, 2] - ink[:, 0]).mean() > 40  # blue ink


def test_fusion_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="fusion mode"):
        fuse(_page(), _signature(), None, SLOT, "blend", np.random.default_rng(0))
    with pytest.raises(ValueError, match="4 x 4"):
        fuse(_page(), _signature(), None, (10, 10, 12, 40), "alpha", np.random.default_rng(0))
    with pytest.raises(ValueError, match="no ink"):
        fuse(_page(), np.full((20, 20), 255, np.uint8), None, SLOT, "alpha", np.random.default_rng(0))


# ------------------------------------------------------------------------------------------ capture


def test_transform_points_uses_pixel_edges() -> None:
    shift = np.array([[1.0, 0, 5], [0, 1, 3], [0, 0, 1]])
    assert np.allclose(transform_points(shift, [[0, 0], [10, 4]]), [[5, 3], [15, 7]])
    # Doubling about pixel centre 0 (OpenCV): edge point p -> 2 (p - 0.5) + 0.5.
    double = np.diag([2.0, 2.0, 1.0])
    assert np.allclose(transform_points(double, [[0.5, 0.5], [3, 1]]), [[0.5, 0.5], [5.5, 1.5]])


@pytest.mark.parametrize("mode", ["scan", "photo"])
def test_capture_keeps_mask_inside_the_transformed_quad(mode: str) -> None:
    page = _page()
    mask = np.zeros(page.shape[:2], bool)
    mask[100:130, 150:260:3] = True
    captured = simulate_capture(page, mask, mode, np.random.default_rng(4))
    assert captured.image.shape == page.shape and captured.mask.shape == mask.shape
    assert not np.allclose(captured.homography, np.eye(3))
    quad = transform_points(captured.homography, [[150, 100], [258, 100], [258, 130], [150, 130]])
    ys, xs = np.nonzero(captured.mask)
    assert len(ys) > 0.8 * mask.sum()
    contour = quad.astype(np.float32).reshape(-1, 1, 2)
    dist = [
        cv2.pointPolygonTest(contour, (float(x) + 0.5, float(y) + 0.5), True)
        for x, y in zip(xs, ys, strict=True)
    ]
    assert min(dist) >= -1.0


def test_capture_none_and_bilevel() -> None:
    page = _page()
    mask = np.zeros(page.shape[:2], bool)
    none = simulate_capture(page, mask, "none", np.random.default_rng(0))
    assert np.array_equal(none.image, page) and np.array_equal(none.homography, np.eye(3))
    bw = simulate_capture(page, mask, "scan", np.random.default_rng(0), bilevel=True)
    assert set(np.unique(bw.image)) <= {0, 255}
    with pytest.raises(ValueError, match="capture"):
        simulate_capture(page, mask, "fax", np.random.default_rng(0))


# ------------------------------------------------------------------------------------------ sources


def test_folder_source_inverts_prepared_images(tmp_path: Path) -> None:
    path = tmp_path / "toy.npz"
    save_npz(make_toy_dataset(users=2, genuine=2, forgeries=1), path)
    source = make_source({"folder": str(path)})
    assert isinstance(source, FolderSource)
    sample = source.sample(np.random.default_rng(0))
    assert sample.image.dtype == np.uint8 and np.median(sample.image) == 255  # paper is white
    assert sample.writer in {"w0", "w1"} and sample.name.startswith("s")
    assert source.config()["kind"] == "folder"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_source({"folder": str(tmp_path / "missing.npz")})
    with pytest.raises(ValueError, match="source"):
        make_source({"web": "x"})


# ------------------------------------------------------------------------------------------ pages and sets


def test_page_boxes_are_tight_on_the_signature_mask() -> None:
    source = SyntheticSource(num_writers=4, samples_per_writer=2)
    for level in (1, 3, 5):
        page = synthesize_page(level, level, source, capture=("none",), page_size=(500, 354), random_places=1)
        mask = page.mask > 0
        assert page.image.shape == (*page.mask.shape, 3) and page.mask.dtype == np.uint8
        signatures = [a for a in page.annotations if a.label == "signature"]
        assert signatures
        covered = np.zeros_like(mask)
        for ann in signatures:
            x0, y0, x1, y1 = (int(v) for v in ann.bounds())
            own = np.zeros_like(mask)
            own[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
            assert _tight(own, (x0, y0, x1, y1))
            covered[y0:y1, x0:x1] = True
        assert not (mask & ~covered).any(), "every mask pixel belongs to a signature box"


def test_signver_classes_and_unannotated_distractors(monkeypatch: pytest.MonkeyPatch) -> None:
    source = SyntheticSource(num_writers=4, samples_per_writer=2)
    labels: set[str] = set()
    for index in range(6):
        page = synthesize_page(
            index, 3 + index % 3, source, classes=LABELS, capture=("none",), page_size=(500, 354)
        )
        labels |= {a.label for a in page.annotations}
        for ann in page.annotations:
            if ann.label == "redaction":
                x0, y0, x1, y1 = (int(v) for v in ann.bounds())
                assert np.median(page.image[y0:y1, x0:x1]) < 45  # a black box (a stamp may lie over it)
    assert labels == set(LABELS)
    # Unannotated handwriting only of kinds the set does not label: never an unlabelled date in a date set.
    kinds: list[tuple[str, ...]] = []
    real = templates._paste_distractor
    monkeypatch.setattr(templates, "_paste_distractor", lambda *a: kinds.append(a[-1]) or real(*a))
    synthesize_page(0, 5, source, classes=("signature", "date"), page_size=(500, 354))
    synthesize_page(1, 5, source, classes=("signature",), page_size=(500, 354))
    assert kinds and set(kinds) == {("initials",), ("date", "initials")}
    kinds.clear()
    synthesize_page(0, 5, source, classes=LABELS, page_size=(500, 354))
    assert not kinds


# five tiny pages at two levels with every SignVerOD class: the set most tests read
SMALL_SET = dict(
    num_pages=5,
    levels=(1, 4),
    test_fraction=0.4,
    capture=("none", "photo"),
    classes=LABELS,
    page_size=SMALL,
    source={"synthetic": {"num_writers": 5, "samples_per_writer": 2}},
    seed=11,
    progress=False,
)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize_dataset(tmp_path_factory.mktemp("docs") / "set", **SMALL_SET)


def test_layout_and_exports_read_back_to_the_same_boxes(small_set: Path) -> None:
    config = json.loads((small_set / CONFIG_FILE).read_text())
    assert config["counts"]["test"]["pages"] == 2 and config["counts"]["training"]["pages"] == 3
    assert (small_set / "yolo" / "classes.txt").read_text().split() == list(LABELS)
    seen = 0
    for split in ("training", "test"):
        for page in read_coco(small_set / "coco" / f"{split}.json"):
            level, _, _, file = page.file_name.split("/")
            stem = Path(file).stem
            image = cv2.imread(str(small_set / page.file_name))
            mask = cv2.imread(
                str(small_set / level / "anno_mask" / split / f"{stem}.png"), cv2.IMREAD_UNCHANGED
            )
            assert image.shape == (*SMALL, 3) and mask.shape == tuple(SMALL) and mask.dtype == np.uint8
            assert set(np.unique(mask)) <= {0, 255}
            quads = read_quads(small_set / level / "anno_label" / split / f"{stem}.txt")
            yolo_path = small_set / "yolo" / split / f"{level}_{stem}.txt"
            yolo = from_yolo_lines(yolo_path.read_text().splitlines(), page.width, page.height)
            assert len(quads) == len(page.annotations) == len(yolo)
            for q, c, y in zip(quads, page.annotations, yolo, strict=True):
                assert np.allclose(q.as_array(), c.as_array())
                assert np.allclose(q.bounds(), y.bounds(), atol=1e-4)
                assert c.label == y.label and q.name == c.name and q.slot_label == c.slot_label
            seen += 1
    assert seen == 5


def test_same_seed_same_bytes_for_any_worker_count(small_set: Path, tmp_path: Path) -> None:
    again = synthesize_dataset(tmp_path / "again", **SMALL_SET, num_workers=2)
    left = sorted(p.relative_to(small_set) for p in small_set.rglob("*") if p.is_file())
    right = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert left == right
    for rel in left:
        assert filecmp.cmp(small_set / rel, again / rel, shallow=False), rel


def test_out_dir_safety(small_set: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthesised set"):
        synthesize_dataset(tmp_path / "mine", num_pages=1, page_size=SMALL, progress=False)
    assert (tmp_path / "mine" / "notes.txt").exists()
    with pytest.raises(FileExistsError, match="overwrite"):
        synthesize_dataset(small_set, num_pages=1, page_size=SMALL, progress=False)


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    for kwargs, key in [
        ({"fusions": ["alpha", "blend"]}, "fusions"),
        ({"levels": [0]}, "levels"),
        ({"classes": ["initials"]}, "classes"),
        ({"page_size": "letter"}, "page_size"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"num_pages": 0}, "num_pages"),
    ]:
        with pytest.raises(ValueError, match=key):
            synthesize_dataset(tmp_path / "x", **{"num_pages": 2, **kwargs}, progress=False)
    assert not (tmp_path / "x").exists()


def test_split_is_exact_and_seeded() -> None:
    a = split_of(10, 0.3, 1)
    assert a.sum() == 3 and np.array_equal(a, split_of(10, 0.3, 1)) and not split_of(10, 0.0, 1).any()


def test_load_or_synthesize_caches_by_config(tmp_path: Path) -> None:
    args = {"num_pages": 2, "levels": [2], "page_size": SMALL, "capture": ["none"]}
    first = load_or_synthesize(tmp_path, **args)
    stamp = (first / CONFIG_FILE).stat().st_mtime_ns
    assert load_or_synthesize(tmp_path, **args) == first
    assert (first / CONFIG_FILE).stat().st_mtime_ns == stamp, "the second call reads the cache"
    other = load_or_synthesize(tmp_path, **{**args, "seed": 1})
    assert other != first and (other / CONFIG_FILE).exists()


def test_cli_config_composes_and_runs(tmp_path: Path) -> None:
    from sigbench.cli.synth import run, source_spec
    from sigbench.runner.conf import conf_dir

    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose(
            "synth",
            overrides=[
                f"out_dir={tmp_path / 'cli'}",
                "num_pages=2",
                "page_size=[300,212]",
                "levels=[1]",
                "progress=false",
                "paths.output_dir=.",
                "paths.root_dir=.",
            ],
        )
    root = run(cfg)
    assert (root / CONFIG_FILE).exists() and len(list(root.glob("L1/data/*/*.jpg"))) == 2
    assert source_spec("synthetic", {"num_writers": 3}) == {"synthetic": {"num_writers": 3}}
    assert source_spec("/data/cedar.npz", {}) == {"folder": "/data/cedar.npz"}


def test_user_templates_are_used(tmp_path: Path) -> None:
    page = np.full((260, 200, 3), 245, np.uint8)
    cv2.imwrite(str(tmp_path / "form.png"), page)
    shapes = [
        {"label": "sig", "points": [[20, 150], [180, 220]]},
        {"label": "bg", "points": [[20, 20], [180, 90]]},
    ]
    (tmp_path / "form.json").write_text(json.dumps({"shapes": shapes, "imagePath": "form.png"}))
    root = synthesize_dataset(
        tmp_path / "set",
        num_pages=2,
        levels=[1],
        test_fraction=0.0,
        capture=["none"],
        templates=[str(tmp_path / "form.json")],
        progress=False,
    )
    (page,) = read_coco(root / "coco" / "training.json")[:1]
    assert (page.height, page.width) == (260, 200)
    slots = sorted(a.slot_label for a in page.annotations)
    assert slots == ["bg", "sig"]
    for ann in page.annotations:
        x0, y0, x1, y1 = ann.bounds()
        inside = (20, 150, 180, 220) if ann.slot_label == "sig" else (20, 20, 180, 90)
        assert inside[0] <= x0 and inside[1] <= y0 and x1 <= inside[2] and y1 <= inside[3]
    with pytest.raises(ValueError, match="shapes"):
        (tmp_path / "bad.json").write_text(json.dumps({"imagePath": "form.png"}))
        synthesize_dataset(
            tmp_path / "bad", num_pages=1, templates=[str(tmp_path / "bad.json")], progress=False
        )
