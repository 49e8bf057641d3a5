"""Level 6 business pages (typed letters, memos, faxes; bilevel capture): deterministic from their seed,
boxes tight on their signature ink, signature sizes in the range measured on real pages, look-alikes (Bates
numbers, script letterheads, logos, stamps, notes) never inside a signature's box, and exported by
``synthesize_dataset`` like every other level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigbench.documents import business
from sigbench.documents.business import BUSINESS_LEVEL, SIGNATURE_WIDTH, bilevel_capture, business_page_layers
from sigbench.documents.formats import read_quads
from sigbench.documents.lookalikes import bates_number, drawn_logo, marginal_note, script_name
from sigbench.documents.sources import SyntheticSource
from sigbench.documents.stamps import draw_box_stamp
from sigbench.documents.synthesize import synth_config, synthesize_dataset, synthesize_page

SIZE = (500, 380)  # (H, W); the width is redrawn from real page aspects
SOURCE = SyntheticSource()


def test_same_seed_same_page_other_seed_other_page() -> None:
    a = synthesize_page(3, BUSINESS_LEVEL, SOURCE, seed=5, page_size=SIZE)
    b = synthesize_page(3, BUSINESS_LEVEL, SOURCE, seed=5, page_size=SIZE)
    c = synthesize_page(3, BUSINESS_LEVEL, SOURCE, seed=6, page_size=SIZE)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.annotations == b.annotations and a.name == b.name
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


def test_pages_are_bilevel_and_boxes_are_tight_on_the_ink() -> None:
    signed = 0
    for index in range(12):
        page = synthesize_page(index, BUSINESS_LEVEL, SOURCE, seed=1, page_size=SIZE)
        h, w = page.mask.shape
        assert page.image.shape == (h, w, 3) and h == SIZE[0] and 0.74 * h < w < 0.81 * h
        assert set(np.unique(page.image).tolist()) <= {0, 255}
        ink = page.mask > 0
        assert np.all(page.image[ink] == 0)  # signature ink is black on the page
        covered = np.zeros_like(ink)
        for annotation in page.annotations:
            x0, y0, x1, y1 = (int(v) for v in annotation.bounds())
            box_ink = ink[y0:y1, x0:x1]
            # tight: ink touches all four edges of its box
            assert box_ink[0].any() and box_ink[-1].any() and box_ink[:, 0].any() and box_ink[:, -1].any()
            covered[y0:y1, x0:x1] = True
            assert (x1 - x0) <= SIGNATURE_WIDTH[3] * w + 2  # never wider than the widest real signature
        assert not (ink & ~covered).any()  # no signature ink outside every box
        signed += bool(page.annotations)
    assert 0 < signed < 12  # signed and unsigned pages, like a real archive


def test_bilevel_capture_keeps_masks_on_black_pixels() -> None:
    rng = np.random.default_rng(0)
    gray = np.full((200, 160), 255, np.uint8)
    gray[50:60, 20:140] = 0
    mask = np.zeros(gray.shape, bool)
    mask[50:60, 20:140] = True
    out, (warped,) = bilevel_capture(gray, [mask], rng)
    assert set(np.unique(out).tolist()) <= {0, 255}
    assert warped.sum() > 0.5 * mask.sum() and np.all(out[warped] == 0)


def test_level_6_sets_write_the_layout(tmp_path: Path) -> None:
    root = synthesize_dataset(
        tmp_path / "set", 6, levels=[2, BUSINESS_LEVEL], test_fraction=0.34, page_size=SIZE, seed=3,
        num_workers=1, progress=False,
    )  # fmt: skip
    images = sorted((Path(root) / "L6" / "data").rglob("*.jpg"))
    assert len(images) == 3 and all("_L6_bilevel_" in p.name for p in images)
    for image in images:
        label = Path(str(image).replace("/data/", "/anno_label/")).with_suffix(".txt")
        assert all(a.label == "signature" for a in read_quads(label))
    with pytest.raises(ValueError, match="level 6 pages annotate signatures only"):
        synth_config(4, levels=[BUSINESS_LEVEL], classes=["signature", "date"])


def check_lookalikes_off_signatures(page: business.BusinessPage) -> None:
    """Signature ink inside its boxes, look-alike ink black on the page and outside every signature box."""
    ink = page.mask > 0
    covered = np.zeros_like(ink)
    for annotation in page.annotations:
        x0, y0, x1, y1 = (int(v) for v in annotation.bounds())
        covered[y0:y1, x0:x1] = True
    assert not (ink & ~covered).any()
    assert np.all(page.image[page.lookalikes] == 0)
    assert not (page.lookalikes & covered).any()


@pytest.mark.parametrize("forced", [False, True])
def test_lookalikes_never_fall_inside_a_signature_box(forced: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if forced:  # every kind on every page, so each one meets the signatures
        for name in ("BATES_P", "SCRIPT_LETTERHEAD_P", "STAMP_P", "MARGINAL_NOTE_P"):
            monkeypatch.setattr(business, name, 1.0)
    source = SyntheticSource(num_writers=20, samples_per_writer=2, style="western")
    with_both = with_marks = 0
    for index in range(10):
        page = business_page_layers(np.random.default_rng([7, index]), source, long_side=SIZE[0])
        check_lookalikes_off_signatures(page)
        with_marks += bool(page.lookalikes.any())
        with_both += bool(page.lookalikes.any() and page.annotations)
    assert with_both >= (4 if forced else 1)  # the check above met signed pages with look-alikes
    assert with_marks >= (9 if forced else 3)


def test_pages_with_lookalikes_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BATES_P", "SCRIPT_LETTERHEAD_P", "STAMP_P", "MARGINAL_NOTE_P"):
        monkeypatch.setattr(business, name, 1.0)
    a, b, c = (business_page_layers(np.random.default_rng(s), SOURCE, long_side=SIZE[0]) for s in (4, 4, 5))
    assert a.lookalikes.any()
    for field in ("image", "mask", "lookalikes"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.annotations == b.annotations
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


def test_lookalike_marks_are_dark_on_light_and_seeded() -> None:
    marks = {
        "bates": lambda rng: bates_number(rng, 14),
        "script": lambda rng: script_name(rng, 30),
        "logo": lambda rng: drawn_logo(rng, 40),
        "note": lambda rng: marginal_note(rng, 24),
    }
    for name, draw in marks.items():
        one, again = draw(np.random.default_rng(1)), draw(np.random.default_rng(1))
        assert np.array_equal(one, again), name
        assert one.dtype == np.uint8 and one.ndim == 2, name
        paper = float(np.median(one))
        assert paper > 200 and (one < paper - 50).mean() > 0.01, name  # dark ink on light paper
    number = bates_number(np.random.default_rng(2), 14)
    assert number.shape[1] > 4 * number.shape[0]  # a long line of digits
    rgb, alpha = draw_box_stamp(np.random.default_rng(3), 40)
    assert alpha.shape == rgb.shape[:2] and alpha.shape[0] == 40 and alpha.shape[1] > 40
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and (alpha > 0.2).mean() > 0.02


def test_lookalikes_keep_their_gap_from_signature_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before capture, on a page whose signature box takes half of it: placement must avoid it (at random
    it would land there half the time), and a layout's mark that overlaps it is left out."""
    for name in ("BATES_P", "STAMP_P", "MARGINAL_NOTE_P"):
        monkeypatch.setattr(business, name, 1.0)
    h, w = SIZE
    signature = (60, 150, 320, 350)
    gap = int(business.LOOKALIKE_GAP * h) + 4
    mark = script_name(np.random.default_rng(0), 30)
    clashing = (100, 300, 250, 340)  # inside the signature's box
    for seed in range(6):
        page = np.full((h, w, 3), 255, np.uint8)
        out, ink = business._lookalikes(np.random.default_rng(seed), page, [(mark, clashing)], [signature])
        assert ink.any() and np.all(out[ink] < 255)
        x0, y0, x1, y1 = signature
        assert not ink[max(0, y0 - gap) : y1 + gap, max(0, x0 - gap) : x1 + gap].any()
        assert np.all(out[y0:y1, x0:x1] == 255)  # nothing at all was drawn there
