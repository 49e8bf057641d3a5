"""Blank document templates, stamps, fingerprints, handwriting distractors and labelme user templates."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sigbench.documents import stamps, templates, typeset
from sigbench.documents.fonts import NOT_TEXT_FONTS, FontBook, available_fonts
from sigbench.documents.handwriting import date_text, handwritten_date, handwritten_initials
from sigbench.documents.stamps import STAMP_COLORS, draw_fingerprint, draw_stamp
from sigbench.documents.templates import (
    KINDS,
    LEVELS,
    Slot,
    free_box,
    load_labelme_template,
    make_template,
    overlaps,
)

SMALL = (400, 300)  # (H, W): tiny pages keep the tests fast


# ------------------------------------------------------------------------------------------ stamps


def test_stamp_shapes_range_and_determinism() -> None:
    rgb, alpha = draw_stamp(np.random.default_rng(5), 80)
    assert rgb.shape == (80, 80, 3) and rgb.dtype == np.uint8
    assert alpha.shape == (80, 80) and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    again = draw_stamp(np.random.default_rng(5), 80)
    assert np.array_equal(rgb, again[0]) and np.array_equal(alpha, again[1])
    # A ring: ink near the rim on every side, none in the corners outside the circle.
    assert alpha[:3, :3].max() == 0 and alpha[-3:, -3:].max() == 0
    for rim in (alpha[:6, 30:50], alpha[-6:, 30:50], alpha[30:50, :6], alpha[30:50, -6:]):
        assert rim.max() > 0.3
    # Uneven ink: the texture leaves covered pixels at clearly different strengths.
    inked = alpha[alpha > 0.05]
    assert inked.std() > 0.05


def test_stamp_colour_is_the_requested_one() -> None:
    rgb, _alpha = draw_stamp(np.random.default_rng(0), 64, text="PAID", color=(30, 80, 200))
    mean = rgb.reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - (30, 80, 200)).max() < 12
    rgb, _ = draw_stamp(np.random.default_rng(1), 64)
    mean = rgb.reshape(-1, 3).mean(axis=0)
    assert min(np.abs(mean - np.array(c)).max() for c in STAMP_COLORS) < 12


def test_stamp_rejects_tiny_diameter() -> None:
    with pytest.raises(ValueError, match="diameter"):
        draw_stamp(np.random.default_rng(0), 10)


def test_chinese_stamp_uses_a_chinese_font_when_one_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Chinese font on CI machines: pretend one (a Latin file) covers Chinese and check the path taken."""
    latin = [p for p in available_fonts("latin") if p.name == "DejaVuSans.ttf"][:1]
    if not latin:
        pytest.skip("DejaVuSans not installed")
    fake = {"chinese": FontBook("chinese", latin), "latin": FontBook("latin", latin)}
    monkeypatch.setattr(typeset, "font_book", lambda script="latin": fake[script])
    assert typeset.has_script("chinese")
    assert stamps._script_of("合同专用章") == "chinese"
    assert stamps._script_of("PAID") == "latin"
    scripts = {stamps._ring_text(np.random.default_rng(s))[1] for s in range(12)}
    assert scripts == {"chinese", "latin"}
    rgb, alpha = draw_stamp(np.random.default_rng(3), 90, text="合同专用章")
    assert rgb.shape == (90, 90, 3) and alpha.max() > 0.3


def test_no_chinese_font_means_latin_stamps(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = FontBook("chinese", [])
    real = typeset.font_book
    monkeypatch.setattr(
        typeset, "font_book", lambda script="latin": empty if script == "chinese" else real(script)
    )
    assert not typeset.has_script("chinese")
    assert stamps._script_of("合同专用章") == "latin"
    assert all(stamps._ring_text(np.random.default_rng(s))[1] == "latin" for s in range(8))


def test_text_fonts_skip_symbol_and_placeholder_fonts() -> None:
    names = [p.name.lower() for p in available_fonts("latin")]
    assert names, "matplotlib's DejaVu fonts are always there"
    assert not any(hint in name for name in names for hint in NOT_TEXT_FONTS)
    assert "dejavusans.ttf" in names


def test_fingerprint_shape_and_ridges() -> None:
    rgb, alpha = draw_fingerprint(np.random.default_rng(2), 60)
    assert alpha.shape[0] == 60 and 30 <= alpha.shape[1] <= 46 and rgb.shape == (*alpha.shape, 3)
    centre_row = alpha[30, :]
    # Ridges: the centre row alternates between ink and gaps several times.
    crossings = np.count_nonzero(np.diff((centre_row > 0.2).astype(int)) != 0)
    assert crossings >= 4
    assert alpha[0, 0] == 0 and alpha[-1, -1] == 0


def test_composite_is_multiplicative_and_clipped() -> None:
    page = np.full((10, 10, 3), 200, np.uint8)
    rgb = np.full((4, 4, 3), (255, 0, 0), np.uint8)
    alpha = np.full((4, 4), 0.5, np.float32)
    out = stamps.composite(page, rgb, alpha, 8, 8)  # only 2 x 2 of it on the page
    assert np.array_equal(out[:8], page[:8]) and np.array_equal(out[:, :8], page[:, :8])
    # 200 * (1 - 0.5 + 0.5 * 1) = 200 for red; 200 * (0.5 + 0) = 100 for green and blue.
    assert out[9, 9].tolist() == [200, 100, 100]


# ------------------------------------------------------------------------------------------ handwriting


def test_date_text_formats() -> None:
    texts = {date_text(np.random.default_rng(s)) for s in range(40)}
    assert any("/" in t for t in texts) and any("-" in t for t in texts) and any("." in t for t in texts)
    assert all(any(ch.isdigit() for ch in t) for t in texts)


@pytest.mark.parametrize("make", [handwritten_date, handwritten_initials])
def test_handwriting_is_dark_ink_on_light_paper(make) -> None:
    gray = make(np.random.default_rng(4))
    assert gray.dtype == np.uint8 and gray.ndim == 2
    assert np.median(gray) > 200 and gray.min() < 130


# ------------------------------------------------------------------------------------------ templates


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_template_slots_lie_on_the_page(level: int) -> None:
    rng = np.random.default_rng(level)
    t = make_template(rng, level, page_size=SMALL)
    h, w = SMALL
    assert t.page.shape == (h, w, 3) and t.page.dtype == np.uint8 and t.level == level
    assert t.kind in LEVELS[level].kinds
    assert any(s.kind == "signature" for s in t.slots)
    for s in t.slots:
        x0, y0, x1, y1 = s.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    sig_slots = [s for s in t.slots if s.label == "sig"]
    assert len(sig_slots) <= LEVELS[level].max_slots + 1  # + a date or initials slot beside a signature


def test_level_one_is_clean_and_level_five_cluttered() -> None:
    for seed in range(3):
        clean = make_template(np.random.default_rng(seed), 1, page_size=SMALL)
        assert clean.kind == "letter" and len(clean.slots) == 1 and not clean.overlays
        # Nothing coloured on an L1 page: printed ink and paper only (channels within a few levels).
        assert np.ptp(clean.page.astype(int), axis=2).max() < 60
        busy = make_template(np.random.default_rng(seed), 5, page_size=(800, 566))
        assert busy.overlays, "L5 has a stamp over a slot"
        covered = [
            s
            for s in busy.slots
            for o in busy.overlays
            if overlaps(s.box, (o.x, o.y, o.x + o.alpha.shape[1], o.y + o.alpha.shape[0]))
        ]
        assert covered


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders(kind: str) -> None:
    t = make_template(np.random.default_rng(0), 3, kind=kind, page_size=SMALL)
    assert t.kind == kind and t.slots
    assert (t.page < 128).any(), "printed text"


def test_template_is_deterministic() -> None:
    a = make_template(np.random.default_rng(9), 4, page_size=SMALL)
    b = make_template(np.random.default_rng(9), 4, page_size=SMALL)
    assert np.array_equal(a.page, b.page) and a.slots == b.slots


def test_bad_template_arguments() -> None:
    with pytest.raises(ValueError, match="level"):
        make_template(np.random.default_rng(0), 6)
    with pytest.raises(ValueError, match="kind"):
        make_template(np.random.default_rng(0), 1, kind="memo", page_size=SMALL)
    with pytest.raises(ValueError, match="page_size"):
        make_template(np.random.default_rng(0), 1, page_size=(100, 100))
    with pytest.raises(ValueError, match="label"):
        Slot((0, 0, 10, 10), "signature")


def test_free_box_avoids_boxes() -> None:
    rng = np.random.default_rng(0)
    avoid = [(0, 0, 100, 200)]
    for _ in range(20):
        box = free_box(rng, (200, 200), 50, 40, avoid, margin=0)
        assert box is not None and box[0] >= 100 and box[2] <= 200 and box[3] <= 200
    assert free_box(rng, (200, 200), 150, 40, avoid) is None


# ------------------------------------------------------------------------------------------ labelme


def _labelme(tmp_path: Path, shapes: list[dict], embed: bool = False) -> Path:
    image = np.full((120, 200, 3), 240, np.uint8)
    ok, png = cv2.imencode(".png", image)
    assert ok
    doc: dict = {"version": "5.0.1", "shapes": shapes, "imageHeight": 120, "imageWidth": 200}
    if embed:
        doc["imagePath"] = "missing.png"
        doc["imageData"] = base64.b64encode(png.tobytes()).decode()
    else:
        (tmp_path / "page.png").write_bytes(png.tobytes())
        doc["imagePath"] = "page.png"
    path = tmp_path / "page.json"
    path.write_text(json.dumps(doc))
    return path


def test_labelme_template_slots(tmp_path: Path) -> None:
    shapes = [
        {"label": "sig", "points": [[10, 20], [90.4, 60.2]], "shape_type": "rectangle"},
        {"label": "bg", "points": [[120, 30], [190, 35], [180, 80], [125, 70]], "shape_type": "polygon"},
        {"label": "sig", "points": [[150, 100], [260, 140]], "shape_type": "rectangle"},  # clipped to page
    ]
    t = load_labelme_template(_labelme(tmp_path, shapes))
    assert t.page.shape == (120, 200, 3) and t.kind == "user" and t.name == "page"
    assert [s.box for s in t.slots] == [(10, 20, 91, 61), (120, 30, 190, 80), (150, 100, 200, 120)]
    assert [s.label for s in t.slots] == ["sig", "bg", "sig"]
    embedded = load_labelme_template(_labelme(tmp_path, shapes[:1], embed=True))
    assert embedded.page.shape == (120, 200, 3)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"label": "logo", "points": [[0, 0], [50, 50]]}, "label 'logo'"),
        ({"label": "sig", "points": [[5, 5]]}, "at least 2"),
        ({"label": "sig"}, "'points'"),
        ({"label": "sig", "points": [[5, 5], [6, 6]]}, "less than 4 x 4"),
    ],
)
def test_labelme_bad_shape_names_file_and_index(tmp_path: Path, shape: dict, message: str) -> None:
    good = {"label": "sig", "points": [[10, 10], [80, 50]]}
    path = _labelme(tmp_path, [good, shape])
    with pytest.raises(ValueError, match=message) as info:
        load_labelme_template(path)
    assert str(path) in str(info.value) and "shapes[1]" in str(info.value)


def test_labelme_missing_image_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"shapes": [], "imagePath": "nope.png"}))
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_labelme_template(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="malformed JSON"):
        load_labelme_template(path)
    path.write_text(json.dumps({"imagePath": "x.png"}))
    with pytest.raises(ValueError, match="shapes"):
        load_labelme_template(path)


def test_labelme_template_inherits_level_clutter(tmp_path: Path) -> None:
    t = load_labelme_template(_labelme(tmp_path, [{"label": "sig", "points": [[20, 20], [150, 80]]}]))
    page = templates.add_clutter(t.page.copy(), t, LEVELS[5], np.random.default_rng(0))
    assert t.overlays and not np.array_equal(page, t.page)


def test_chinese_documents_when_a_chinese_font_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a (pretend) Chinese font some pages are typeset in Chinese; without one, never."""
    latin = [p for p in available_fonts("latin") if p.name == "DejaVuSans.ttf"][:1]
    if not latin:
        pytest.skip("DejaVuSans not installed")
    drawn: list[str] = []
    real_text = templates._Layout.text

    def spy(self, xy, text, font, fill=None):
        drawn.append(text)
        return real_text(self, xy, text, font, fill)

    monkeypatch.setattr(templates._Layout, "text", spy)
    for seed in range(4):
        make_template(np.random.default_rng(seed), 2, page_size=SMALL)
    assert not any("\u4e00" <= ch <= "\u9fff" for text in drawn for ch in text)
    fake = {"chinese": FontBook("chinese", latin), "latin": FontBook("latin", latin)}
    monkeypatch.setattr(typeset, "font_book", lambda script="latin": fake[script])
    drawn.clear()
    for seed in range(8):
        make_template(np.random.default_rng(seed), 2, page_size=SMALL)
    assert any("\u4e00" <= ch <= "\u9fff" for text in drawn for ch in text)
