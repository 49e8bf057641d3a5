"""Preprocessing: parity with the reference algorithm, and the inputs the reference cannot take."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from sigbench.data.preprocess import (
    BlankImageError,
    load_grayscale,
    otsu_threshold,
    preprocess_file,
    preprocess_signature,
)
from sigbench.data.preprocess_reference import reference_preprocess


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


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(int) - b.astype(int)) <= 1).mean())


@pytest.mark.parametrize("seed", range(4))
def test_parity_with_reference_on_hand_built_scans(seed: int) -> None:
    scan = hand_built_scan(seed)
    ours = preprocess_signature(scan, canvas_size=(400, 900))
    ref = reference_preprocess(scan, canvas_size=(400, 900))
    assert ours.shape == ref.shape == (150, 220)
    assert ours.dtype == np.uint8
    assert agreement(ours, ref) >= 0.99


def test_parity_on_real_scans(shared_samples) -> None:
    for name in ("a1", "a2", "b1", "b2", "some_signature"):
        gray = load_grayscale(shared_samples / f"{name}.png")
        assert agreement(preprocess_signature(gray), reference_preprocess(gray)) >= 0.99, name


def test_parity_when_signature_is_larger_than_canvas() -> None:
    scan = hand_built_scan(1, shape=(300, 700))
    ours = preprocess_signature(scan, canvas_size=(150, 300), input_size=None)
    ref = reference_preprocess(scan, canvas_size=(150, 300), input_size=None)
    assert ours.shape == (170, 242)
    assert agreement(ours, ref) >= 0.99


def test_output_conventions() -> None:
    out = preprocess_signature(hand_built_scan(2), canvas_size=(400, 900), input_size=None)
    assert out.shape == (170, 242)
    # background removed and inverted: the border is black, the ink bright
    assert out[0].max() == 0 and out[:, 0].max() == 0
    assert out.max() > 150


def test_otsu_matches_scikit_image() -> None:
    from skimage.filters import threshold_otsu

    for seed in range(3):
        img = hand_built_scan(seed)
        assert otsu_threshold(img) == threshold_otsu(img)


def test_bilevel_scan_is_normalised_where_reference_fails() -> None:
    gray = hand_built_scan(3)
    assert np.unique(gray).size > 2
    bilevel = np.where(gray < 128, 0, 255).astype(np.uint8)
    out = preprocess_signature(bilevel, canvas_size=(400, 900), input_size=None)
    try:  # the reference crashes (no ink under its Otsu threshold) or keeps only stroke crossings
        lost = (reference_preprocess(bilevel, (400, 900), input_size=None) > 40).mean() < 0.2 * (
            out > 40
        ).mean()
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
