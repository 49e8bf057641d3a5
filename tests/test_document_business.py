"""Level 6 business pages (typed letters, memos, faxes; bilevel capture): deterministic from their seed,
boxes tight on their signature ink, signature sizes in the range measured on real pages, and exported by
``synthesize_dataset`` like every other level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigbench.documents.business import BUSINESS_LEVEL, SIGNATURE_WIDTH, bilevel_capture
from sigbench.documents.formats import read_quads
from sigbench.documents.sources import SyntheticSource
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
