"""Signature segmentation: losses by hand, models, data over the AOSSig layout, a tiny training run that
learns, and ``sigbench-segment`` on a folder."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from sigbench.documents.formats import Annotation, write_quads
from sigbench.runner.build import build_data, build_task, check, load_task
from sigbench.runner.conf import conf_dir
from sigbench.runner.schema import register_schemas
from sigbench.segmentation.data import CropDataset, SegmentationDataModule, cut_region, find_pages
from sigbench.segmentation.evaluate import evaluate_masks, mask_scores, read_mask, summarize
from sigbench.segmentation.losses import SegmentationLoss, cross_entropy_loss, dice_loss, soft_dice
from sigbench.segmentation.models import deeplabv3, fpn, unet
from sigbench.segmentation.task import SegmentationTask
from tests.train_helpers import compose_train

pytestmark = pytest.mark.usefixtures("single_thread")

PAGE = (160, 224)  # H, W of the fixture pages
CROP = [64, 128]


# ---------------------------------------------------------------------------------------------- fixtures


def make_page(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Annotation]:
    """A white page with black 'printed text' and one blue handwritten stroke; its ink mask and quad."""
    page = np.full((*PAGE, 3), 250, np.uint8)
    for row in range(12, 70, 12):  # text lines: short black bars
        for col in range(10, PAGE[1] - 20, 14):
            if rng.random() < 0.8:
                page[row : row + 5, col : col + 10] = 20
    x0, y0 = int(rng.integers(10, PAGE[1] - 110)), int(rng.integers(85, PAGE[0] - 45))
    xs = np.linspace(x0, x0 + 90, 12)
    ys = y0 + 15 + 12 * np.sin(np.linspace(0, 3 * np.pi, 12) + rng.random() * 3)
    points = np.stack([xs, ys], axis=1).round().astype(np.int32)
    mask = np.zeros(PAGE, np.uint8)
    cv2.polylines(mask, [points], False, 255, thickness=3)
    page[mask > 0] = (30, 40, 200)  # RGB blue ink
    ys_, xs_ = np.nonzero(mask)
    quad = Annotation.from_box(xs_.min(), ys_.min(), xs_.max() + 1, ys_.max() + 1, name="sig", slot_label="s")
    return page, mask, quad


def make_layout(root: Path, train_pages: int = 10, test_pages: int = 2, seed: int = 0) -> Path:
    """A tiny AOSSig layout (one level): data/*.jpg, anno_mask/*.png (255 on ink), anno_label/*.txt."""
    rng = np.random.default_rng(seed)
    for split, count in (("training", train_pages), ("test", test_pages)):
        for i in range(count):
            page, mask, quad = make_page(rng)
            name = f"alpha_L1_scan_ink0_n0_{i:06d}"
            for sub in ("data", "anno_mask", "anno_label"):
                (root / "L1" / sub / split).mkdir(parents=True, exist_ok=True)
            bgr = cv2.cvtColor(page, cv2.COLOR_RGB2BGR)
            cv2.imwrite(
                str(root / "L1" / "data" / split / f"{name}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]
            )
            cv2.imwrite(str(root / "L1" / "anno_mask" / split / f"{name}.png"), mask)
            write_quads(root / "L1" / "anno_label" / split / f"{name}.txt", [quad])
    return root


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_layout(tmp_path_factory.mktemp("aossig"))


# ---------------------------------------------------------------------------------------------- losses


def test_losses_by_hand():
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere
    target = torch.tensor([[[1, 0], [0, 0]]])
    # Dice: (2 * 0.5 + 1) / (2 + 1 + 1) = 0.5
    assert dice_loss(logits, target).item() == pytest.approx(0.5)
    assert cross_entropy_loss(logits, target).item() == pytest.approx(math.log(2))
    # pos_weight 3 on the one ink pixel: (3 ln2 + 3 ln2) / 4
    assert cross_entropy_loss(logits, target, pos_weight=3.0).item() == pytest.approx(1.5 * math.log(2))
    assert SegmentationLoss()(logits, target).item() == pytest.approx(math.log(2) + 0.5)
    weighted = SegmentationLoss(ce_weight=2.0, dice_weight=0.5)
    assert weighted(logits, target).item() == pytest.approx(2 * math.log(2) + 0.25)
    assert set(weighted.last_parts) == {"ce", "dice"}
    assert SegmentationLoss(dice_weight=0.0)(logits, target).item() == pytest.approx(math.log(2))
    # two classes, uniform softmax: class 0 (3 pixels) (3 + 1) / (5 + 1), class 1 (1 pixel) 2 / 4
    two = torch.zeros(1, 2, 2, 2)
    assert dice_loss(two, target).item() == pytest.approx(((1 - 4 / 6) + (1 - 0.5)) / 2)
    assert cross_entropy_loss(two, target).item() == pytest.approx(math.log(2))
    # a confident, correct prediction costs (almost) nothing; an empty target predicted empty too
    sure = (target.float() * 40 - 20).unsqueeze(1)
    assert SegmentationLoss()(sure, target).item() == pytest.approx(0.0, abs=1e-6)
    assert dice_loss(torch.full((1, 1, 2, 2), -40.0), torch.zeros(1, 2, 2)).item() == pytest.approx(
        0.0, abs=1e-6
    )
    # a mask leaves pixels out of both sums: the one ink pixel masked, p = 0.5 on the other three -> 1 / 2.5
    prob, onehot = torch.full((1, 1, 2, 2), 0.5), target.unsqueeze(1).float()
    mask = torch.tensor([[[[0.0, 1], [1, 1]]]])
    assert soft_dice(prob, onehot, mask).item() == pytest.approx(1 - 1 / 2.5)
    assert soft_dice(prob, onehot).item() == pytest.approx(dice_loss(logits, target).item())
    # over the batch, an empty second target only adds its predictions: (2 * 0.5 + 1) / (4 + 1 + 1)
    pair, targets = torch.full((2, 1, 2, 2), 0.5), torch.cat([onehot, torch.zeros_like(onehot)])
    assert soft_dice(pair, targets, per_image=False).item() == pytest.approx(1 - 2 / 6)
    assert soft_dice(pair, targets).item() == pytest.approx(((1 - 2 / 4) + (1 - 1 / 3)) / 2)
    with pytest.raises(ValueError, match="N x H x W"):
        dice_loss(logits, target[0])
    with pytest.raises(ValueError, match="weights"):
        SegmentationLoss(ce_weight=0.0, dice_weight=0.0)


# ---------------------------------------------------------------------------------------------- models


def test_models_return_logits_at_input_size():
    net = unet(
        "mobilenetv3_small_050", in_channels=1, classes=2, encoder_depth=4, decoder_channels=[16, 16, 8, 8]
    )
    assert net(torch.rand(2, 1, 50, 70)).shape == (2, 2, 50, 70)  # padded to /16 inside, cropped back
    # the FPN predicts at a quarter of the input: ceil(50 / 4) x ceil(70 / 4) cells
    quarter = fpn("resnet10t", in_channels=1, classes=2, pyramid_channels=16, segmentation_channels=32)
    assert quarter.output_stride == 4 and quarter(torch.rand(2, 1, 50, 70)).shape == (2, 2, 13, 18)
    full = fpn("resnet10t", in_channels=1, pyramid_channels=16, segmentation_channels=32, output_stride=1)
    assert full(torch.rand(1, 1, 50, 70)).shape == (1, 1, 50, 70)
    with pytest.raises(ValueError, match="output_stride"):
        fpn("resnet10t", output_stride=8)
    with pytest.raises(ValueError, match="multiple of 32"):
        fpn("resnet10t", segmentation_channels=8)
    lab = deeplabv3("mobilenet_v3_large", in_channels=1, classes=1).eval()
    assert lab(torch.rand(1, 1, 45, 61)).shape == (1, 1, 45, 61)  # dict output unwrapped, grey repeated
    with pytest.raises(ValueError, match="input channels"):
        lab(torch.rand(1, 3, 45, 61))
    with pytest.raises(ValueError, match="backbone"):
        deeplabv3("vgg16")


def test_deeplab_batchnorm_momentum_tracks_from_scratch_weights():
    """torchvision's MobileNetV3 BatchNorm momentum (0.01) left eval-mode predictions empty after CPU-sized
    training; the builder sets every BatchNorm layer's momentum (0.1 by default, None keeps torchvision's)."""
    norms = lambda net: [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]  # noqa: E731
    assert {m.momentum for m in norms(deeplabv3("mobilenet_v3_large"))} == {0.1}
    assert 0.01 in {m.momentum for m in norms(deeplabv3("mobilenet_v3_large", bn_momentum=None))}
    with pytest.raises(ValueError, match="bn_momentum"):
        deeplabv3("mobilenet_v3_large", bn_momentum=0.0)


# ---------------------------------------------------------------------------------------------- data


def test_cut_region_places_windows_around_the_box():
    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:8, 10:20] = 1
    region = cut_region(image, mask, (10, 5, 20, 8), (8, 12), "r")
    # centres from (y 5..7, x 10..19): corners (1..3, 4..13) of the page -> 3 x 10 choices
    assert region.corner_max == (2, 9)
    first = region.image[0:8, 0:12]
    np.testing.assert_array_equal(first, image[1:9, 4:16])
    # a box at the page corner pads with white paper and an empty mask
    edge = cut_region(image, mask, (0, 0, 1, 1), (8, 12), "e")
    assert edge.image.shape[:2] == (8, 12) and edge.image[0, 0, 0] == 255 and edge.mask[0, 0] == 0
    np.testing.assert_array_equal(edge.image[4:, 6:], image[:4, :6])


def test_datamodule_crops_and_pages(layout):
    assert len(find_pages(layout, "training")) == 10
    with pytest.raises(ValueError, match="L7"):
        find_pages(layout, "training", ["L7"])
    dm = SegmentationDataModule(lambda: layout, crop_size=CROP, val_fraction=0.2, batch_size=4, seed=3)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set)) == (16, 4)  # 8 / 2 pages x (1 signature + 1 negative)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (4, 3, *CROP)
    assert batch["mask"].dtype == torch.uint8 and batch["mask"].shape == (4, *CROP)
    assert set(batch["mask"].unique().tolist()) <= {0, 1}
    # validation crops are centred on the signature: every one has ink, and the same each time
    sig = [dm.val_set[i] for i in range(len(dm.val_set)) if "#" in dm.val_set[i]["name"]]
    assert sig and all(s["mask"].sum() > 20 for s in sig)
    assert torch.equal(dm.val_set[0]["image"], dm.val_set[0]["image"])
    # pages mode: resized by long side, padded to a square
    pages = SegmentationDataModule(layout, mode="pages", long_side=96, val_fraction=0.2, seed=3)
    pages.setup("fit")
    item = pages.train_set[0]
    assert item["image"].shape == (3, 96, 96) and item["mask"].shape == (96, 96)
    assert item["image"][:, -1, 0].tolist() == [255, 255, 255]  # white padding below the page
    with pytest.raises(ValueError, match="long_side"):
        SegmentationDataModule(layout, mode="pages")


# ---------------------------------------------------------------------------------------------- task


def test_poly_schedule_steps_per_iteration():
    from functools import partial

    net = unet("mobilenetv3_small_050", encoder_depth=4, decoder_channels=[8, 8, 8, 8])
    sched = partial(torch.optim.lr_scheduler.PolynomialLR, total_iters=3, power=0.9)
    task = SegmentationTask(net, 1, partial(torch.optim.Adam, lr=0.1), sched, scheduler_interval="step")

    class FakeTrainer:
        estimated_stepping_batches = 40

    task._trainer = FakeTrainer()
    conf = task.configure_optimizers()
    assert conf["lr_scheduler"]["interval"] == "step"
    assert conf["lr_scheduler"]["scheduler"].total_iters == 40  # the run's steps, not the config's epochs
    with pytest.raises(ValueError, match="classes"):
        SegmentationTask(net, 2, partial(torch.optim.Adam))


SEGMENTATION_EXPERIMENTS = [
    "aossig_segmentation_deeplabv3",
    "aossig_segmentation_unet",
    "aossig_segmentation_deeplabv3_cpu",
    "aossig_segmentation_unet_cpu",
]


@pytest.mark.parametrize("name", SEGMENTATION_EXPERIMENTS)
def test_experiments_follow_the_aossig_recipe(name, tmp_path):
    cfg = compose_train([f"experiment={name}"], tmp_path)
    check(cfg)
    assert list(cfg.data.crop_size) == [128, 256] and cfg.optimizer.lr == pytest.approx(8e-4)
    assert cfg.optimizer._target_ == "torch.optim.Adam"
    assert cfg.scheduler._target_ == "torch.optim.lr_scheduler.PolynomialLR"
    assert cfg.task.scheduler_interval == "step"
    assert (cfg.callbacks.model_checkpoint.monitor, cfg.callbacks.model_checkpoint.mode) == (
        "val/f_iou_ink",
        "max",
    )


def test_config_typo_fails_at_start_up(tmp_path):
    from sigbench.runner.validation import ConfigError

    cfg = compose_train(["experiment=aossig_segmentation_unet_cpu", "+data.crop_sise=[1,2]"], tmp_path)
    with pytest.raises(ConfigError, match="crop_sise"):
        check(cfg)


def crop_scores(task: SegmentationTask, dataset: CropDataset) -> dict[str, float]:
    task.eval()
    rows = []
    for i in range(len(dataset)):
        item = dataset[i]
        pred = task.predict_masks(item["image"][None])[0].numpy()
        rows.append(mask_scores(item["mask"].numpy(), pred))
    return summarize(rows)


TINY = [
    "model.encoder=mobilenetv3_small_050",
    "model.encoder_depth=3",
    "model.decoder_channels=[16,16,16]",
    f"data.crop_size=[{CROP[0]},{CROP[1]}]",
    "data.val_fraction=0.2",
    "data.batch_size=4",
    "data.augmentation=null",
    "optimizer.lr=0.01",
    "trainer.max_epochs=12",
    "+trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
    "~callbacks.progress_bar",
]


def test_tiny_unet_learns_and_segments_a_folder(layout, tmp_path):
    from sigbench.runner.segment import segment
    from sigbench.runner.train import train

    cfg = compose_train(
        ["experiment=aossig_segmentation_unet_cpu", *TINY, f"data.source={layout}"],
        tmp_path,
        tmp_path / "cache",
    )
    check(cfg)
    assert cfg.callbacks.model_checkpoint.monitor == "val/f_iou_ink"
    dm = build_data(cfg)
    train_crops = CropDataset(dm.train_set.regions, dm.crop_size, jitter=False)
    torch.manual_seed(cfg.seed)
    before = crop_scores(build_task(cfg, num_classes=dm.num_classes), train_crops)
    metrics = train(cfg)
    assert {"val/f_iou", "val/f_iou_ink", "val/f_score", "val/mssim", "train/loss"} <= set(metrics)
    assert metrics["val/f_iou_ink"] > 0.3, metrics  # signatures found on held-out pages, not just blanks
    task, _ = load_task(tmp_path / "checkpoints" / "last.ckpt")
    after = crop_scores(task, train_crops)
    assert after["f_iou"] > before["f_iou"] + 0.3, (before, after)
    assert after["f_iou"] > 0.6 and after["f_score"] > 0.7, after
    # the CLI path: a folder of test pages in, 0/255 masks out (same size), scored against ground truth
    test_pages = layout / "L1" / "data" / "test"
    register_schemas()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        seg_cfg = compose(
            "segment",
            overrides=[
                f"ckpt={tmp_path / 'checkpoints' / 'last.ckpt'}",
                f"input={test_pages}",
                f"output={tmp_path / 'masks'}",
                f"gt={layout / 'L1' / 'anno_mask' / 'test'}",
                "overlays=true",
                "tile=96",
                "overlap=16",
                "batch_size=3",
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}",
            ],
        )
    scores = segment(seg_cfg)
    written = sorted((tmp_path / "masks").glob("*.png"))
    assert [p.stem for p in written] == sorted(p.stem for p in test_pages.glob("*.jpg"))
    raw = cv2.imread(str(written[0]), cv2.IMREAD_UNCHANGED)
    assert raw.shape == PAGE and set(np.unique(raw)) <= {0, 255}
    assert len(list((tmp_path / "masks" / "overlays").glob("*.jpg"))) == len(written)
    assert scores == pytest.approx(
        {
            k: v
            for k, v in evaluate_masks(layout / "L1" / "anno_mask" / "test", tmp_path / "masks").items()
            if k in scores
        }
    )
    assert scores["f_iou"] > 0.5, scores  # whole pages, tiled, with printed text the model must ignore
    assert read_mask(written[0]).any()
