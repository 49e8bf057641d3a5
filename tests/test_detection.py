"""Detection (issue 8): detector builders, the four page readers, tiling and merging, box-aware
augmentation, and a tiny detector trained end to end and applied with ``sigbench-detect``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from sigbench.detection.augment import box_augmentation
from sigbench.detection.data import DetectionDataModule, PageDataset
from sigbench.detection.infer import detect_pages, iter_pages, list_inputs
from sigbench.detection.models import Detector, build_detector
from sigbench.detection.pages import read_pages
from sigbench.detection.tiling import axis_starts, clip_boxes, merge_tile_detections, resize_long_side
from sigbench.documents.formats import read_quads
from sigbench.images import read_rgb
from sigbench.runner.validation import ConfigError
from tests.detection_helpers import make_layout
from tests.train_helpers import compose_train, run_cli

CLASSES = ["signature", "initials", "redaction", "date"]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_layout(tmp_path_factory.mktemp("pages") / "data")


def dark_bounds(image: np.ndarray, level: int = 100) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(image.max(axis=2) < level)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


# --------------------------------------------------------------------------------------------- models


def test_builders_have_the_right_number_of_class_logits() -> None:
    faster = build_detector("fasterrcnn", CLASSES, "mobilenet_v3_large", min_size=128, max_size=128)
    assert faster.model.roi_heads.box_predictor.cls_score.out_features == len(CLASSES) + 1  # + background
    retina = build_detector("retinanet", CLASSES, "resnet18", min_size=128, max_size=128)
    anchors = retina.model.head.classification_head.num_anchors
    assert retina.model.head.classification_head.cls_logits.out_channels == anchors * len(CLASSES)
    fcos = build_detector("fcos", CLASSES[:1], "resnet18", min_size=128, max_size=128)
    assert fcos.model.head.classification_head.cls_logits.out_channels == 1
    assert (faster.num_logits, retina.num_logits, fcos.num_logits) == (5, 4, 1)
    with pytest.raises(ValueError, match="only available for fasterrcnn"):
        build_detector("fcos", CLASSES, "mobilenet_v3_large")
    with pytest.raises(ValueError, match="architecture 'yolo'"):
        build_detector("yolo", CLASSES)


class _Echo(torch.nn.Module):
    """Stands in for a torchvision detector: returns the labels it was given (to check the shifting)."""

    def forward(self, images: list, targets: list | None = None) -> dict | list:
        if targets is not None:
            return {"labels_seen": torch.cat([t["labels"] for t in targets]).float()}
        return [{"boxes": torch.zeros(2, 4), "scores": torch.ones(2), "labels": torch.tensor([1, 4])}]


def test_detector_maps_zero_based_labels_to_each_family() -> None:
    targets = [{"boxes": torch.zeros(2, 4), "labels": torch.tensor([0, 3])}]
    faster, retina = Detector(_Echo(), "fasterrcnn", CLASSES), Detector(_Echo(), "retinanet", CLASSES)
    assert faster([torch.zeros(3, 8, 8, dtype=torch.uint8)], targets)["labels_seen"].tolist() == [1, 4]
    assert retina([torch.zeros(3, 8, 8)], targets)["labels_seen"].tolist() == [0, 3]
    assert faster([torch.zeros(3, 8, 8)])[0]["labels"].tolist() == [0, 3]
    assert retina([torch.zeros(3, 8, 8)])[0]["labels"].tolist() == [1, 4]


def test_detection_metrics_match_per_class_at_both_ious() -> None:
    from sigbench.detection.task import DetectionMetrics

    metrics = DetectionMetrics(["signature", "date"], score_threshold=0.5, ious=(0.5, 0.75))
    target = {"boxes": torch.tensor([[0.0, 0, 100, 50], [200, 0, 300, 50]]), "labels": torch.tensor([0, 0])}
    pred = {
        "boxes": torch.tensor(
            [[0.0, 0, 100, 50], [230, 0, 300, 50], [400, 0, 450, 50], [0, 100, 50, 150], [200, 0, 300, 50]]
        ),
        "scores": torch.tensor([0.9, 0.8, 0.7, 0.3, 0.95]),
        "labels": torch.tensor([0, 0, 0, 0, 1]),  # the last one: right place, wrong class
    }
    metrics.update([pred], [target], ["page"])
    out = metrics.compute("val")
    # IoU 0.5: exact + shifted (IoU 0.7) match; the far box and the wrong-class box are false positives
    assert out["val/precision_50"] == pytest.approx(2 / 4) and out["val/recall_50"] == pytest.approx(1.0)
    assert out["val/f_50"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    # IoU 0.75: the shifted box no longer matches: P = 1/4, R = 1/2
    assert out["val/precision_75"] == pytest.approx(0.25) and out["val/recall_75"] == pytest.approx(0.5)
    assert out["val/f_75"] == pytest.approx(1 / 3)
    assert 0.0 < out["val/map_50"] <= 1.0


# --------------------------------------------------------------------------------------------- data


def test_the_four_readers_give_the_same_boxes(layout: Path) -> None:
    by_format = {fmt: read_pages(layout, fmt, "training", CLASSES) for fmt in ("aossig", "coco", "yolo")} | {
        "gedi": read_pages(layout / "gedi", "gedi", "training", CLASSES)
    }
    reference = {r.name: r for r in by_format["aossig"]}
    assert len(reference) == 6 and sum(len(r.boxes) for r in reference.values()) == 9
    for fmt, records in by_format.items():
        assert sorted(r.name for r in records) == sorted(reference), fmt
        for record in records:
            ref = reference[record.name]
            np.testing.assert_allclose(record.boxes, ref.boxes, atol=1e-3, err_msg=fmt)
            assert record.labels.tolist() == [0] * len(ref.boxes)
            assert (record.width, record.height) == (192, 128)
    # the boxes are tight on the drawn ink
    page = reference[sorted(reference)[0]]
    assert tuple(page.boxes[0].astype(int)) == dark_bounds(read_rgb(page.image))
    # a class list without `signature` keeps no objects
    assert all(len(r.boxes) == 0 for r in read_pages(layout, "aossig", "test", ["date"]))


def test_readers_name_the_bad_file(layout: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        read_rgb(bad)
    with pytest.raises(FileNotFoundError, match="levels"):
        read_pages(layout, "aossig", "training", CLASSES, levels=["L4"])
    with pytest.raises(ValueError, match="format 'voc'"):
        read_pages(layout, "voc", "training", CLASSES)


def test_datamodule_splits_reproducibly(layout: Path) -> None:
    dm = DetectionDataModule(str(layout), classes=["signature"], val_fraction=0.34, long_side=96, seed=3)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    again = DetectionDataModule(
        lambda: layout, classes=["signature"], val_fraction=0.34, long_side=96, seed=3
    )
    again.setup(None)
    assert dm.num_classes == 1
    assert (len(dm.train_pages), len(dm.val_pages), len(dm.test_pages)) == (4, 2, 2)
    assert [p.name for p in dm.val_pages] == [p.name for p in again.val_pages]
    assert not {p.name for p in dm.val_pages} & {p.name for p in dm.train_pages}
    images, targets, metas = next(iter(dm.val_dataloader()))
    assert images[0].dtype == torch.uint8 and images[0].shape == (3, 64, 96)  # long side 192 -> 96
    page = dm.val_pages[0]
    np.testing.assert_allclose(targets[0]["boxes"].numpy(), page.boxes / 2, atol=1e-4)
    assert metas[0]["scale"] == 0.5


# --------------------------------------------------------------------------------------------- tiling


def test_resize_and_tile_positions() -> None:
    image, scale = resize_long_side(np.zeros((300, 600, 3), np.uint8), 200)
    assert image.shape == (100, 200, 3) and scale == pytest.approx(1 / 3)
    assert axis_starts(300, 128, 32) == [0, 96, 172]
    assert axis_starts(100, 128, 32) == [0]
    with pytest.raises(ValueError, match="overlap"):
        axis_starts(300, 128, 128)


def test_clip_boxes_to_a_tile() -> None:
    boxes = np.array([[10, 10, 50, 30], [90, 10, 140, 30], [120, 10, 200, 30], [300, 0, 310, 5]], np.float32)
    clipped, labels = clip_boxes(boxes, np.arange(4), 0, 0, 128, min_visibility=0.3)
    # inside: unchanged; 38 of 50 px inside: clipped; 8 of 80 px (10 %) inside: dropped; outside: dropped
    np.testing.assert_array_equal(clipped, [[10, 10, 50, 30], [90, 10, 128, 30]])
    assert labels.tolist() == [0, 1]
    shifted, _ = clip_boxes(boxes[1:2], np.zeros(1), 96, 0, 128)
    np.testing.assert_array_equal(shifted, [[0, 10, 44, 30]])


def _tile_predictions(
    box: list[float], origins: list[tuple[int, int]], tile: int, score: list[float]
) -> list:
    """What a perfect detector sees of ``box`` in each tile (clipped, in tile coordinates)."""
    out = []
    for (x0, y0), s in zip(origins, score, strict=True):
        clipped, _ = clip_boxes(np.array([box], np.float32), np.zeros(1), x0, y0, tile, min_visibility=0.01)
        n = len(clipped)
        out.append(
            {"boxes": torch.as_tensor(clipped), "scores": torch.full((n,), s), "labels": torch.zeros(n)}
        )
    return out


def test_merge_recovers_a_box_spanning_two_tiles() -> None:
    origins = [(0, 0), (96, 0), (172, 0)]
    # neither tile holds the box whole: 80..128 in the first, 96..170 in the second; plain NMS keeps both
    dets = _tile_predictions([80, 30, 170, 60], origins, 128, [0.9, 0.8, 0.7])
    merged = merge_tile_detections(dets, origins, 128, page=(100, 300))
    assert merged["boxes"].tolist() == [[80, 30, 170, 60]]
    assert merged["scores"].tolist() == pytest.approx([0.9])


def test_merge_is_nms_for_uncut_boxes() -> None:
    tile = {
        "boxes": torch.tensor([[10.0, 10, 50, 40], [12, 11, 50, 40], [60, 10, 90, 40]]),
        "scores": torch.tensor([0.6, 0.9, 0.7]),
        "labels": torch.tensor([0, 0, 0]),
    }
    other = {
        "boxes": torch.tensor([[12.0, 11, 50, 40]]),
        "scores": torch.tensor([0.5]),
        "labels": torch.tensor([1]),
    }
    merged = merge_tile_detections([tile, other], [(0, 0), (0, 0)], 128, page=(128, 128))
    assert merged["boxes"].tolist() == [[12, 11, 50, 40], [60, 10, 90, 40], [12, 11, 50, 40]]
    assert merged["labels"].tolist() == [0, 0, 1]  # another class is never suppressed


def test_tiled_items_hold_the_ink_of_their_boxes(layout: Path) -> None:
    pages = read_pages(layout, "aossig", "training", ["signature"])[:2]
    ds = PageDataset(pages, long_side=None, tile_size=96, tile_overlap=32, min_visibility=0.3)
    assert len(ds) == 2 * 3 * 2  # x starts 0, 64, 96; y starts 0, 32
    boxes_seen = 0
    for item in range(len(ds)):
        image, target, meta = ds[item]
        assert image.shape == (3, 96, 96)
        array = image.numpy().transpose(1, 2, 0)
        for x0, y0, x1, y1 in target["boxes"].round().int().tolist():
            assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96
            assert (array[y0:y1, x0:x1].max(axis=2) < 100).any(), meta["name"]
            boxes_seen += 1
    assert boxes_seen >= 3


# --------------------------------------------------------------------------------------------- augmentation


def test_augmentation_moves_boxes_with_the_pixels() -> None:
    page = np.full((160, 240, 3), 255, np.uint8)
    page[50:90, 60:150] = 0
    aug = box_augmentation(rotate=2.0, scale=(0.8, 1.2), translate=0.05, blur_p=0.0, jpeg_p=0.0, affine_p=1.0)
    moved = 0
    for seed in range(6):
        aug.set_random_seed(seed)
        out = aug(image=page, bboxes=np.array([[60, 50, 150, 90]], np.float32), labels=np.array([0]))
        assert out["image"].dtype == np.uint8 and len(out["bboxes"]) == 1 and list(out["labels"]) == [0]
        box = np.asarray(out["bboxes"][0])
        np.testing.assert_allclose(box, dark_bounds(out["image"], level=128), atol=2.5)
        moved += not np.allclose(box, [60, 50, 150, 90], atol=1)
    assert moved >= 3


# --------------------------------------------------------------------------------------------- inference


def test_pdf_pages_are_rasterised_at_the_dpi(tmp_path: Path) -> None:
    page = np.full((200, 100, 3), 255, np.uint8)
    page[40:60, 20:80] = 0
    Image.fromarray(page).save(tmp_path / "doc.pdf", resolution=100.0)  # 1 x 2 inches
    ((stem, source, raster),) = list(iter_pages(list_inputs(tmp_path), dpi=50))
    assert stem == "doc_p001" and source.endswith("doc.pdf")
    assert raster.shape == (100, 50, 3)
    x0, y0, x1, y1 = dark_bounds(raster, level=128)
    assert abs(x0 - 10) <= 1 and abs(y0 - 20) <= 1 and abs(x1 - 40) <= 1 and abs(y1 - 30) <= 1


def test_pdf_without_pypdfium2_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "scan.pdf")
    monkeypatch.setitem(sys.modules, "pypdfium2", None)
    with pytest.raises(RuntimeError, match="scan.pdf.*pypdfium2"):
        list(iter_pages([tmp_path / "scan.pdf"]))


def test_batched_and_tiled_inference_map_boxes_to_page_pixels() -> None:
    class Fixed(torch.nn.Module):
        """Reports one box at the same input pixels on every image it is given."""

        def __init__(self) -> None:
            super().__init__()
            self.calls: list[int] = []

        def forward(self, images: list) -> list:
            self.calls.append(len(images))
            box = {
                "boxes": torch.tensor([[8.0, 8, 24, 16]]),
                "scores": torch.ones(1),
                "labels": torch.zeros(1),
            }
            return [dict(box) for _ in images]

    detector = Fixed()
    pages = [np.zeros((100, 200, 3), np.uint8) for _ in range(3)]
    found = detect_pages(detector, pages, long_side=50, batch_size=2)
    assert detector.calls == [2, 1]  # 3 pages, batches of 2
    np.testing.assert_allclose(found[0].boxes, [[32, 32, 96, 64]])  # x4: 200 px page seen at 50 px
    detector.calls.clear()
    found = detect_pages(detector, pages[:1], long_side=None, tile_size=64, tile_overlap=16, batch_size=4)
    assert sum(detector.calls) == 4 * 2  # x starts 0, 48, 96, 136; y starts 0, 36
    assert len(found[0].boxes) == 8  # distinct boxes, none cut by a tile edge: nothing merged


def test_detect_rejects_a_missing_checkpoint_or_input(tmp_path: Path) -> None:
    from sigbench.runner.detect import detect

    cfg = OmegaConf.create({"ckpt": str(tmp_path / "nope.ckpt"), "input": str(tmp_path)})
    with pytest.raises(ConfigError, match="nope.ckpt"):
        detect(cfg)
    (tmp_path / "some.ckpt").write_bytes(b"")
    cfg = OmegaConf.create({"ckpt": str(tmp_path / "some.ckpt"), "input": str(tmp_path / "scans")})
    with pytest.raises(FileNotFoundError, match="scans does not exist"):
        detect(cfg)


# --------------------------------------------------------------------------------------------- end to end

TINY = [
    "data.long_side=192",
    "data.val_fraction=0.34",
    "data.batch_size=2",
    "model.detections_per_img=20",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.limit_train_batches=2",
    "callbacks.progress_bar=null",
]


def test_tiny_detector_end_to_end(layout: Path, tmp_path: Path) -> None:
    from sigbench.runner.build import check
    from sigbench.runner.train import train

    overrides = ["experiment=aossig_detection_fasterrcnn_cpu", f"data.source={layout}", *TINY]
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    check(cfg)
    metrics = train(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.exists() and any((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))
    for key in ("val/f_50", "val/f_75", "val/map_50", "val/recall_50"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert np.isfinite(metrics["train/loss_classifier"])

    out = tmp_path / "detections"
    gt = layout / "L1" / "anno_label" / "test"
    args = [f"ckpt={ckpt}", f"input={layout / 'L1' / 'data' / 'test'}", f"output={out}", f"gt={gt}"]
    result = run_cli(
        ["sigbench-detect", *args, "score_threshold=0.0", f"hydra.run.dir={tmp_path / 'hy'}"], tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stems = sorted(p.stem for p in (layout / "L1" / "data" / "test").glob("*.png"))
    for stem in stems:
        record = json.loads((out / f"{stem}.json").read_text())
        quads = read_quads(out / f"{stem}.txt")
        assert (record["width"], record["height"]) == (192, 128)
        assert len(quads) == len(record["detections"])
        for quad, det in zip(quads, record["detections"], strict=True):
            assert quad.bounds() == pytest.approx(tuple(det["box"]), abs=1e-6)
            assert quad.score == pytest.approx(det["score"])
        crops = sorted((out / "crops").glob(f"{stem}_*.png"))
        assert len(crops) == sum(1 for d in record["detections"] if d["score"] >= 0.0) > 0
        x0, y0, x1, y1 = record["detections"][0]["box"]
        crop = cv2.imread(str(out / "crops" / f"{stem}_0.png"))
        assert abs(crop.shape[1] - (x1 - x0)) <= 2 and abs(crop.shape[0] - (y1 - y0)) <= 2
        assert cv2.imread(str(out / f"{stem}_annotated.jpg")).shape == (128, 192, 3)
    scores = json.loads((out / "metrics.json").read_text())
    assert scores["num_gt"] == 3 and 0.0 <= scores["fmeasure@50"] <= 1.0


DETECTION_EXPERIMENTS = {
    "aossig_detection_fasterrcnn": ("fasterrcnn", "resnet50", 1, "gpu"),
    "aossig_detection_fasterrcnn_cpu": ("fasterrcnn", "mobilenet_v3_large", 1, "cpu"),
    "aossig_detection_fcos": ("fcos", "resnet50", 1, "gpu"),
    "aossig_detection_fcos_cpu": ("fcos", "resnet18", 1, "cpu"),
    "signverod_retinanet": ("retinanet", "resnet50", 4, "gpu"),
    "signverod_retinanet_cpu": ("retinanet", "resnet18", 4, "cpu"),
    "tobacco_like_detection_fasterrcnn": ("fasterrcnn", "resnet50", 1, "gpu"),
    "tobacco_like_detection_fasterrcnn_cpu": ("fasterrcnn", "mobilenet_v3_large", 1, "cpu"),
}


@pytest.mark.parametrize("name", sorted(DETECTION_EXPERIMENTS))
def test_detection_experiments_compose_and_pass_the_checks(name: str, tmp_path: Path) -> None:
    from sigbench.runner.build import check

    cfg = compose_train([f"experiment={name}"], tmp_path)
    check(cfg)
    architecture, backbone, classes, accelerator = DETECTION_EXPERIMENTS[name]
    assert (cfg.model.architecture, cfg.model.backbone, cfg.trainer.accelerator) == (
        architecture,
        backbone,
        accelerator,
    )
    assert len(cfg.data.classes) == classes and list(cfg.model.classes) == list(cfg.data.classes)
    assert list(cfg.data.source.classes) == list(cfg.data.classes)  # the synthesiser draws every class
    assert cfg.loss is None and cfg.task._target_ == "sigbench.detection.task.DetectionTask"
    monitor = cfg.callbacks.model_checkpoint
    assert (monitor.monitor, monitor.mode) == ("val/f_50", "max")
    assert cfg.model.min_size == cfg.model.max_size == cfg.data.long_side
