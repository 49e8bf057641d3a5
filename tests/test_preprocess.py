"""Preprocessing: exact parity with the reference algorithm, and the inputs the reference cannot take."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from PIL import Image

from sigbench.data import preprocess
from sigbench.data.preprocess import (
    BlankImageError,
    load_grayscale,
    otsu_threshold,
    preprocess_file,
    preprocess_signature,
)
from tests.sigver_reference import sigver_preprocess


def hand_built_scan(seed: int = 0, shape: tuple[int, int] = (300, 700)) -> np.ndarray:
    """Grey ink strokes of varying darkness on textured, unevenly lit paper."""
    rng = np.random.default_rng(seed)
    h, w = shape
    paper = 225 + 20 * np.linspace(0, 1, w)[None, :] + rng.normal(0, 4, (h, w))
    img = np.clip(paper, 0, 255).astype(np.uint8)
    pts = np.cumsum(rng.normal(0, 12, (40, 2)), axis=0) + np.array([w * 0.4, h * 0.5])
    pts = np.clip(pts, 20, [w - 20, h - 20]).astype(np.int32)
    cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, int(rng.integers(20, 90)), thickness=3)
    cv2.ellipse(img, (int(w * 0.6), int(h * 0.45)), (40, 25), 20, 0, 300, 60, 2)
    # scanners blur: anti-aliased stroke edges, plus sensor noise
    img = cv2.GaussianBlur(img, (5, 5), 1.2).astype(np.float64) + rng.normal(0, 2, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def spanning_scan(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Grey strokes running across ~90% of the scan's width and height, so the ink box is known in advance.

    Paper level, lighting gradient, ink darkness, stroke width, scanner blur and noise all vary; some scans
    get isolated specks (single dark pixels the sigma-2 blur must not count as ink).
    """
    h, w = shape
    paper = rng.uniform(195, 245) + rng.uniform(-15, 15) * np.linspace(0, 1, w)[None, :]
    img = np.clip(paper + rng.normal(0, rng.uniform(1, 5), (h, w)), 0, 255).astype(np.uint8)
    for stroke in range(int(rng.integers(1, 4))):
        n = 30
        span = (0.05, 0.95) if stroke == 0 else tuple(np.sort(rng.uniform(0.05, 0.95, 2)))
        xs = np.linspace(span[0] * w, span[1] * w, n)
        ys = np.clip(h / 2 + np.cumsum(rng.normal(0, h / 12, n)), 0.05 * h, 0.95 * h)
        if stroke == 0:  # the first stroke also reaches the top and bottom margins
            ys[n // 3], ys[2 * n // 3] = 0.05 * h, 0.95 * h
        pts = np.stack([xs, ys], axis=1).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], False, int(rng.integers(10, 120)), int(rng.integers(1, 6)), cv2.LINE_AA)
    if rng.random() < 0.3:
        specks = rng.integers(0, [h, w], size=(5, 2))
        img[specks[:, 0], specks[:, 1]] = 0
    blurred = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.5)).astype(np.float64)
    return np.clip(blurred + rng.normal(0, 2, (h, w)), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ParityCase:
    """A generated scan and the sizes it is normalised with; ``kind`` says which geometry it exercises."""

    kind: str
    seed: int
    shape: tuple[int, int]
    canvas: tuple[int, int]
    img_size: tuple[int, int] = (170, 242)
    input_size: tuple[int, int] | None = (150, 220)

    def scan(self) -> np.ndarray:
        return spanning_scan(np.random.default_rng(self.seed), self.shape)


def parity_cases() -> list[ParityCase]:
    """60 scans: fitting, wide, tall, larger than the canvas (rows, columns, both) and smaller than 170 x 242.

    The ink spans ~90% of each scan, so a canvas under 80% of the scan overflows on that axis for sure.
    """
    rng = np.random.default_rng(2024)
    cases = []
    for i in range(60):
        kind = ("fits", "wide", "tall", "rows overflow", "cols overflow", "both overflow", "upsampled")[i % 7]
        if kind == "wide":
            shape = (int(rng.integers(60, 260)), int(rng.integers(900, 2000)))
            canvas = (shape[0] + int(rng.integers(40, 200)), shape[1] + int(rng.integers(0, 300)))
        elif kind == "tall":
            shape = (int(rng.integers(400, 800)), int(rng.integers(150, 400)))
            canvas = (shape[0] + int(rng.integers(0, 200)), shape[1] + int(rng.integers(50, 200)))
        elif kind == "upsampled":  # canvas under 170 x 242: the resize enlarges, with no prefilter
            shape = (int(rng.integers(80, 200)), int(rng.integers(120, 300)))
            canvas = (int(rng.integers(90, 170)), int(rng.integers(120, 242)))
        else:
            shape = (int(rng.integers(100, 600)), int(rng.integers(200, 1200)))
            canvas = tuple(s + int(rng.integers(0, 400)) for s in shape)
            if kind in ("rows overflow", "both overflow"):
                canvas = (int(shape[0] * rng.uniform(0.3, 0.75)), canvas[1])
            if kind in ("cols overflow", "both overflow"):
                canvas = (canvas[0], int(shape[1] * rng.uniform(0.3, 0.75)))
        sizes = {}
        if i % 10 == 3:
            sizes = {"img_size": (120, 180), "input_size": None}
        elif i % 10 == 8:
            sizes = {"img_size": (128, 128), "input_size": (112, 100)}
        cases.append(ParityCase(kind, seed=10_000 + i, shape=shape, canvas=canvas, **sizes))
    return cases


PARITY_CASES = parity_cases()


@pytest.mark.parametrize("case", PARITY_CASES, ids=lambda c: f"{c.kind}-{c.shape}-in-{c.canvas}")
def test_equals_reference_on_generated_scans(case: ParityCase) -> None:
    scan = case.scan()
    ours = preprocess_signature(scan, case.canvas, case.img_size, case.input_size)
    ref = sigver_preprocess(scan, case.canvas, case.img_size, case.input_size)
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, ref)


def test_parity_cases_reach_every_geometry() -> None:
    """The generated set holds wide and tall canvases, overflow on each axis and an enlarging resize."""
    from skimage import filters

    seen = set()
    for case in PARITY_CASES:
        scan = case.scan()
        ink = filters.gaussian(scan, 2, preserve_range=True) <= filters.threshold_otsu(scan)
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        box = (rows[-1] - rows[0], cols[-1] - cols[0])  # the reference's crop size
        ratio_h, ratio_w = case.canvas[0] / case.img_size[0], case.canvas[1] / case.img_size[1]
        seen.add("wide" if ratio_w > ratio_h else "tall")
        seen.update(axis for axis, b, c in zip(("rows", "cols"), box, case.canvas, strict=True) if b > c)
        seen.update({"fits"} if box[0] <= case.canvas[0] and box[1] <= case.canvas[1] else set())
        seen.update({"upsampled"} if min(ratio_h, ratio_w) < 1 else set())
        seen.update({"no input crop"} if case.input_size is None else set())
    assert len(PARITY_CASES) >= 50
    assert seen == {"wide", "tall", "rows", "cols", "fits", "upsampled", "no input crop"}


def scan_with_flat_patch_at_threshold() -> tuple[np.ndarray, int]:
    """A scan holding, away from the strokes, a flat block whose grey level is the scan's own Otsu level.

    The ink is darkened to 0-65 and the paper lightened to 200 and above; with nothing in between, Otsu's
    level is the darkest class's top level, 65, and a block painted at 65 keeps it there.  The blur of a flat
    block equals its level only up to float rounding, so whether the block is ink (and widens the crop box)
    is decided by the last bits of the blur: the reference's float64 SciPy sum says yes (exactly 65).
    """
    scan = spanning_scan(np.random.default_rng(15), (240, 520)).astype(np.float64)
    scan[:, 400:] = np.maximum(scan[:, 400:], 200)  # keep the right side clear of ink
    scan = np.where(scan < 150, scan * 0.44, np.maximum(scan, 200)).astype(np.uint8)
    level = otsu_threshold(scan)
    scan[150:174, 450:474] = level
    return scan, level


def test_flat_region_at_the_threshold_follows_the_reference(monkeypatch) -> None:
    from skimage import filters

    scan, level = scan_with_flat_patch_at_threshold()
    assert otsu_threshold(scan) == level == 65
    assert (filters.gaussian(scan, 2, preserve_range=True)[158:166, 458:466] == level).all()  # ink, just
    recomputed = []
    exact_blur = preprocess._reference_ink_blur
    monkeypatch.setattr(
        preprocess, "_reference_ink_blur", lambda patch: recomputed.append(patch.shape) or exact_blur(patch)
    )
    ref = sigver_preprocess(scan, (300, 700))
    np.testing.assert_array_equal(preprocess_signature(scan, (300, 700)), ref)
    assert recomputed  # the near-threshold pixels were decided by the exact recomputation
    # the block is in the crop: without it the signature is placed elsewhere on the canvas
    assert not np.array_equal(ref, sigver_preprocess(np.where(scan == level, 230, scan), (300, 700)))


def test_saturated_ink_follows_the_reference(monkeypatch) -> None:
    """Ink clipped to black is flat 255 once inverted: its resized values sit on integers up to rounding."""
    scan = hand_built_scan(0)
    scan[scan < 100] = 0
    recomputed = []
    exact_prefilter = preprocess._reference_prefilter
    monkeypatch.setattr(
        preprocess,
        "_reference_prefilter",
        lambda patch, sigma: recomputed.append(patch.shape) or exact_prefilter(patch, sigma),
    )
    ours = preprocess_signature(scan, (400, 900), input_size=None)
    np.testing.assert_array_equal(ours, sigver_preprocess(scan, (400, 900), input_size=None))
    assert recomputed  # outputs on an integer were taken from the reference's own arithmetic
    assert ours.max() == 255


def test_tiles_cover_every_marked_pixel_and_nothing_twice() -> None:
    mask = np.zeros((150, 200), bool)
    mask[[0, 5, 70, 149], [199, 0, 64, 130]] = True  # the last tile of one row, the first of the next
    mask[100:110, 10:190] = True  # a run across every tile of a row
    boxes = preprocess._tiles_holding(mask, tile=64)
    covered = np.zeros(mask.shape, int)
    for top, bottom, left, right in boxes:
        covered[top:bottom, left:right] += 1
    assert covered.max() == 1 and covered[mask].min() == 1
    # adjacent tiles merge into one box per run, never across rows
    assert sorted(boxes) == [(0, 64, 0, 64), (0, 64, 192, 200), (64, 128, 0, 192), (128, 150, 128, 192)]
    assert preprocess._tiles_holding(np.zeros((5, 5), bool)) == []


def test_equals_reference_on_real_scans(shared_samples) -> None:
    for name in ("a1", "a2", "b1", "b2", "some_signature"):
        gray = load_grayscale(shared_samples / f"{name}.png")
        np.testing.assert_array_equal(preprocess_signature(gray), sigver_preprocess(gray), err_msg=name)
        np.testing.assert_array_equal(
            preprocess_signature(gray, (952, 1360), input_size=None),
            sigver_preprocess(gray, (952, 1360), input_size=None),
            err_msg=name,
        )


def test_output_conventions() -> None:
    out = preprocess_signature(hand_built_scan(2), canvas_size=(400, 900), input_size=None)
    assert out.shape == (170, 242)
    # background removed and inverted: the border is black, the ink bright
    assert out[0].max() == 0 and out[:, 0].max() == 0
    assert out.max() > 150


def test_otsu_matches_scikit_image() -> None:
    from skimage.filters import threshold_otsu

    scans = [hand_built_scan(seed) for seed in range(3)] + [case.scan() for case in PARITY_CASES[:20]]
    for img in scans:
        assert otsu_threshold(img) == threshold_otsu(img)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference takes the mean of no ink pixels
def test_bilevel_scan_is_normalised_where_reference_fails() -> None:
    gray = hand_built_scan(3)
    assert np.unique(gray).size > 2
    bilevel = np.where(gray < 128, 0, 255).astype(np.uint8)
    out = preprocess_signature(bilevel, canvas_size=(400, 900), input_size=None)
    try:  # the reference crashes (no ink under its Otsu threshold) or keeps only stroke crossings
        lost = (sigver_preprocess(bilevel, (400, 900), input_size=None) > 40).mean() < 0.2 * (out > 40).mean()
    except ValueError:
        lost = True
    assert lost
    gray_out = preprocess_signature(
        np.where(bilevel == 0, 60, 235).astype(np.uint8), (400, 900), input_size=None
    )
    # same ink geometry as a grey rendering of the same strokes: bright pixels in the same places
    assert ((out > 40) == (gray_out > 40)).mean() > 0.98
    assert set(np.unique(out[0])) == {0}


def test_rgba_with_transparent_paper_equals_grayscale(tmp_path) -> None:
    gray = hand_built_scan(4)
    ink = gray < 128
    rgba = np.zeros((*gray.shape, 4), dtype=np.uint8)
    rgba[ink, :3] = gray[ink, None]
    rgba[ink, 3] = 255  # paper fully transparent: it must become white, not black
    composed = np.where(ink, gray, 255).astype(np.uint8)
    path = tmp_path / "sig.png"
    Image.fromarray(rgba, "RGBA").save(path)
    np.testing.assert_array_equal(load_grayscale(path), composed)
    np.testing.assert_array_equal(
        preprocess_file(path, (400, 900)), preprocess_signature(composed, (400, 900))
    )


@pytest.mark.parametrize("mode", ["RGB", "P", "1", "L"])
def test_file_modes_load_as_dark_ink_on_light_paper(tmp_path, mode: str) -> None:
    gray = hand_built_scan(5)
    im = Image.fromarray(gray, "L")
    im = im.convert(mode) if mode != "1" else im.point(lambda v: 255 if v > 128 else 0).convert("1")
    path = tmp_path / f"sig_{mode}.png"
    im.save(path)
    loaded = load_grayscale(path)
    assert loaded.dtype == np.uint8 and loaded.ndim == 2
    assert loaded[0, 0] > 200 and loaded.min() < 100
    out = preprocess_file(path, (400, 900))
    assert out.shape == (150, 220) and out.max() > 100


def test_blank_image_error_names_the_file(tmp_path) -> None:
    path = tmp_path / "blank_page.png"
    Image.fromarray(np.full((100, 200), 240, np.uint8)).save(path)
    with pytest.raises(BlankImageError, match="blank_page.png"):
        preprocess_file(path)


def test_unreadable_file_error_names_the_file(tmp_path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image at all")
    with pytest.raises(OSError, match="broken.png"):
        load_grayscale(path)


@pytest.mark.parametrize("ink_level", [150, 200])
def test_stroke_fainter_than_the_blur_is_kept_not_called_blank(ink_level: int) -> None:
    """A two-pixel faint line on textured paper: the blurred mask is empty, the raw pixels are the ink."""
    rng = np.random.default_rng(0)
    gray = np.clip(240 + rng.normal(0, 3, (100, 200)), 0, 255).astype(np.uint8)
    gray[50:52, 40:160] = ink_level
    threshold = otsu_threshold(gray)
    assert threshold == ink_level  # Otsu isolates the line ...
    assert not preprocess._ink_mask(gray, threshold)[0].any()  # ... and the reference's blur loses it
    canvas = preprocess.center_on_canvas(gray, (120, 240))
    # the line's first row without its last column (the reference excludes the last ink row and column)
    assert np.count_nonzero(canvas < 255) == 119
    assert set(np.unique(canvas)) == {ink_level, 255}
