"""The heatmap (segmentation-style) detector: kernel targets and decoding by hand, their round trip, the
model's two modes, and the CPU experiment trained for two steps and applied with ``sigbench-detect``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn
from torch.nn import functional as F

from sigbench.checkpoint_io import load_task
from sigbench.detection.heatmap import HeatmapDetector, heatmap_detector
from sigbench.detection.kernels import decode, expand_boxes, rasterise, shrink_boxes
from sigbench.runner.conf import conf_dir
from sigbench.segmentation.models import SegmentationNet
from tests.detection_helpers import make_layout
from tests.train_helpers import compose_train

pytestmark = pytest.mark.usefixtures("single_thread")

EXPERIMENT = "tobacco_like_detection_heatmap_cpu"


# --------------------------------------------------------------------------------------------- kernels


def test_shrink_moves_each_side_in_by_area_times_one_minus_r_squared_over_perimeter() -> None:
    # 160 x 40 at r = 0.5: d = 6400 * 0.75 / 400 = 12; a square of side 25.6: d = 655.36 * 0.75 / 102.4 = 4.8
    boxes = np.array([[0.0, 0.0, 160.0, 40.0], [10.0, 20.0, 35.6, 45.6]])
    kernels = np.array([[12.0, 12.0, 148.0, 28.0], [14.8, 24.8, 30.8, 40.8]])
    np.testing.assert_allclose(shrink_boxes(boxes, 0.5), kernels)
    np.testing.assert_allclose(expand_boxes(kernels, 0.5), boxes)
    np.testing.assert_allclose(shrink_boxes(boxes, 1.0), boxes)  # ratio 1: no shrinking
    with pytest.raises(ValueError, match="shrink ratio"):
        shrink_boxes(boxes, 0.0)


def test_rasterised_target_and_mask_by_hand() -> None:
    # a 36 x 52 image at stride 4: 9 x 13 cells; cell (i, j) has its centre at (4 j + 2, 4 i + 2)
    boxes = np.array(
        [
            [4.0, 4.0, 36.0, 20.0],  # A, class 0: d = 512 * 0.75 / 96 = 4 -> kernel (8, 8, 32, 16)
            [
                30.0,
                14.0,
                50.0,
                34.0,
            ],  # C, class 0: d = 400 * 0.75 / 80 = 3.75 -> (33.75, 17.75, 46.25, 30.25)
            [0.5, 28.5, 1.5, 29.5],  # B, class 1: 1 px, no cell centre inside -> the cell holding its centre
        ]
    )
    target, mask = rasterise(boxes, [0, 0, 1], num_classes=2, size=(9, 13), stride=4, ratio=0.5)
    expected = np.zeros((2, 9, 13), np.float32)
    expected[0, 2:4, 2:8] = 1  # A's kernel: centres x 10..30 in [8, 32), y 10, 14 in [8, 16)
    expected[0, 4:8, 8:12] = 1  # C's kernel: centres x 34..46 in [33.75, 46.25), y 18..30 in [17.75, 30.25)
    expected[1, 7, 0] = 1  # B: the cell holding (1, 29)
    ignored = np.ones((2, 9, 13), np.float32)
    ignored[0, 1:5, 1:9] = 0  # A's box: centres x 6..34 in [4, 36), y 6..18 in [4, 20)
    ignored[0, 3:8, 7:12] = 0  # C's box: centres x 30..46 in [30, 50), y 14..30 in [14, 34)
    ignored[0, 2:4, 2:8] = 1  # kernels count, even where they lie in another box's ring:
    ignored[0, 4:8, 8:12] = 1  # A's cell (3, 7) is in C's ring, C's cell (4, 8) in A's
    np.testing.assert_array_equal(target, expected)
    np.testing.assert_array_equal(mask, ignored)
    # without shrinking the whole box is the target and nothing is ignored
    whole, none_ignored = rasterise(boxes[:1], [0], 1, (9, 13), 4, ratio=1.0)
    assert whole[0, 1:5, 1:9].all() and whole.sum() == 32 and none_ignored.all()
    with pytest.raises(ValueError, match="labels"):
        rasterise(boxes, [0, 0, 2], 2, (9, 13), 4)


def test_decoding_two_blobs_by_hand() -> None:
    prob = np.zeros((1, 16, 48), np.float32)
    prob[0, 3:7, 3:37] = 0.8  # 34 x 4 cells: kernel (12, 12, 148, 28) px, 136 x 16
    prob[0, 3, 3] = 0.6  # the score is the mean over the component
    prob[0, 8:12, 44:48] = 0.9  # 4 x 4 cells: kernel (176, 32, 192, 48), a 16 px square
    prob[0, 13, 5:7] = 0.95  # 2 cells = 32 px < min_area: dropped
    prob[0, 13:16, 20:30] = 0.2  # below the threshold
    found = decode(prob, stride=4, ratio=0.5, threshold=0.3, min_area=48, image_size=(64, 192))
    # the square's box has side 16 / 0.625 = 25.6 (d = 4.8), its right side clipped to the image's 192;
    # 136 x 16 is the kernel of 160 x 40 (d = 12): the box (0, 0, 160, 40)
    np.testing.assert_allclose(found.boxes, [[171.2, 27.2, 192.0, 52.8], [0.0, 0.0, 160.0, 40.0]], atol=1e-4)
    np.testing.assert_allclose(found.scores, [0.9, (135 * 0.8 + 0.6) / 136], atol=1e-6)
    assert found.labels.tolist() == [0, 0]
    assert len(decode(prob, 4, 0.5, 0.3, min_area=48, max_detections=1).boxes) == 1
    assert len(decode(prob, 4, 0.5, 0.3, min_area=0).boxes) == 3  # the small blob is kept without min_area


def test_boxes_survive_target_and_decoding_within_one_stride() -> None:
    """Up to aspect 3 at ratio 0.5 and stride 4: each kernel side is off by at most half a cell, and the
    expansion of a thin kernel multiplies the error of its short side (up to 1 / r^2 for a long box)."""
    rng = np.random.default_rng(0)
    stride, slot = 4, 160  # one box in each 160 x 160 slot of a 3 x 4 grid
    boxes = []
    for row in range(3):
        for col in range(4):
            short = rng.uniform(16, 48)
            long = short * rng.uniform(1, 3)
            width, height = (long, short) if rng.random() < 0.5 else (short, long)
            x0, y0 = col * slot + rng.uniform(0, 15), row * slot + rng.uniform(0, 15)
            boxes.append([x0, y0, x0 + width, y0 + height])
    boxes = np.array(boxes)
    target, _ = rasterise(boxes, [0] * len(boxes), 1, (3 * slot // stride, 4 * slot // stride), stride, 0.5)
    found = decode(target, stride, 0.5, threshold=0.5, image_size=(3 * slot, 4 * slot))
    assert len(found.boxes) == len(boxes) == 12 and np.all(found.scores == 1.0)
    centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2
    slots = (centres[:, 1] // slot) * 4 + centres[:, 0] // slot  # row-major, as the boxes were made
    errors = np.abs(found.boxes[np.argsort(slots)] - boxes)
    assert errors.max() <= stride, errors.max()


# --------------------------------------------------------------------------------------------- model


class _InkNet(nn.Module):
    """Stands in for a trained network: logit +20 on cells that are all ink, -20 on paper."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(1.0 - x, 4) * 40.0 - 20.0


def test_eval_mode_maps_each_page_of_a_padded_batch_to_its_own_pixels() -> None:
    detector = HeatmapDetector(SegmentationNet(_InkNet(), 1, 1, stride=4, output_stride=4), ["signature"])
    big = torch.full((3, 64, 96), 255, dtype=torch.uint8)
    big[:, 16:24, 16:84] = 0  # a 68 x 8 kernel: the box 80 x 20 shrunk by 6
    small = torch.full((3, 40, 48), 255, dtype=torch.uint8)
    small[:, 8:24, 8:24] = 0  # a 16 px square kernel: box side 25.6 (d = 4.8)
    out = detector.eval()([big, small])  # the small page is padded with white to 64 x 96 in the batch
    assert [set(o) for o in out] == [{"boxes", "scores", "labels"}] * 2
    torch.testing.assert_close(out[0]["boxes"], torch.tensor([[10.0, 10.0, 90.0, 30.0]]))
    torch.testing.assert_close(out[1]["boxes"], torch.tensor([[3.2, 3.2, 28.8, 28.8]]))
    assert out[0]["labels"].dtype == torch.int64 and out[1]["labels"].tolist() == [0]
    assert out[0]["scores"].item() == pytest.approx(1.0, abs=1e-6)


def test_built_model_learns_one_box_and_speaks_the_detector_interface() -> None:
    torch.manual_seed(0)
    detector = heatmap_detector(["signature", "date"], encoder="lcnet_050", pyramid_channels=32)
    assert (detector.architecture, detector.num_logits, detector.stride) == ("heatmap", 2, 4)
    page = torch.full((3, 96, 128), 255, dtype=torch.uint8)
    page[:, 40:60, 24:104:3] = 0  # a striped "signature"
    targets = [{"boxes": torch.tensor([[24.0, 40.0, 104.0, 60.0]]), "labels": torch.tensor([0])}]
    optimiser = torch.optim.AdamW(detector.parameters(), lr=1e-3)
    detector.train()
    losses = []
    for _ in range(20):
        parts = detector([page], targets)
        loss = sum(parts.values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert set(parts) == {"loss_bce", "loss_dice"} and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses
    detector.eval()
    out = detector([page, page[:, :64, :80]])
    assert len(out) == 2
    for result, (height, width) in zip(out, [(96, 128), (64, 80)], strict=True):
        assert set(result) == {"boxes", "scores", "labels"}
        boxes = result["boxes"]
        assert boxes.dtype == torch.float32 and boxes.shape == (len(result["scores"]), 4)
        assert bool((boxes[:, 2:] > boxes[:, :2]).all())
        assert bool((boxes[:, [0, 2]] <= width).all() and (boxes[:, [1, 3]] <= height).all())
        assert set(result["labels"].tolist()) <= {0, 1} and bool((result["scores"] <= 1).all())


def test_network_and_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="distinct"):
        heatmap_detector(["signature", "signature"])
    net = SegmentationNet(_InkNet(), 1, 1, stride=4, output_stride=4)
    with pytest.raises(ValueError, match="predict 2"):
        HeatmapDetector(net, ["signature", "date"])
    with pytest.raises(ValueError, match="shrink_ratio"):
        HeatmapDetector(net, ["signature"], shrink_ratio=1.5)


# --------------------------------------------------------------------------------------------- experiment


def test_experiment_derives_from_the_tobacco_like_recipe_and_builds(tmp_path: Path) -> None:
    from sigbench.runner.build import check

    cfg = compose_train([f"experiment={EXPERIMENT}"], tmp_path)
    check(cfg)
    base = compose_train(["experiment=tobacco_like_detection_fasterrcnn_cpu"], tmp_path)
    assert cfg.data.source == base.data.source and list(cfg.data.source.levels) == [6]  # same pages
    assert cfg.model._target_ == "sigbench.detection.heatmap.heatmap_detector"
    assert cfg.task._target_ == "sigbench.detection.task.DetectionTask" and cfg.loss is None
    monitor = cfg.callbacks.model_checkpoint
    assert (monitor.monitor, monitor.mode) == ("val/f_50", "max")
    assert cfg.optimizer._target_ == "torch.optim.AdamW" and cfg.trainer.accelerator == "cpu"
    detector = instantiate(cfg.model)
    assert isinstance(detector, HeatmapDetector) and detector.classes == list(cfg.data.classes)


def cfg_overrides(ckpt: Path, layout: Path, out: Path) -> list[str]:
    """``sigbench-detect`` on the layout's test pages, scored against its ground truth."""
    return [
        f"ckpt={ckpt}",
        f"input={layout / 'L1' / 'data' / 'test'}",
        f"output={out}",
        f"gt={layout / 'L1' / 'anno_label' / 'test'}",
        "score_threshold=0.0",
        "device=cpu",
    ]


def test_tiny_heatmap_run_is_applied_by_sigbench_detect(tmp_path: Path) -> None:
    """Trained for two steps, the checkpoint is rebuilt from its stored config by ``sigbench-detect``."""
    from sigbench.runner.detect import detect
    from sigbench.runner.train import train

    layout = make_layout(tmp_path / "pages")
    overrides = [
        f"experiment={EXPERIMENT}",
        f"data.source={layout}",
        "data.long_side=192",
        "data.val_fraction=0.34",
        "model.encoder=lcnet_050",
        "model.pyramid_channels=32",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.log_every_n_steps=1",
        "callbacks.progress_bar=null",
    ]
    metrics = train(compose_train(overrides, tmp_path / "run", tmp_path / "cache"))
    assert 0.0 <= metrics["val/f_50"] <= 1.0 and np.isfinite(metrics["train/loss_dice"])
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    task, _ = load_task(ckpt, needs="detection")
    assert isinstance(task.detector, HeatmapDetector) and task.detector.net.output_stride == 4
    out = tmp_path / "detections"
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("detect", overrides=cfg_overrides(ckpt, layout, out))
    result = detect(cfg)
    assert result["pages"] == 2 and result["metrics"]["num_gt"] == 3
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        tighter = compose(
            "detect", overrides=[*cfg_overrides(ckpt, layout, tmp_path / "tight"), "map_threshold=0.6"]
        )
    assert detect(tighter)["pages"] == 2  # the option reaches the runner through the schema
    record = json.loads(sorted(out.glob("*.json"))[0].read_text())
    assert (record["width"], record["height"], record["classes"]) == (192, 128, ["signature"])


def test_map_threshold_is_checked_and_changes_the_decoding() -> None:
    """``sigbench-detect map_threshold=``: a probability, heatmap detectors only, and it decides which map
    cells form a box (a blob of probability 0.4 is a box at the trained 0.3, nothing at 0.5)."""
    from types import SimpleNamespace

    from sigbench.runner.detect import apply_map_threshold, check_map_threshold
    from sigbench.runner.validation import ConfigError

    assert check_map_threshold(None) is None and check_map_threshold(0.45) == 0.45
    for bad in (0, 1, 1.5, -0.2, "high", True):
        with pytest.raises(ConfigError, match="map_threshold"):
            check_map_threshold(bad)
    with pytest.raises(ConfigError, match=r"map_threshold: only heatmap.*x.ckpt holds a fasterrcnn"):
        apply_map_threshold(SimpleNamespace(architecture="fasterrcnn"), 0.5, "x.ckpt")

    detector = heatmap_detector(["signature"], encoder="lcnet_050", pyramid_channels=32)
    assert detector.threshold == 0.3
    prob = torch.full((1, 1, 16, 16), 0.01)
    prob[0, 0, 4:10, 3:12] = 0.4  # 6 x 9 cells of 4 px: 864 px, above min_area
    logits = torch.logit(prob)
    (before,) = detector.detections(logits, [(64, 64)])
    assert len(before["boxes"]) == 1 and before["scores"][0] == pytest.approx(0.4, abs=1e-5)
    apply_map_threshold(detector, 0.5, "x.ckpt")
    (after,) = detector.detections(logits, [(64, 64)])
    assert detector.threshold == 0.5 and len(after["boxes"]) == 0
