"""Every tool reads a file to the same pixels, checks its inputs before writing, and never reads its outputs.

The tools run for real (``sigbench.runner.detect.detect``, ``...segment.segment``, ``...clean.clean``,
``prepare_dataset`` and the dataset cache that ``sigbench-embed`` / ``-train`` load through); only the
networks are replaced by stand-ins that record the pixels they are given (detect, segment) or return them
(clean), so what each tool read can be compared exactly.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image, ImageOps

import sigbench.detection.data
import sigbench.images
import sigbench.segmentation.data
from sigbench.data.cache import load_or_prepare
from sigbench.data.datasets import FolderAdapter
from sigbench.data.formats import load_dataset
from sigbench.data.prepare import BadFilesError, prepare_dataset
from sigbench.data.preprocess import load_grayscale, preprocess_signature
from sigbench.images import SKIPPED_FILE, BadInputsError
from sigbench.runner import clean as clean_runner
from sigbench.runner import detect as detect_runner
from sigbench.runner import segment as segment_runner
from tests.helpers import header_only_png

H, W = 40, 64
CANVAS = (80, 120)
IMG_SIZE = (40, 60)


# ------------------------------------------------------------------------------------------ the files


def _scan(seed: int) -> np.ndarray:
    """A small RGB scan: light, slightly coloured paper with a dark stroke (so preprocessing finds ink)."""
    rng = np.random.default_rng(seed)
    page = rng.integers(215, 256, (H, W, 3)).astype(np.uint8)
    cv2.line(page, (6, 30), (56, 8), (20, 30, 60), 3)
    return page


def _on_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.rint(colour * a + 255.0 * (1.0 - a)).astype(np.uint8)


def make_files(folder: Path) -> dict[str, np.ndarray]:
    """One file of each kind in ``folder``; returns ``{file name: the upright RGB page it must read as}``."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(7)

    page = _scan(1)
    alpha = rng.integers(0, 256, (H, W)).astype(np.uint8)
    alpha[0, :5] = 0
    Image.fromarray(np.dstack([page, alpha]), "RGBA").save(folder / "rgba.png")
    expected["rgba.png"] = _on_white(page, alpha)

    grey = _scan(2)[:, :, 0]
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(folder / "la.png")
    expected["la.png"] = np.repeat(_on_white(grey[..., None], alpha), 3, axis=2)

    upright = _scan(3)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: the file holds the page turned anticlockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(folder / "turned.png", exif=exif)
    expected["turned.png"] = upright

    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(
        folder / "phone.jpg", exif=exif, quality=95
    )
    with Image.open(folder / "phone.jpg") as image:  # lossy: the reference is Pillow's own upright decode
        expected["phone.jpg"] = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))

    grey16 = rng.integers(0, 65536, (H, W)).astype(np.uint16)
    grey16[:, 10:14] = 3000  # ink
    Image.fromarray(grey16).save(folder / "grey16.png")
    expected["grey16.png"] = np.repeat(np.rint(grey16 * 255.0 / 65535).astype(np.uint8)[..., None], 3, axis=2)

    colour16 = (_scan(4).astype(np.uint16) * 257 + rng.integers(0, 257, (H, W, 3))).astype(np.uint16)
    cv2.imwrite(str(folder / "colour16.tif"), colour16[:, :, ::-1])
    expected["colour16.tif"] = np.rint(colour16 * 255.0 / 65535).astype(np.uint8)
    return expected


# ----------------------------------------------------------------------------------------- stand-ins


class RecordingDetector(torch.nn.Module):
    """Reports one box over the whole page and keeps every input image it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.classes = ["signature"]
        self.seen: list[np.ndarray] = []

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        self.seen += [im.permute(1, 2, 0).numpy().copy() for im in images]
        box = torch.tensor([[0.0, 0.0, 1e6, 1e6]])
        return [{"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([0])} for _ in images]


class RecordingSegmenter(torch.nn.Module):
    """Ink probability = darkness of the tile; keeps every tile it was given."""

    threshold = 0.5

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray] = []

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        self.seen += [t.permute(1, 2, 0).numpy().copy() for t in batch]
        return 1.0 - batch.float().mean(dim=1) / 255.0

    def foreground_probability(self, out: torch.Tensor) -> torch.Tensor:
        return out


@pytest.fixture
def fake_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    detector, segmenter = RecordingDetector(), RecordingSegmenter()

    class DetectionTask:
        pass

    task = DetectionTask()
    task.detector = detector
    monkeypatch.setattr(detect_runner, "load_task", lambda *a, **k: (task, {"data": {}}))
    monkeypatch.setattr(segment_runner, "load_task", lambda *a, **k: (segmenter, {"data": {"mode": "crops"}}))
    monkeypatch.setattr(clean_runner, "load_cleaner", lambda *a, **k: torch.nn.Identity())
    ckpt = tmp_path / "stand_in.ckpt"
    ckpt.write_bytes(b"")
    return {"detector": detector, "segmenter": segmenter, "ckpt": str(ckpt)}


def run_detect(ckpt: str, source: Path, output: Path, **extra: object) -> dict:
    cfg = {
        "ckpt": ckpt,
        "input": str(source),
        "output": str(output),
        "gt": None,
        "batch_size": 2,
        "device": "cpu",
        "dpi": 50,
        "long_side": 0,
        "tile_size": None,
        "tile_overlap": None,
        "score_threshold": 0.5,
        "crops": True,
        "annotated": True,
        **extra,
    }
    return detect_runner.detect(OmegaConf.create(cfg))


def run_segment(ckpt: str, source: Path, output: Path, **extra: object) -> dict:
    cfg = {
        "ckpt": ckpt,
        "input": str(source),
        "output": str(output),
        "gt": None,
        "overlays": False,
        "tile": 128,
        "overlap": 16,
        "long_side": None,
        "threshold": None,
        "batch_size": 2,
        "device": "cpu",
        "dpi": 50,
        **extra,
    }
    return segment_runner.segment(OmegaConf.create(cfg))


def run_clean(ckpt: str, source: Path, output: Path, **extra: object) -> dict:
    cfg = {"ckpt": ckpt, "input": str(source), "output": str(output), "invert": "false", "batch_size": 2}
    return clean_runner.clean(OmegaConf.create({**cfg, "device": "cpu", **extra}))


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


# -------------------------------------------------------------------------------------- same pixels


def test_every_tool_reads_each_kind_of_file_to_the_same_pixels(tmp_path: Path, fake_models: dict) -> None:
    source = tmp_path / "scans"
    expected = make_files(source)
    names = sorted(expected)
    transparent = expected["rgba.png"][0, :5]
    assert (transparent == 255).all(), "a transparent pixel is white paper"

    run_detect(fake_models["ckpt"], source, tmp_path / "det")
    detected = dict(zip(names, fake_models["detector"].seen, strict=True))
    run_segment(fake_models["ckpt"], source, tmp_path / "seg")
    tiles = dict(zip(names, fake_models["segmenter"].seen, strict=True))
    run_clean(fake_models["ckpt"], source, tmp_path / "clean")
    for name in names:
        page = expected[name]
        np.testing.assert_array_equal(detected[name], page, err_msg=f"detect: {name}")
        crop = cv2.cvtColor(
            cv2.imread(str(tmp_path / "det" / "crops" / f"{Path(name).stem}_0.png")), cv2.COLOR_BGR2RGB
        )
        np.testing.assert_array_equal(crop, page, err_msg=f"detect crop: {name}")
        np.testing.assert_array_equal(tiles[name][:H, :W], page, err_msg=f"segment: {name}")
        mask = cv2.imread(str(tmp_path / "seg" / f"{Path(name).stem}.png"), cv2.IMREAD_GRAYSCALE)
        darkness = 1.0 - torch.from_numpy(page.copy()).float().mean(dim=2) / 255.0
        np.testing.assert_array_equal(mask > 0, (darkness > 0.5).numpy(), err_msg=f"segment mask: {name}")
        cleaned = cv2.imread(str(tmp_path / "clean" / f"{Path(name).stem}.png"), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(cleaned, _grey(page), err_msg=f"clean: {name}")
        np.testing.assert_array_equal(
            load_grayscale(source / name), _grey(page), err_msg=f"preprocess: {name}"
        )
    # training data of detection and segmentation read with the same function
    assert sigbench.detection.data.read_rgb is sigbench.images.read_rgb
    assert sigbench.segmentation.data.read_rgb is sigbench.images.read_rgb


def test_prepare_and_the_dataset_cache_read_the_same_pixels(tmp_path: Path) -> None:
    """``sigbench-prepare`` and the cache ``sigbench-embed`` / ``-train`` load through store the same
    images, each the reference preprocessing of the page's grey pixels."""
    expected = make_files(tmp_path / "data" / "w1")
    renamed = {}
    for name, page in expected.items():
        target = tmp_path / "data" / "w1" / f"G_{name}"
        (tmp_path / "data" / "w1" / name).rename(target)
        renamed[f"w1/{target.name}"] = page
    adapter = FolderAdapter(tmp_path / "data", genuine="G_*", canvas_size=CANVAS)
    prepare_dataset(adapter, tmp_path / "prepared.npz", img_size=IMG_SIZE, workers=0, progress=False)
    prepared = load_dataset(tmp_path / "prepared.npz")
    cached = load_or_prepare(adapter, tmp_path / "cache", img_size=IMG_SIZE, workers=0)
    assert sorted(prepared.filenames) == sorted(renamed)
    for row, name in enumerate(prepared.filenames):
        reference = preprocess_signature(_grey(renamed[str(name)]), CANVAS, IMG_SIZE, input_size=None)
        np.testing.assert_array_equal(prepared.x[row, 0], reference, err_msg=str(name))
        np.testing.assert_array_equal(cached.x[list(cached.filenames).index(name), 0], reference)


# ------------------------------------------------------------------------ pages, limits, bad inputs


def _two_page_tiff(path: Path) -> list[np.ndarray]:
    pages = [_scan(5), _scan(6)[:30]]
    Image.fromarray(pages[0]).save(path, save_all=True, append_images=[Image.fromarray(pages[1])])
    return pages


def test_multi_page_tiff_gives_every_page_or_a_clear_refusal(tmp_path: Path, fake_models: dict) -> None:
    source = tmp_path / "scans"
    source.mkdir()
    pages = _two_page_tiff(source / "two.tif")
    result = run_detect(fake_models["ckpt"], source, tmp_path / "det")
    assert result["pages"] == 2
    assert sorted(p.name for p in (tmp_path / "det").glob("*.json")) == ["two_p001.json", "two_p002.json"]
    for seen, page in zip(fake_models["detector"].seen, pages, strict=True):
        np.testing.assert_array_equal(seen, page)
    run_segment(fake_models["ckpt"], source, tmp_path / "seg")
    assert sorted(p.name for p in (tmp_path / "seg").glob("*.png")) == ["two_p001.png", "two_p002.png"]
    with pytest.raises(BadInputsError, match=r"two.tif: has 2 pages and this tool takes one image per file"):
        run_clean(fake_models["ckpt"], source, tmp_path / "clean")
    assert not (tmp_path / "clean").exists()
    (tmp_path / "data" / "w1").mkdir(parents=True)
    _two_page_tiff(tmp_path / "data" / "w1" / "G_two.tif")
    Image.fromarray(_scan(7)).save(tmp_path / "data" / "w1" / "G_one.png")
    adapter = FolderAdapter(tmp_path / "data", genuine="G_*", canvas_size=CANVAS)
    with pytest.raises(BadFilesError, match=r"1 file.*\n.*G_two.tif: MultiPageError: .*has 2 pages"):
        prepare_dataset(adapter, tmp_path / "x.npz", img_size=IMG_SIZE, workers=0, progress=False)


def test_oversize_image_is_refused_by_every_tool_before_decoding(tmp_path: Path, fake_models: dict) -> None:
    source = tmp_path / "scans"
    source.mkdir()
    header_only_png(source / "huge.png", 20000, 20000)  # 400 Mpx grey: 400 MB decoded, 25 GB in float copies
    for run in (run_detect, run_segment, run_clean):
        out = tmp_path / run.__name__
        with pytest.raises(BadInputsError, match=r"huge.png: .*decompression-bomb"):
            run(fake_models["ckpt"], source, out)
        assert not out.exists(), f"{run.__name__} wrote nothing"
    header_only_png(source / "huge.png", 11000, 10000)  # 110 Mpx: our limit, with the size in the message
    Image.fromarray(_scan(8)).save(source / "fine.png")
    for run in (run_detect, run_segment, run_clean):
        with pytest.raises(BadInputsError, match=r"huge.png: 11000 x 10000 = 110.0 Mpx is more than"):
            run(fake_models["ckpt"], source, tmp_path / "out")
        with pytest.raises(BadInputsError, match=r"fine.png: 64 x 40 = "):  # the limit is the tool's option
            run(fake_models["ckpt"], source, tmp_path / "out", max_pixels=1000, skip_bad=False)
    with pytest.raises(ValueError, match="max_pixels=-1"):
        run_detect(fake_models["ckpt"], source, tmp_path / "out", max_pixels=-1)
    (tmp_path / "data" / "w1").mkdir(parents=True)
    header_only_png(tmp_path / "data" / "w1" / "G_huge.png", 11000, 10000)
    Image.fromarray(_scan(9)).save(tmp_path / "data" / "w1" / "G_fine.png")
    adapter = FolderAdapter(tmp_path / "data", genuine="G_*", canvas_size=CANVAS)
    with pytest.raises(BadFilesError, match=r"G_huge.png: ImageTooLargeError: .*11000 x 10000"):
        prepare_dataset(adapter, tmp_path / "x.npz", img_size=IMG_SIZE, workers=0, progress=False)


def _bad_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    for k in range(2):
        Image.fromarray(_scan(10 + k)).save(folder / f"good{k}.png")
    (folder / "notes.png").write_bytes(b"not an image at all")
    whole = (folder / "good0.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])  # the header reads, the pixels do not


@pytest.mark.parametrize("tool", ["detect", "segment", "clean"])
def test_unreadable_files_stop_the_run_before_any_output(
    tmp_path: Path, fake_models: dict, tool: str
) -> None:
    run = {"detect": run_detect, "segment": run_segment, "clean": run_clean}[tool]
    source = tmp_path / "scans"
    _bad_folder(source)
    out = tmp_path / "out"
    with pytest.raises(BadInputsError, match=r"(?s)2 input file.*notes.png: .*truncated.png: ") as caught:
        run(fake_models["ckpt"], source, out)
    assert "skip_bad=true" in str(caught.value)
    assert not out.exists(), "nothing written"


@pytest.mark.parametrize("tool", ["detect", "segment", "clean"])
def test_skip_bad_leaves_them_out_and_says_which(
    tmp_path: Path, fake_models: dict, tool: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = {"detect": run_detect, "segment": run_segment, "clean": run_clean}[tool]
    source = tmp_path / "scans"
    _bad_folder(source)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        result = run(fake_models["ckpt"], source, out, skip_bad=True)
    written = sorted(p.stem for p in out.iterdir() if p.suffix == (".json" if tool == "detect" else ".png"))
    assert [w for w in written if w != "skipped"] == ["good0", "good1"]
    skipped = json.loads((out / SKIPPED_FILE).read_text())
    assert skipped["count"] == 2
    assert [Path(f["path"]).name for f in skipped["files"]] == ["notes.png", "truncated.png"]
    assert all(f["reason"] for f in skipped["files"])
    assert "notes.png" in caplog.text and "truncated.png" in caplog.text
    if tool == "detect":
        assert [Path(s["path"]).name for s in result["skipped"]] == ["notes.png", "truncated.png"]
    if tool == "clean":
        assert result["skipped (unreadable)"].startswith("2: notes.png, truncated.png")
    # a later run without bad files removes the stale list
    for name in ("notes.png", "truncated.png"):
        (source / name).unlink()
    run(fake_models["ckpt"], source, out)
    assert not (out / SKIPPED_FILE).exists()


# ----------------------------------------------------------------------------- outputs never inputs


@pytest.mark.parametrize("tool", ["detect", "segment", "clean"])
def test_output_folder_equal_to_the_input_is_refused(tmp_path: Path, fake_models: dict, tool: str) -> None:
    run = {"detect": run_detect, "segment": run_segment, "clean": run_clean}[tool]
    source = tmp_path / "scans"
    source.mkdir()
    Image.fromarray(_scan(12)).save(source / "a.png")
    before = sorted(source.iterdir())
    with pytest.raises(ValueError, match="is the input"):
        run(fake_models["ckpt"], source, source)
    assert sorted(source.iterdir()) == before


def test_outputs_inside_the_input_folder_are_not_read_back(tmp_path: Path, fake_models: dict) -> None:
    source = tmp_path / "scans"
    (source / "sub").mkdir(parents=True)
    Image.fromarray(_scan(13)).save(source / "a.png")
    Image.fromarray(_scan(14)).save(source / "sub" / "b.png")
    out = source / "cleaned"
    first = run_clean(fake_models["ckpt"], source, out)
    second = run_clean(fake_models["ckpt"], source, out)  # the recursive listing would find cleaned/*.png
    assert first["images"] == second["images"] == "2"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "sub/b.png"]
    det = source / "sub"  # detect's output inside its (top-level) input: annotated pages never listed
    for _ in range(2):
        result = run_detect(fake_models["ckpt"], source, det / "results")
        assert result["pages"] == 1


def test_stale_temporaries_in_a_tool_output_are_removed(tmp_path: Path, fake_models: dict) -> None:
    source = tmp_path / "scans"
    source.mkdir()
    Image.fromarray(_scan(15)).save(source / "a.png")
    out = tmp_path / "det"
    (out / "crops").mkdir(parents=True)
    stale = [out / ".a.k2j4_x9q.tmp.json", out / "crops" / ".a_0.abcdefgh.tmp.png"]
    fresh = out / ".a.zzzzzzzz.tmp.txt"
    unrelated = out / ".notes.txt"
    for path in (*stale, fresh, unrelated):
        path.write_bytes(b"left by a killed run")
    hour_ago = time.time() - 3600
    for path in (*stale, unrelated):
        os.utime(path, (hour_ago, hour_ago))
    run_detect(fake_models["ckpt"], source, out)
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and unrelated.exists()
