"""SignVer cleaner: clutter invariants, metrics, a tiny training run, sigbench-clean, downstream EER."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from sigbench.checkpoint_io import CheckpointError
from sigbench.cleaning.apply import clean_image_list, clean_images
from sigbench.cleaning.data import CleaningPairs
from sigbench.cleaning.models import Cleaner, SmallUNet
from sigbench.cleaning.noise import Clutter, add_clutter, clutter_dataset, clutter_layer, line_mask
from sigbench.cleaning.task import CleaningTask
from sigbench.runner.build import build_data, build_task, check
from tests.train_helpers import TINY_SYNTHETIC, compose_train, run_cli

pytestmark = pytest.mark.usefixtures("single_thread")

EVERYTHING = Clutter(line_prob=1.0, word_prob=1.0, stamp_prob=1.0, speckle_prob=1.0, stamp_diameter=(30, 60))
ONLY_LINES = dict(
    line_prob=1.0, word_prob=0.0, stamp_prob=0.0, speckle_prob=0.0, line_dash_prob=0.0, line_max_angle=0.0
)

# the tiny population of tests.train_helpers.TINY_SYNTHETIC (same cache file), cleaner and extractor alike
TINY_DATA = [o for o in TINY_SYNTHETIC if not o.startswith("task.")]
TINY_CLEANER = [
    "experiment=signver_cleaner_cpu",
    *TINY_DATA,
    "data.val_fraction=0.2",
    "data.batch_size=8",
    "data.patch_size=[64,96]",
    "model.net.base_channels=4",
    "model.net.depth=3",
    "trainer.max_epochs=12",
    "optimizer.lr=0.005",
    "trainer.limit_train_batches=null",
    "callbacks.progress_bar=null",
    "trainer.enable_model_summary=false",
    "logger=csv",
]


def signature_like(seed: int, shape: tuple[int, int] = (80, 120)) -> np.ndarray:
    """Strokes with every ink value from faint anti-aliased edges (1) to full ink (255) on a 0 background."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.uint8)
    pts = np.stack([rng.integers(0, shape[1], 12), rng.integers(0, shape[0], 12)], 1).astype(np.int32)
    cv2.polylines(img, [pts], False, 255, thickness=2, lineType=cv2.LINE_AA)
    dots = rng.random(shape) < 0.01
    img[dots] = np.maximum(img[dots], rng.integers(1, 256, size=int(dots.sum())).astype(np.uint8))
    return img


# ------------------------------------------------------------------------------------------- clutter
@pytest.mark.parametrize("threshold", [0, 40])
def test_clutter_never_changes_an_ink_pixel(threshold: int) -> None:
    clutter = Clutter(**{**EVERYTHING.to_dict(), "ink_threshold": threshold})
    for seed in range(25):
        clean = signature_like(seed)
        noisy = add_clutter(clean, np.random.default_rng(seed), clutter)
        ink = clean > threshold
        assert ink.sum() > 50
        np.testing.assert_array_equal(noisy[ink], clean[ink])
        background = ~ink
        assert (noisy[background] != clean[background]).sum() > 20  # clutter was drawn
        assert (noisy >= clean).all()  # clutter only adds


def test_every_clutter_kind_draws_something() -> None:
    kinds = {"line_prob": "lines", "word_prob": "words", "stamp_prob": "stamps", "speckle_prob": "speckle"}
    for prob in kinds:
        only = Clutter(**{**{p: 0.0 for p in kinds}, prob: 1.0})
        assert (clutter_layer((80, 120), np.random.default_rng(3), only) > 0).sum() > 10, kinds[prob]
    none = Clutter(**{p: 0.0 for p in kinds})
    assert not clutter_layer((80, 120), np.random.default_rng(3), none).any()


def test_line_mask_by_hand() -> None:
    np.testing.assert_array_equal(np.flatnonzero(line_mask((10, 8), 2.0, 3).all(1)), [2, 3, 4])
    assert line_mask((10, 8), 2.0, 3).sum() == 3 * 8
    # 45 degrees, centre column 1.5: first rows floor(1 + c - 1.5) = -1, 0, 1, 2 for columns 0..3
    expected = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(line_mask((5, 4), 1.0, 2, angle_deg=45.0), expected)
    dashed = line_mask((4, 8), 0.0, 1, dash=2)
    np.testing.assert_array_equal(dashed[0], [1, 1, 0, 0, 1, 1, 0, 0])


def test_lines_have_the_requested_thickness() -> None:
    seen = set()
    for seed in range(80):
        layer = clutter_layer(
            (60, 50), np.random.default_rng(seed), Clutter(lines=(1, 1), line_thickness=(2, 5), **ONLY_LINES)
        )
        rows = np.flatnonzero(layer.any(1))
        if rows.min() == 0 or rows.max() == 59:
            continue  # clipped at the border
        counts = (layer > 0).sum(0)
        counts = counts[counts > 0]
        assert len(set(counts.tolist())) == 1 and rows.size == counts[0]  # one band, same in every column
        seen.add(int(counts[0]))
    assert seen == {2, 3, 4, 5}


def test_clutter_is_deterministic_by_seed() -> None:
    clean = signature_like(0)
    a = add_clutter(clean, np.random.default_rng(7), EVERYTHING)
    np.testing.assert_array_equal(a, add_clutter(clean, np.random.default_rng(7), EVERYTHING))
    assert (a != add_clutter(clean, np.random.default_rng(8), EVERYTHING)).any()
    x = np.stack([signature_like(s)[None] for s in range(4)])
    whole = clutter_dataset(x, seed=5, clutter=EVERYTHING)
    np.testing.assert_array_equal(whole[[1, 3]], clutter_dataset(x, 5, EVERYTHING, index=np.array([1, 3])))


def test_bad_clutter_config_names_the_key() -> None:
    with pytest.raises(ValueError, match="clutter.line_thickness"):
        Clutter(line_thickness=(9, 1))
    with pytest.raises(ValueError, match="clutter.word_prob"):
        Clutter(word_prob=1.5)


def test_validation_pairs_are_fixed_and_training_pairs_fresh() -> None:
    x = np.stack([signature_like(s, (90, 130))[None] for s in range(3)])
    val = CleaningPairs(x, np.arange(3), (80, 120), EVERYTHING, random=False, seed=1)
    item = val[2]
    np.testing.assert_array_equal(item["noisy"], val[2]["noisy"])  # fixed clutter
    np.testing.assert_array_equal(item["clean"][0], x[2, 0, 5:85, 5:125])  # the centre crop
    other = CleaningPairs(x, np.array([2]), (80, 120), EVERYTHING, random=False, seed=1)[0]
    np.testing.assert_array_equal(other["noisy"], item["noisy"])  # seeded by the row, not the position
    train = CleaningPairs(x, np.arange(3), (80, 120), EVERYTHING, random=True)
    torch.manual_seed(0)
    first, second = train[0], train[0]
    assert (first["noisy"] != second["noisy"]).any()  # fresh clutter (and crop) on every draw
    torch.manual_seed(0)
    np.testing.assert_array_equal(train[0]["noisy"], first["noisy"])  # reproducible from torch's seed
    for pair in (item, first, second):
        ink = pair["clean"] > 0
        assert ink.any() and torch.equal(pair["noisy"][ink], pair["clean"][ink])


# ------------------------------------------------------------------------------------- model, metrics
def test_psnr_metric_equals_the_hand_formula() -> None:
    task = CleaningTask(Cleaner(SmallUNet(base_channels=2, depth=2), pad_multiple=2), 0, torch.optim.Adam)
    pred = torch.tensor([0.1, 0.2, 0.3, 0.4]).reshape(1, 1, 2, 2)
    task.val_psnr.update(pred, torch.zeros_like(pred))
    mse = (0.01 + 0.04 + 0.09 + 0.16) / 4
    assert float(task.val_psnr.compute()) == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)


def test_cleaner_keeps_shape_and_never_adds_ink_in_mask_mode() -> None:
    model = Cleaner(SmallUNet(base_channels=2, depth=3), pad_multiple=4).eval()
    x = torch.rand(2, 1, 37, 53)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and (y <= x + 1e-6).all()
    images = [(np.random.default_rng(i).random((20 + i, 30)) * 255).astype(np.uint8) for i in range(3)]
    listed = clean_image_list(model, images, batch_size=2)  # padded batches: sizes come back
    assert [a.shape for a in listed] == [a.shape for a in images]
    alone = clean_image_list(model, images, batch_size=1)
    for img, out in zip(images, alone, strict=True):
        np.testing.assert_array_equal(out, clean_images(model, img[None], batch_size=1)[0])


# --------------------------------------------------------------------------------- training, CLI, EER
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny cleaner run and a tiny SigNet-thin extractor on the same tiny synthetic population."""
    from sigbench.runner.train import train

    root = tmp_path_factory.mktemp("cleaning")
    cache = root / "cache"
    cfg = compose_train(TINY_CLEANER, root / "cleaner", cache)
    check(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    dm = build_data(cfg)
    untrained = build_task(cfg, num_classes=dm.num_classes)
    metrics = train(cfg)
    extractor_cfg = compose_train(
        [
            "experiment=smoke",
            *TINY_DATA,
            "task.holdout_references=2",
            "callbacks.progress_bar=null",
            "logger=csv",
        ],
        root / "extractor",
        cache,
    )
    train(extractor_cfg)
    return {
        "cfg": cfg,
        "dm": dm,
        "untrained": untrained.eval(),
        "metrics": metrics,
        "cleaner": root / "cleaner" / "checkpoints" / "last.ckpt",
        "extractor": root / "extractor" / "checkpoints" / "last.ckpt",
        "cache": cache,
        "root": root,
    }


def _psnr_on(model: torch.nn.Module, pairs: CleaningPairs) -> float:
    noisy = np.stack([pairs[i]["noisy"].numpy() for i in range(len(pairs))])
    clean = np.stack([pairs[i]["clean"].numpy() for i in range(len(pairs))]).astype(np.float64) / 255
    out = clean_images(model, noisy, batch_size=8).astype(np.float64) / 255
    return 10 * math.log10(1 / float(np.mean((out - clean) ** 2)))


def test_tiny_cleaning_run_improves_psnr_on_its_training_pairs(trained: dict) -> None:
    from sigbench.runner.clean import load_cleaner

    dm = trained["dm"]
    pairs = CleaningPairs(dm.split.load().x, dm.train_index, dm.input_size, dm.clutter, random=False, seed=9)
    before = _psnr_on(trained["untrained"].backbone, pairs)
    after = _psnr_on(load_cleaner(trained["cleaner"]), pairs)
    print(f"PSNR untrained {before:.2f} dB, trained {after:.2f} dB")
    assert after > before + 0.5, (before, after)
    assert trained["metrics"]["val/psnr"] > trained["metrics"]["val/psnr_noisy"]
    assert {"val/ssim", "val/ssim_noisy", "train/loss"} <= set(trained["metrics"])


def test_sigbench_clean_on_a_folder(trained: dict, tmp_path: Path) -> None:
    from sigbench.runner.clean import clean, clean_files, load_cleaner
    from sigbench.runner.validation import ConfigError

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    noisy = [add_clutter(signature_like(s, (90, 130 + 10 * s)), np.random.default_rng(s)) for s in range(3)]
    cv2.imwrite(str(src / "a.png"), noisy[0])
    cv2.imwrite(str(src / "b.png"), 255 - noisy[1])  # dark ink on paper: inverted and back
    cv2.imwrite(str(src / "sub" / "c.png"), noisy[2])
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    args = ["sigbench-clean", f"ckpt={trained['cleaner']}", f"input={src}", f"output={out}", "batch_size=2"]
    result = run_cli([*args, f"hydra.run.dir={tmp_path / 'run'}", "device=cpu"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = clean_image_list(load_cleaner(trained["cleaner"]), noisy, batch_size=2)
    np.testing.assert_array_equal(cv2.imread(str(out / "a.png"), 0), expected[0])
    np.testing.assert_array_equal(cv2.imread(str(out / "b.png"), 0), 255 - expected[1])
    np.testing.assert_array_equal(cv2.imread(str(out / "sub" / "c.png"), 0), expected[2])
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.png", "b.png", "c.png"]
    # invert=false (as Hydra passes it: "False") cleans the light-paper image as it is
    model = load_cleaner(trained["cleaner"])
    (written,) = clean_files(model, [src / "b.png"], src, tmp_path / "raw", invert="False")
    raw = clean_image_list(model, [255 - noisy[1]])[0]
    np.testing.assert_array_equal(cv2.imread(str(written), 0), raw)
    with pytest.raises(
        CheckpointError, match="holds a feature-extractor checkpoint .*needs a cleaning checkpoint"
    ):
        load_cleaner(trained["extractor"])
    with pytest.raises(ConfigError, match="is the input"):
        clean(OmegaConf.create({"input": str(src), "output": str(src), "ckpt": str(trained["cleaner"])}))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("distance", ["protocol.options.gen_for_ref=3", "protocol.options.gen_for_test=3"]),
        (
            "wd",
            [
                "protocol.options.gen_for_train=3",
                "protocol.options.gen_for_test=3",
                "protocol.options.forg_from_dev=3",
                "protocol.n_jobs=1",
            ],
        ),
    ],
)
def test_downstream_eer_three_arms(trained: dict, tmp_path: Path, name: str, options: list[str]) -> None:
    """``sigbench-clean mode=downstream`` from the composed config; the clean arm equals sigbench-eval's."""
    from hydra import compose, initialize_config_dir

    from sigbench.runner.clean import run
    from sigbench.runner.conf import conf_dir
    from sigbench.runner.evaluate import evaluate_checkpoint
    from sigbench.runner.schema import register_schemas

    register_schemas()
    overrides = [
        "mode=downstream",
        f"ckpt={trained['cleaner']}",
        f"extractor={trained['extractor']}",
        f"protocol={name}",
        "protocol.folds=2",
        *options,
        "batch_size=16",
        f"paths.root_dir={tmp_path}",
        f"paths.output_dir={tmp_path / 'down'}",
        f"paths.cache_dir={trained['cache']}",
    ]
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("clean", overrides=overrides)
    result = run(cfg)
    assert set(result["arms"]) == {"clean", "cluttered", "cleaned"}
    for arm in result["arms"].values():
        assert 0.0 <= arm["EER"] <= 1.0
    protocol = OmegaConf.to_container(cfg.protocol, resolve=True)
    reference = evaluate_checkpoint(
        trained["extractor"], {name: protocol}, tmp_path / "eval", cache_dir=trained["cache"]
    )
    assert result["arms"]["clean"] == {
        k: v["mean"] for k, v in reference[name]["metrics"].items() if k in result["arms"]["clean"]
    }
    # exploitation: held-out writers 4, 5 (cluttered); development: training writers 0..3, as in eval
    assert result["exp_users"] == 2 and result["dev_users"] == 4 and result["samples"] == 2 * 7
    assert result["clutter"] == trained["dm"].clutter.to_dict()  # default: the cleaner's training clutter
    assert result["psnr"]["cleaned"] > result["psnr"]["cluttered"]
    assert json.loads((tmp_path / "down" / "results.json").read_text())["arms"] == result["arms"]
    assert (tmp_path / "down" / "cluttered" / name / "results.json").exists()


@pytest.mark.parametrize("experiment", ["signver_cleaner", "signver_cleaner_cpu"])
def test_cleaner_experiments_compose_and_their_model_runs_at_the_extractor_size(
    experiment: str, tmp_path: Path
) -> None:
    from hydra.utils import instantiate

    cfg = compose_train([f"experiment={experiment}"], tmp_path, tmp_path / "cache")
    check(cfg)
    assert (
        cfg.callbacks.model_checkpoint.monitor == "val/psnr" and cfg.callbacks.model_checkpoint.mode == "max"
    )
    model = instantiate(cfg.model).eval()
    x = torch.rand(1, 1, *cfg.data.input_size)
    with torch.no_grad():
        assert model(x).shape == x.shape
