"""Signature sources for synthesised pages: raw scans of real sets read as they are on disk, mixtures drawn at
their weights and deterministic from the page's generator, Tobacco800 refused, recipes' real-ink mixture."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from PIL import Image

from sigbench.documents.sources import (
    FolderSource,
    MixtureSource,
    ScanSource,
    SignatureSample,
    SyntheticSource,
    make_source,
)
from sigbench.documents.synthesize import synth_config
from tests.helpers import SHARED_DATA
from tests.train_helpers import compose_train

BHSIG = SHARED_DATA / "bhsig260_bengali"
KAGGLE = SHARED_DATA / "kaggle_sign_data"


class LabelSource:
    """A source that returns one fixed image named after itself: which component a mixture drew."""

    def __init__(self, label: str) -> None:
        self.label = label

    def sample(self, rng: np.random.Generator) -> SignatureSample:
        image = np.full((4, 8), 255, np.uint8)
        image[1:3, 1:7] = int(rng.integers(0, 100))  # uses the generator, as every source does
        return SignatureSample(image, self.label, self.label)

    def config(self) -> dict[str, Any]:
        return {"kind": "label", "label": self.label}


def write_scans(root: Path, writers: int = 3, per_writer: int = 2) -> list[Path]:
    """A tiny BHSig-like folder: ``<w>/B-S-<w>-G-<nn>.png`` genuine, one forgery each, dark ink on white."""
    rng = np.random.default_rng(0)
    paths = []
    for w in range(1, writers + 1):
        for kind, count in (("G", per_writer), ("F", 1)):
            for n in range(1, count + 1):
                image = np.full((40, 90), 255, np.uint8)
                x, y = int(rng.integers(5, 30)), int(rng.integers(5, 15))
                stroke = np.zeros((12, 40), bool)  # a zigzag stroke away from the borders
                stroke[(np.abs(np.arange(40) % 12 - 6) + np.arange(40) // 40), np.arange(40)] = True
                image[y : y + 12, x : x + 40][stroke] = rng.integers(0, 60, int(stroke.sum()))
                path = root / str(w) / f"B-S-{w}-{kind}-{n:02d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(path)
                paths.append(path)
    return paths


def located(file_pixels: np.ndarray, sample: np.ndarray) -> tuple[int, int]:
    """Where ``sample`` sits in ``file_pixels`` exactly (asserts there is such a place)."""
    assert sample.shape[0] <= file_pixels.shape[0] and sample.shape[1] <= file_pixels.shape[1]
    scores = cv2.matchTemplate(file_pixels.astype(np.float32), sample.astype(np.float32), cv2.TM_SQDIFF)
    y, x = (int(v) for v in np.unravel_index(int(scores.argmin()), scores.shape))  # float sums: a candidate
    h, w = sample.shape
    assert np.array_equal(file_pixels[y : y + h, x : x + w], sample), "the sample is not a window of the file"
    return x, y


# ------------------------------------------------------------------------------------------ scans


def test_scan_source_returns_the_files_own_pixels_cropped_to_the_ink(tmp_path: Path) -> None:
    paths = write_scans(tmp_path / "set")
    source = ScanSource(tmp_path / "set", adapter="bhsig260_bengali")
    assert len(source.files) == 6  # genuine only: the three forgeries are left out
    by_stem = {p.stem: p for p in paths}
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(12):
        sample = source.sample(rng)
        stem = sample.name.split("/")[-1]
        assert "-G-" in stem and sample.writer == f"set-{stem.split('-')[2]}"
        original = np.asarray(Image.open(by_stem[stem]).convert("L"))
        assert sample.image.dtype == np.uint8 and sample.image.ndim == 2
        x, y = located(original, sample.image)
        h, w = sample.image.shape
        outside = original.copy()
        outside[y : y + h, x : x + w] = 255
        assert (outside == 255).all()  # every ink pixel of the file is in the sample
        assert h < original.shape[0] and w < original.shape[1]  # and the paper around it was cropped
        assert sample.image[0].min() == 255 and np.median(sample.image) == 255  # dark on light
        seen.add(stem)
    assert len(seen) > 2
    with_forgeries = ScanSource(tmp_path / "set", adapter="bhsig260_bengali", include_forgeries=True)
    assert len(with_forgeries.files) == 9


@pytest.mark.skipif(not (BHSIG.is_dir() and KAGGLE.is_dir()), reason="../shared/data BHSig / Kaggle absent")
@pytest.mark.parametrize(("root", "adapter"), [(BHSIG, "bhsig260_bengali"), (KAGGLE, "sigcomp2011")])
def test_real_scans_come_back_as_the_file_reads(root: Path, adapter: str) -> None:
    source = ScanSource(root, adapter=adapter)
    by_stem = {Path(f).stem: Path(f) for f in source.files}
    rng = np.random.default_rng(0)
    for _ in range(4):
        sample = source.sample(rng)
        original = np.asarray(Image.open(by_stem[sample.name.split("/")[-1]]).convert("L"))
        located(original, sample.image)
        paper = float(np.median(sample.image))
        ink = sample.image < paper - 60
        assert paper > 200 and 0.005 < ink.mean() < 0.5  # a minority of dark strokes on light paper


def test_scan_source_refuses_missing_empty_and_held_out_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        ScanSource(tmp_path / "nowhere", adapter="bhsig260_bengali")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no genuine signatures under"):
        ScanSource(tmp_path / "empty", adapter="bhsig260_bengali")
    write_scans(tmp_path / "tobacco800_dev" / "crops")
    for make in (
        lambda: ScanSource(tmp_path / "tobacco800_dev" / "crops", adapter="bhsig260_bengali"),
        lambda: FolderSource(tmp_path / "tobacco800_dev" / "crops"),
        lambda: make_source({"scans": str(tmp_path / "Tobacco800" / "x")}),  # refused before existence
    ):
        with pytest.raises(ValueError, match="Tobacco800 data.*measured on"):
            make()
    (tmp_path / "innocent").symlink_to(tmp_path / "tobacco800_dev" / "crops")  # a link does not hide it
    with pytest.raises(ValueError, match="Tobacco800"):
        ScanSource(tmp_path / "innocent", adapter="bhsig260_bengali")
    manifest = tmp_path / "listed" / "manifest.csv"  # nor does a manifest listing its files
    manifest.parent.mkdir()
    crop = next((tmp_path / "tobacco800_dev" / "crops").rglob("*-G-*.png"))
    manifest.write_text(f"path,writer,label\n{crop},1,genuine\n")
    with pytest.raises(ValueError, match="Tobacco800"):
        ScanSource(manifest.parent, adapter="manifest")


def test_scan_source_config_follows_the_files(tmp_path: Path) -> None:
    paths = write_scans(tmp_path / "set")
    before = ScanSource(tmp_path / "set", adapter="bhsig260_bengali").config()
    assert before["kind"] == "scans" and before["files"] == 6 and before["adapter"] == "bhsig260_bengali"
    genuine = next(p for p in paths if "-G-" in p.name)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(genuine)  # a changed scan
    after = ScanSource(tmp_path / "set", adapter="bhsig260_bengali").config()
    assert after["files_digest"] != before["files_digest"]


# ------------------------------------------------------------------------------------------ mixture


def test_mixture_draws_each_source_at_its_weight() -> None:
    weights = [0.5, 0.3, 0.2, 0.0]
    mixture = MixtureSource([LabelSource(k) for k in "abcd"], weights=[5, 3, 2, 0])  # normalised
    assert mixture.weights == pytest.approx(weights)
    n = 4000
    rng = np.random.default_rng(11)
    drawn = [mixture.sample(rng).writer for _ in range(n)]
    for label, p in zip("abcd", weights, strict=True):
        count = drawn.count(label)
        sd = np.sqrt(n * p * (1 - p))  # binomial
        assert abs(count - n * p) <= 4 * sd, (label, count, n * p, sd)
    assert drawn.count("d") == 0  # a weight of 0 is never drawn


def test_mixture_is_deterministic_picklable_and_describes_itself(tmp_path: Path) -> None:
    write_scans(tmp_path / "set")
    spec = {
        "mixture": {
            "sources": [
                {"synthetic": {"style": "western", "num_writers": 5, "samples_per_writer": 2}},
                {"scans": {"path": str(tmp_path / "set"), "adapter": "bhsig260_bengali"}},
            ],
            "weights": [1, 1],
        }
    }
    mixture = make_source(spec)
    assert isinstance(mixture, MixtureSource) and isinstance(mixture.sources[1], ScanSource)
    copy = pickle.loads(pickle.dumps(mixture))
    draws = [[s.sample(np.random.default_rng(seed)) for seed in range(8)] for s in (mixture, copy, mixture)]
    for a, b in zip(draws[0], draws[1], strict=True):
        assert a.name == b.name and np.array_equal(a.image, b.image)
    assert [a.name for a in draws[0]] == [c.name for c in draws[2]]
    assert {a.name.startswith("set/") for a in draws[0]} == {True, False}  # both components drawn
    other = [mixture.sample(np.random.default_rng(seed)).name for seed in range(100, 108)]
    assert other != [a.name for a in draws[0]]
    config = mixture.config()
    assert config["kind"] == "mixture" and config["weights"] == [0.5, 0.5]
    assert config["sources"][0]["style"] == "western" and config["sources"][1]["kind"] == "scans"
    assert SyntheticSource().config().get("style") is None  # classic keys are unchanged
    as_object = synth_config(2, levels=[6], source=mixture)  # a source built from a _target_ node
    assert as_object["source"] == as_object["source_spec"] == config
    assert json.loads(json.dumps(as_object)) == as_object  # the set's config file can hold it
    assert synth_config(2, levels=[6], source=spec)["source"] == config
    with pytest.raises(FileNotFoundError, match="absent"):  # before any page is made
        synth_config(2, levels=[6], source={"scans": {"path": str(tmp_path / "absent")}})


def test_mixture_rejects_bad_weights() -> None:
    with pytest.raises(ValueError, match="2 weights for 3 sources"):
        MixtureSource([LabelSource("a")] * 3, weights=[1, 1])
    with pytest.raises(ValueError, match="not all 0"):
        MixtureSource([LabelSource("a")], weights=[0])
    with pytest.raises(ValueError, match="non-empty list"):
        MixtureSource([])


# ------------------------------------------------------------------------------------------ recipes


def test_recipe_mixture_instantiates_or_names_the_missing_folder(tmp_path: Path) -> None:
    name = "tobacco_like_detection_fasterrcnn_cpu"
    missing = compose_train([f"experiment={name}", f"paths.shared_data_dir={tmp_path / 'absent'}"], tmp_path)
    with pytest.raises(InstantiationException, match=str(tmp_path / "absent" / "bhsig260_bengali")):
        instantiate(missing.data.source.source)
    for w in ("bhsig260_bengali", "kaggle_sign_data", "sigcomp2009_nisdcc_preview"):
        (tmp_path / "data" / w).mkdir(parents=True)
    write_scans(tmp_path / "data" / "bhsig260_bengali")
    for stem in ("049/01_049", "049/02_049"):
        path = tmp_path / "data" / "kaggle_sign_data" / f"{stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.where(np.eye(20, 40) > 0, 0, 255).astype(np.uint8)).save(path)
    path = tmp_path / "data" / "sigcomp2009_nisdcc_preview" / "data" / "001001_000.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(np.where(np.eye(20, 40) > 0, 0, 255).astype(np.uint8)).save(path)
    cfg = compose_train([f"experiment={name}", f"paths.shared_data_dir={tmp_path / 'data'}"], tmp_path)
    mixture = instantiate(cfg.data.source.source)
    assert isinstance(mixture, MixtureSource) and len(mixture.sources) == 4
    assert isinstance(mixture.sources[0], SyntheticSource) and mixture.sources[0].style == "western"
    assert [len(s.files) for s in mixture.sources[1:]] == [6, 2, 1]
    assert sum(mixture.weights) == pytest.approx(1.0)
