"""AOSSig segmentation metrics on hand-made masks: per-image values, empty masks, folders, SSIM parity."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from sigbench.segmentation.evaluate import evaluate_masks, mask_scores, ssim, summarize
from sigbench.segmentation.overlay import FN_COLOUR, FP_COLOUR, TP_COLOUR, overlay


def box_mask(shape: tuple[int, int], rows: slice, cols: slice, value: int = 255) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[rows, cols] = value
    return mask


# Image A: gt rows 0-1, pred rows 1-2 (cols 0-3) -> TP 4, FP 4, FN 4.
GT_A = box_mask((8, 8), slice(0, 2), slice(0, 4))
PRED_A = box_mask((8, 8), slice(1, 3), slice(0, 4))
EMPTY = np.zeros((8, 8), np.uint8)


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, win_size=7, data_range=255))


def test_partial_overlap_by_hand():
    scores = mask_scores(GT_A, PRED_A)
    assert scores["f_iou"] == pytest.approx(4 / 12)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.5)
    # a prediction inside the ground truth: TP 2, FP 0, FN 2
    subset = mask_scores(
        box_mask((8, 8), slice(0, 1), slice(0, 4)), box_mask((8, 8), slice(0, 1), slice(0, 2))
    )
    assert (subset["f_iou"], subset["precision"], subset["recall"]) == pytest.approx((0.5, 1.0, 0.5))


def test_binarised_with_greater_than_zero():
    # value 1 is foreground too, and a colour mask counts non-zero in any channel
    low = mask_scores(GT_A // 255, PRED_A)
    assert low["f_iou"] == pytest.approx(4 / 12)
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[1:3, 0:4, 2] = 7
    assert mask_scores(GT_A, colour)["f_iou"] == pytest.approx(4 / 12)


def test_empty_masks_are_defined():
    both = mask_scores(EMPTY, EMPTY, f_smoothing=0)
    assert both == {"f_iou": 1.0, "f_score": 1.0, "precision": 1.0, "recall": 1.0, "ssim": 1.0}
    assert mask_scores(EMPTY, EMPTY)["f_score"] == 2 / (2 + 8e-5)  # the F of a perfect image, as elsewhere
    false_alarm = mask_scores(EMPTY, PRED_A)
    assert (false_alarm["f_iou"], false_alarm["precision"], false_alarm["recall"]) == (0.0, 0.0, 0.0)
    missed = mask_scores(GT_A, EMPTY)
    assert (missed["f_iou"], missed["precision"], missed["recall"]) == (0.0, 0.0, 0.0)
    assert (
        false_alarm["f_score"] == missed["f_score"] == mask_scores(GT_A, EMPTY, f_smoothing=0)["f_score"] == 0
    )
    for scores in (both, false_alarm, missed):
        assert all(np.isfinite(v) for v in scores.values())
    assert false_alarm["ssim"] == pytest.approx(skimage_ssim(EMPTY, PRED_A))


@pytest.mark.parametrize("shape", [(7, 7), (9, 31), (40, 64)])
def test_ssim_matches_skimage(shape):
    rng = np.random.default_rng(sum(shape))
    a = (rng.random(shape) > 0.7).astype(np.uint8) * 255
    b = (rng.random(shape) > 0.6).astype(np.uint8) * 255
    b[: shape[0] // 2] = a[: shape[0] // 2]  # partly equal, partly not
    assert ssim(a, b) == pytest.approx(skimage_ssim(a, b), abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)
    grey = rng.integers(0, 256, shape, dtype=np.uint8)
    assert ssim(grey, a) == pytest.approx(skimage_ssim(grey, a), abs=1e-9)


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="win_size"):
        ssim(np.zeros((6, 10)), np.zeros((6, 10)))


# Image B: gt row 0 cols 0-3, pred row 0 cols 0-1 -> TP 2, FP 0, FN 2: P = 1, R = 0.5.
GT_B = box_mask((8, 8), slice(0, 1), slice(0, 4))
PRED_B = box_mask((8, 8), slice(0, 1), slice(0, 2))


def test_f_is_the_mean_of_per_image_f():
    # by hand: image A has P = R = 1/2, image B has P = 1, R = 1/2.
    # per image (AOSSig seg_eval): F_A = 2 * 1/2 * 1/2 / (1 + e), F_B = 2 * 1 * 1/2 / (3/2 + e), e = 8e-5
    e = 8e-5
    f_a, f_b = 0.5 / (1 + e), 1.0 / (1.5 + e)
    a, b = mask_scores(GT_A, PRED_A), mask_scores(GT_B, PRED_B)
    assert (a["f_score"], b["f_score"]) == pytest.approx((f_a, f_b), rel=1e-12)
    out = summarize([a, b])
    assert out["f_score"] == pytest.approx((f_a + f_b) / 2, rel=1e-12)  # 0.58330...
    # the two definitions differ here: F of the averaged P = 3/4 and R = 1/2 would be 0.6
    assert (out["precision"], out["recall"]) == (0.75, 0.5)
    assert abs(out["f_score"] - 2 * 0.75 * 0.5 / 1.25) > 0.01
    # without the reference's constant F is the plain harmonic mean: (1/2 + 2/3) / 2
    plain = summarize([mask_scores(GT_A, PRED_A, f_smoothing=0), mask_scores(GT_B, PRED_B, f_smoothing=0)])
    assert plain["f_score"] == pytest.approx(7 / 12, rel=1e-12)
    assert (out["f_iou"], out["num_images"]) == (pytest.approx((1 / 3 + 1 / 2) / 2), 2)
    with pytest.raises(ValueError, match="no images"):
        summarize([])
    with pytest.raises(ValueError, match="f_smoothing"):
        mask_scores(GT_A, PRED_A, f_smoothing=-1)


def write(folder: Path, name: str, mask: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(folder / name), mask)


def test_evaluate_masks_on_folders(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    cases = {"a": (GT_A, PRED_A), "b": (EMPTY, EMPTY), "c": (EMPTY, PRED_A), "d": (GT_A, EMPTY)}
    for stem, (g, p) in cases.items():
        write(gt, f"{stem}.png", g)
        write(pred, f"{stem}.png", p)
    out = evaluate_masks(gt, pred)
    # per image fgIoU 1/3, 1, 0, 0; precision and recall 0.5, 1, 0, 0
    assert out["f_iou"] == pytest.approx((1 / 3 + 1) / 4)
    assert out["precision"] == pytest.approx(0.375)
    assert out["recall"] == pytest.approx(0.375)
    # per image F: a 2 * 1/2 * 1/2 / (1 + e), b that of P = R = 1, c and d 0; averaged
    e = 8e-5
    assert out["f_score"] == pytest.approx((0.5 / (1 + e) + 2 / (2 + e)) / 4, rel=1e-12)
    plain = evaluate_masks(gt, pred, f_smoothing=0)
    assert plain["f_score"] == pytest.approx((0.5 + 1) / 4)
    expected_ssim = np.mean([skimage_ssim(g, p) for g, p in cases.values()])
    assert out["mssim"] == pytest.approx(expected_ssim, abs=1e-9)
    assert out["num_images"] == 4


def test_evaluate_masks_pairing_errors(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write(gt, "a.png", GT_A)
    write(gt, "b.png", GT_A)
    write(pred, "a.png", GT_A)
    with pytest.raises(ValueError, match="no prediction"):
        evaluate_masks(gt, pred)
    out = evaluate_masks(gt, pred, missing_as_empty=True)
    assert out["f_iou"] == pytest.approx(0.5)  # a perfect, b missed entirely
    write(pred, "z.png", GT_A)
    with pytest.raises(ValueError, match="without ground truth.*z"):
        evaluate_masks(gt, pred)
    (pred / "z.png").unlink()
    write(pred, "b.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match="size"):
        evaluate_masks(gt, pred)
    with pytest.raises(FileNotFoundError):
        evaluate_masks(tmp_path / "nowhere", pred)


def test_overlay_colours():
    page = np.full((8, 8), 200, np.uint8)
    out = overlay(page, PRED_A, GT_A)
    assert tuple(out[1, 0]) == TP_COLOUR  # both
    assert tuple(out[2, 0]) == FP_COLOUR  # predicted only
    assert tuple(out[0, 0]) == FN_COLOUR  # missed
    assert tuple(out[7, 7]) == (227, 227, 227)  # faded page: 255 - 0.5 * 55


def test_an_oversize_mask_is_refused_before_decoding(tmp_path) -> None:
    from sigbench.images import ImageTooLargeError
    from sigbench.segmentation.evaluate import read_mask
    from tests.helpers import header_only_png

    bomb = header_only_png(tmp_path / "bomb.png", 20000, 20000)  # 400 Mpx declared, no pixel data
    with pytest.raises(ImageTooLargeError, match="bomb.png"):
        read_mask(bomb)
