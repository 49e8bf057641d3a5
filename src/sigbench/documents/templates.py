"""Blank documents with annotated signature slots: letters, forms, contracts and receipts, levels L1-L5.

A :class:`Template` is a page (RGB uint8) plus its :class:`Slot` s -- the boxes a signature (or, for the
SignVerOD classes, initials or a date) may be pasted into -- plus :class:`Overlay` s, marks such as stamps
that lie *on top of* whatever is pasted later. Pages are laid out block by block (header with logo,
paragraphs, field rows, tables, signature blocks) with printed text in several fonts and sizes
(:mod:`sigbench.documents.typeset`; Chinese lines when a Chinese font is installed -- add fonts through the
``SIGBENCH_FONT_DIRS`` environment variable, see :mod:`sigbench.documents.fonts`).

Difficulty levels (what a detector has to cope with, cumulative):

* **L1** -- a clean letter: printed text, one signature slot above a signature line, nothing else.
* **L2** -- letters and forms: a logo, ruled field lines and tables, up to two slots (signature and date
  lines near, but not through, the slots).
* **L3** -- all four kinds, up to three slots; a stamp somewhere on the page and one or two handwritten
  distractors (dates, initials) away from the slots.
* **L4** -- signature lines run *through* the slots, a stamp partly covering a slot (on top of the signature),
  a fingerprint next to a slot, two or three handwritten distractors; photos as well as scans.
* **L5** -- cluttered: stamps over one or two slots, fingerprints, three to five distractors, an extra
  ``bg`` slot over printed text (a signature across the body text), photo capture preferred.

:func:`load_labelme_template` reads user templates annotated with labelme (``shapes[].points``, label
``sig`` for signature slots or ``bg`` for background regions), as AOSSDoc distributes them.
"""

from __future__ import annotations

import base64
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sigbench.documents.fusion import Box, fuse
from sigbench.documents.handwriting import handwritten_date, handwritten_initials
from sigbench.documents.stamps import composite, draw_fingerprint, draw_stamp
from sigbench.documents.typeset import Font, has_script, text_font
from sigbench.images import read_rgb

KINDS: tuple[str, ...] = ("letter", "form", "contract", "receipt")
SLOT_LABELS: tuple[str, ...] = ("sig", "bg")
SLOT_CLASSES: tuple[str, ...] = ("signature", "initials", "date")
#: Default page size (H, W): A4 proportions with a long side of 1000 px (about 85 dpi).
PAGE_SIZE: tuple[int, int] = (1000, 707)
#: A4 at 300 dpi (H, W), for full-resolution sets.
A4_300DPI: tuple[int, int] = (3508, 2480)

_VOCABULARY = (
    "the agreement party shall provide services under terms of this contract payment within days after "
    "receipt invoice company hereby confirms that all information above is correct and complete please "
    "sign return copy office department account number period delivery goods price total amount "
    "signature required for approval of request customer client manager director date place name address "
    "according to section clause notice written consent obligations liability insurance report annual "
    "meeting members board policy effective immediately reference our letter regarding your application"
)
WORDS = tuple(_VOCABULARY.split())
CHINESE_TEXT = (
    "本合同双方经友好协商就以下事项达成一致甲方乙方应按照约定履行义务付款日期金额签字盖章有效期限公司地址电话"
)
SIGN_LABELS = ("Signature", "Signed", "Authorized signature", "Signature of applicant", "Customer signature")


@dataclass(frozen=True)
class Slot:
    """A place for one pasted object: ``box`` ``(x0, y0, x1, y1)`` (exclusive ends), ``label`` ``sig``
    (a signature slot on the form) or ``bg`` (any background region), ``kind`` the class hint."""

    box: Box
    label: str = "sig"
    kind: str = "signature"

    def __post_init__(self) -> None:
        if self.label not in SLOT_LABELS:
            raise ValueError(f"slot label: expected one of {SLOT_LABELS}, got {self.label!r}")
        if self.kind not in SLOT_CLASSES:
            raise ValueError(f"slot kind: expected one of {SLOT_CLASSES}, got {self.kind!r}")
        x0, y0, x1, y1 = (int(v) for v in self.box)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"slot box {self.box} is empty")
        object.__setattr__(self, "box", (x0, y0, x1, y1))


@dataclass(frozen=True)
class Overlay:
    """A mark (RGB + alpha) drawn at ``(x, y)`` after the signatures: a stamp pressed over a signature."""

    rgb: np.ndarray
    alpha: np.ndarray
    x: int
    y: int

    def apply(self, page: np.ndarray) -> np.ndarray:
        return composite(page, self.rgb, self.alpha, self.x, self.y)


@dataclass
class Template:
    """A blank page with its slots; ``level`` 0 marks a user template (no generated clutter)."""

    page: np.ndarray
    slots: list[Slot]
    kind: str = "user"
    level: int = 0
    overlays: list[Overlay] = field(default_factory=list)
    name: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the page."""
        return int(self.page.shape[0]), int(self.page.shape[1])


@dataclass(frozen=True)
class LevelSpec:
    """What a difficulty level puts on a page (see the module docstring)."""

    kinds: tuple[str, ...]
    max_slots: int  # signature slots at most
    logo: bool
    tables: bool
    line_through: bool  # signature lines cross the slots
    page_stamps: int  # stamps printed on the page, away from slots
    slot_stamps: tuple[int, int]  # (min, max) stamps over slots (overlays)
    fingerprints: tuple[int, int]
    distractors: tuple[int, int]  # handwritten dates / initials that are not annotated
    bg_slots: int  # extra ``bg`` slots over the body text
    captures: tuple[str, ...]  # capture modes this level prefers


LEVELS: dict[int, LevelSpec] = {
    1: LevelSpec(("letter",), 1, False, False, False, 0, (0, 0), (0, 0), (0, 0), 0, ("none", "scan")),
    2: LevelSpec(("letter", "form"), 2, True, True, False, 0, (0, 0), (0, 0), (0, 0), 0, ("none", "scan")),
    3: LevelSpec(KINDS, 3, True, True, False, 1, (0, 0), (0, 0), (1, 2), 0, ("scan",)),
    4: LevelSpec(KINDS, 3, True, True, True, 0, (1, 1), (0, 1), (2, 3), 0, ("scan", "photo")),
    5: LevelSpec(KINDS, 3, True, True, True, 1, (1, 2), (1, 2), (3, 5), 1, ("photo",)),
}


def level_spec(level: int) -> LevelSpec:
    if level not in LEVELS:
        raise ValueError(f"level: expected one of {sorted(LEVELS)}, got {level!r}")
    return LEVELS[level]


# ------------------------------------------------------------------------------------------ page layout


class _Layout:
    """A page being typeset top to bottom: a cursor, fonts, the printed boxes and the slots made so far."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], spec: LevelSpec) -> None:
        h, w = size
        self.rng, self.h, self.w, self.spec = rng, h, w, spec
        tint = np.clip(rng.uniform(236, 253) + rng.uniform(-4, 4, 3), 0, 255)  # off-white paper
        self.image = Image.new("RGB", (w, h), tuple(int(v) for v in tint))
        self.draw = ImageDraw.Draw(self.image)
        self.u = h / 1000.0  # layout unit: one thousandth of the page height
        self.left = int(w * rng.uniform(0.07, 0.12))
        self.right = w - int(w * rng.uniform(0.07, 0.12))
        self.y = int(h * rng.uniform(0.05, 0.08))
        self.bottom = h - int(h * 0.05)
        self.script = "chinese" if has_script("chinese") and rng.random() < 0.3 else "latin"
        self.body_px = max(7, int(self.u * rng.uniform(11, 16)))
        self.body = text_font(rng, self.body_px, self.script)
        self.heading = text_font(rng, int(self.body_px * rng.uniform(1.4, 2.0)), self.script)
        self.small = text_font(rng, max(6, int(self.body_px * 0.8)), self.script)
        self.ink = tuple(int(v) for v in rng.uniform(0, 45, 3))
        self.printed: list[Box] = []
        self.slots: list[Slot] = []

    @property
    def line_h(self) -> int:
        return int(self.body_px * 1.45)

    def room(self, needed: float) -> bool:
        return self.y + needed < self.bottom

    def text(
        self, xy: tuple[float, float], text: str, font: Font, fill: tuple[int, ...] | None = None
    ) -> Box:
        box = self.draw.textbbox(xy, text, font=font)
        self.draw.text(xy, text, font=font, fill=fill or self.ink)
        self.printed.append(box)
        return box

    def words(self, n: int) -> str:
        if self.script == "chinese":
            idx = self.rng.integers(len(CHINESE_TEXT), size=n * 2)
            return "".join(CHINESE_TEXT[i] for i in idx)
        return " ".join(WORDS[i] for i in self.rng.integers(len(WORDS), size=n))

    def line_text(self, width: float, font: Font) -> str:
        """Random words (or characters) filling about ``width`` pixels."""
        text = self.words(3)
        while self.draw.textlength(text, font=font) < width:
            text += (" " if self.script == "latin" else "") + self.words(1)
        while len(text) > 1 and self.draw.textlength(text, font=font) > width:
            text = text[:-1]
        return text.rstrip()

    def paragraph(self, lines: int, x0: float | None = None, x1: float | None = None) -> None:
        x0 = self.left if x0 is None else x0
        x1 = self.right if x1 is None else x1
        for i in range(lines):
            if not self.room(self.line_h):
                return
            width = (x1 - x0) * (self.rng.uniform(0.35, 0.9) if i == lines - 1 else 1.0)
            self.text((x0, self.y), self.line_text(width, self.body), self.body)
            self.y += self.line_h
        self.y += int(self.line_h * 0.6)

    def logo(self, x: float, y: float, side: float) -> None:
        """A simple company logo: a coloured shape with two letters in it."""
        color = tuple(int(v) for v in self.rng.uniform(0, 200, 3))
        box = (x, y, x + side, y + side)
        shape = int(self.rng.integers(4))
        if shape == 0:
            self.draw.ellipse(box, fill=color)
        elif shape == 1:
            self.draw.rectangle(box, fill=color)
        elif shape == 2:
            self.draw.polygon([(x + side / 2, y), (x + side, y + side), (x, y + side)], fill=color)
        else:
            self.draw.polygon(
                [(x + side / 2, y), (x + side, y + side / 2), (x + side / 2, y + side), (x, y + side / 2)],
                fill=color,
            )
        letters = "".join(chr(ord("A") + int(i)) for i in self.rng.integers(26, size=2))
        font = text_font(self.rng, int(side * 0.4))
        self.draw.text((x + side / 2, y + side * 0.55), letters, font=font, fill=(255, 255, 255), anchor="mm")
        self.printed.append(tuple(int(v) for v in box))  # type: ignore[arg-type]

    def header(self) -> None:
        side = int(self.u * self.rng.uniform(45, 75))
        x = self.left
        if self.spec.logo:
            self.logo(x, self.y, side)
            x += side + int(self.u * 15)
        name = (
            self.words(int(self.rng.integers(1, 3))).title() + " " + ("Ltd", "Inc", "GmbH", "Co")[self.y % 4]
        )
        self.text((x, self.y), name, self.heading)
        self.text(
            (x, self.y + self.heading.size * 1.3), self.line_text(self.w * 0.35, self.small), self.small
        )
        self.y += max(side, int(self.heading.size * 2.6)) + int(self.u * 10)
        if self.rng.random() < 0.6:
            self.draw.line(
                (self.left, self.y, self.right, self.y), fill=self.ink, width=max(1, int(self.u * 2))
            )
            self.y += int(self.u * 12)

    def title(self, text: str) -> None:
        width = self.draw.textlength(text, font=self.heading)
        self.text(((self.w - width) / 2, self.y), text, self.heading)
        self.y += int(self.heading.size * 1.8)

    def field_rows(self, n: int, columns: int) -> None:
        """``Label: ______`` rows on ruled lines, in one or two columns."""
        col_w = (self.right - self.left) / columns
        for _ in range(n):
            if not self.room(self.line_h * 1.6):
                return
            for c in range(columns):
                x = self.left + c * col_w
                label = self.words(int(self.rng.integers(1, 3))).capitalize() + ":"
                box = self.text((x, self.y), label, self.body)
                line_y = box[3] + 2
                self.draw.line((box[2] + 6, line_y, x + col_w - 12, line_y), fill=self.ink, width=1)
                if self.rng.random() < 0.5:  # a typed-in value
                    self.text((box[2] + 12, self.y), self.line_text(col_w * 0.35, self.body), self.body)
            self.y += int(self.line_h * 1.6)
        self.y += int(self.line_h * 0.5)

    def table(self, rows: int, cols: int, x0: float | None = None, x1: float | None = None) -> None:
        x0 = self.left if x0 is None else x0
        x1 = self.right if x1 is None else x1
        row_h = int(self.line_h * 1.3)
        rows = min(rows, max(0, int((self.bottom - self.y - self.reserve) // row_h) - 1))
        if rows < 2:
            return
        widths = self.rng.dirichlet(np.full(cols, 3.0)) * (x1 - x0)
        xs = np.concatenate([[x0], x0 + np.cumsum(widths)])
        top = self.y
        for r in range(rows + 1):
            self.draw.line((x0, top + r * row_h, x1, top + r * row_h), fill=self.ink, width=1)
        for x in xs:
            self.draw.line((x, top, x, top + rows * row_h), fill=self.ink, width=1)
        for r in range(rows):
            for c in range(cols):
                if r == 0:
                    text = self.words(1).capitalize()
                elif c == cols - 1 or self.rng.random() < 0.3:
                    text = f"{self.rng.uniform(1, 999):.2f}"
                else:
                    text = self.line_text(widths[c] * 0.7, self.small)
                self.text(
                    (xs[c] + 4, top + r * row_h + row_h * 0.2), text, self.body if r == 0 else self.small
                )
        self.printed.append((int(x0), int(top), int(x1), int(top + rows * row_h)))
        self.y = top + rows * row_h + self.line_h

    reserve = 0  # vertical space kept free at the bottom for the signature blocks

    def sign_block(self, x: float, width: float, kind: str = "signature", label: str | None = None) -> int:
        """A slot above a printed line with a label below it; returns the block's height.

        With ``line_through`` the slot extends below the line, so the pasted object crosses it.
        """
        height_ratio = {"signature": (0.3, 0.42), "date": (0.35, 0.5), "initials": (0.6, 0.9)}[kind]
        slot_h = int(width * self.rng.uniform(*height_ratio))
        line_y = self.y + slot_h
        through = self.spec.line_through and self.rng.random() < 0.8
        bottom = line_y + int(slot_h * self.rng.uniform(0.15, 0.3)) if through else line_y - 2
        self.slots.append(Slot((int(x), int(self.y), int(x + width), int(bottom)), "sig", kind))
        self.draw.line((x, line_y, x + width, line_y), fill=self.ink, width=max(1, int(self.u * 1.5)))
        if label is None:
            label = {"signature": SIGN_LABELS[int(self.rng.integers(len(SIGN_LABELS)))], "date": "Date"}.get(
                kind, "Initials"
            )
        if self.script == "chinese":
            label = {"signature": "签字", "date": "日期"}.get(kind, "姓名缩写")
        below = max(bottom, line_y) + 4
        self.text((x, below), label, self.small)
        return below + int(self.small.size * 1.6) - self.y

    def sign_row(self, kinds: list[str], labels: list[str | None] | None = None) -> None:
        """Signature / date / initials blocks side by side across the text width."""
        gap = int(self.u * 30)
        share = np.array([{"signature": 1.0, "date": 0.55, "initials": 0.3}[k] for k in kinds])
        width = self.right - self.left - gap * (len(kinds) - 1)
        widths = share / share.sum() * width * self.rng.uniform(0.7, 0.95)
        widths = np.minimum(widths, self.w * np.where(share == 1.0, 0.4, 0.22))
        x = self.left + self.rng.uniform(0, max(width - widths.sum(), 0) * 0.3)
        tallest = 0
        for i, kind in enumerate(kinds):
            label = labels[i] if labels else None
            tallest = max(tallest, self.sign_block(x, float(widths[i]), kind, label))
            x += widths[i] + gap
        self.y += tallest + int(self.u * 15)


def _sign_row_height(layout: _Layout, kinds: list[str]) -> int:
    return int(layout.w * 0.4 * 0.42 * 1.35 + layout.small.size * 2 + layout.u * 20) if kinds else 0


def _compose(layout: _Layout, kind: str) -> None:
    """Lay out one kind of document; signature rows are planned first so they always fit."""
    rng, spec = layout.rng, layout.spec
    slots_wanted = int(rng.integers(1, spec.max_slots + 1))
    if kind == "letter":
        rows = [["signature"] + (["date"] if slots_wanted >= 2 else [])]
    elif kind == "form":
        rows = [["signature", "date"][: max(1, slots_wanted)]]
    elif kind == "contract":
        rows = [["signature", "signature"][: max(1, min(2, slots_wanted))]]
        if slots_wanted >= 3:
            rows.append(["date", "initials"])
    else:  # receipt
        rows = [["signature"]]
    layout.reserve = sum(_sign_row_height(layout, r) for r in rows)
    layout.bottom -= layout.reserve

    if kind != "receipt":
        layout.header()
    if kind == "letter":
        month = ("March", "June", "October")[int(rng.integers(3))]
        date = f"{int(rng.integers(1, 29))} {month} 20{rng.integers(10, 30)}"
        layout.text(
            (layout.right - layout.draw.textlength(date, font=layout.body), layout.y), date, layout.body
        )
        layout.y += layout.line_h * 2
        layout.paragraph(3)
        while layout.room(layout.line_h * 4):
            layout.paragraph(int(rng.integers(2, 6)))
            if rng.random() < 0.25:
                break
        layout.text(
            (layout.left, layout.y), "Sincerely," if layout.script == "latin" else "此致", layout.body
        )
        layout.y += layout.line_h
    elif kind == "form":
        layout.title("APPLICATION FORM" if layout.script == "latin" else "申请表")
        layout.field_rows(int(rng.integers(3, 8)), int(rng.integers(1, 3)))
        if spec.tables and layout.room(layout.line_h * 5):
            layout.table(int(rng.integers(3, 7)), int(rng.integers(3, 6)))
        layout.paragraph(int(rng.integers(1, 4)))
    elif kind == "contract":
        layout.title("SERVICE AGREEMENT" if layout.script == "latin" else "合同")
        clause = 1
        while layout.room(layout.line_h * 4):
            layout.text((layout.left, layout.y), f"{clause}.", layout.body)
            layout.paragraph(int(rng.integers(2, 5)), x0=layout.left + layout.body_px * 2)
            clause += 1
    else:
        x0 = layout.w * rng.uniform(0.15, 0.3)
        x1 = layout.w - x0
        layout.left, layout.right = int(x0), int(x1)
        layout.title("RECEIPT" if layout.script == "latin" else "收据")
        layout.paragraph(2)
        layout.table(int(rng.integers(4, 12)), 3)
        total = f"TOTAL  {rng.uniform(10, 9999):.2f}"
        layout.text(
            (x1 - layout.draw.textlength(total, font=layout.heading), layout.y), total, layout.heading
        )
        layout.y += int(layout.heading.size * 2)

    layout.bottom += layout.reserve
    layout.y += int(layout.line_h * rng.uniform(1.0, 3.0))  # the signature row follows the text
    labels = {"contract": ["Party A", "Party B"]}.get(kind)
    for i, row in enumerate(rows):
        layout.sign_row(row, labels if i == 0 and labels and row == ["signature", "signature"] else None)


# ------------------------------------------------------------------------------------------ clutter


def overlaps(a: Box, b: Box, margin: int = 0) -> bool:
    """Whether boxes ``a`` and ``b`` (exclusive ends) overlap, with ``b`` grown by ``margin`` pixels."""
    return a[0] < b[2] + margin and b[0] - margin < a[2] and a[1] < b[3] + margin and b[1] - margin < a[3]


def free_box(
    rng: np.random.Generator,
    size: tuple[int, int],
    width: int,
    height: int,
    avoid: list[Box],
    margin: int = 4,
    tries: int = 60,
    region: Box | None = None,
) -> Box | None:
    """A random ``width`` x ``height`` box inside a page of ``size`` (H, W) overlapping none of ``avoid``
    (each grown by ``margin``); inside ``region`` ``(x0, y0, x1, y1)`` of the page when one is given."""
    h, w = size
    rx0, ry0, rx1, ry1 = (0, 0, w, h) if region is None else region
    rx0, ry0, rx1, ry1 = max(int(rx0), 0), max(int(ry0), 0), min(int(rx1), w), min(int(ry1), h)
    if width >= rx1 - rx0 or height >= ry1 - ry0:
        return None
    for _ in range(tries):
        x, y = int(rng.integers(rx0, rx1 - width)), int(rng.integers(ry0, ry1 - height))
        box = (x, y, x + width, y + height)
        if not any(overlaps(box, other, margin) for other in avoid):
            return box
    return None


def _paste_distractor(
    page: np.ndarray, rng: np.random.Generator, avoid: list[Box], unit: float, kinds: tuple[str, ...]
) -> np.ndarray:
    """Handwriting of one of ``kinds`` (date, initials) somewhere off the slots, in pen ink; unannotated."""
    kind = kinds[int(rng.integers(len(kinds)))]
    gray = handwritten_date(rng, int(unit * 30)) if kind == "date" else handwritten_initials(rng)
    width = max(int(unit * rng.uniform(90, 170)), 24)
    box = free_box(rng, page.shape[:2], width, int(width * rng.uniform(0.3, 0.45)), avoid)
    if box is None:
        return page
    avoid.append(box)
    return fuse(page, gray, None, box, "ink", rng).page


def add_clutter(
    page: np.ndarray,
    template: Template,
    spec: LevelSpec,
    rng: np.random.Generator,
    distractor_kinds: tuple[str, ...] = ("date", "initials"),
) -> np.ndarray:
    """Stamps, fingerprints and handwritten distractors of a level; overlays go to ``template.overlays``.

    ``distractor_kinds`` limits the unannotated handwriting: a set that labels dates must not also carry
    unlabelled ones (an empty tuple: no handwritten distractors).
    """
    h, w = page.shape[:2]
    unit = h / 1000.0
    sig_boxes = [s.box for s in template.slots]
    avoid = list(sig_boxes)
    for _ in range(spec.page_stamps):
        d = max(int(unit * rng.uniform(90, 150)), 24)  # stamps and prints stay legible on tiny pages
        box = free_box(rng, (h, w), d, d, avoid)
        if box is not None:
            rgb, alpha = draw_stamp(rng, d)
            page = composite(page, rgb, alpha, box[0], box[1])
            avoid.append(box)
    covered = [s for s in template.slots if s.kind == "signature"]
    for _ in range(int(rng.integers(spec.slot_stamps[0], spec.slot_stamps[1] + 1))):
        if not covered:
            break
        x0, y0, x1, y1 = covered[int(rng.integers(len(covered)))].box
        d = max(int(min(max((y1 - y0) * rng.uniform(1.1, 1.6), unit * 80), w * 0.25)), 24)
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)  # stamp centre on the slot
        rgb, alpha = draw_stamp(rng, d)
        template.overlays.append(Overlay(rgb, alpha, int(cx - d / 2), int(cy - d / 2)))
    for _ in range(int(rng.integers(spec.fingerprints[0], spec.fingerprints[1] + 1))):
        size = max(int(unit * rng.uniform(50, 80)), 16)
        anchor = sig_boxes[int(rng.integers(len(sig_boxes)))] if sig_boxes else (0, 0, w, h)
        x = int(np.clip(anchor[2] + rng.uniform(-0.2, 0.3) * size, 0, w - size))
        y = int(np.clip(anchor[1] + rng.uniform(-0.5, 0.5) * size, 0, h - size))
        rgb, alpha = draw_fingerprint(rng, size)
        page = composite(page, rgb, alpha, x, y)
    count = int(rng.integers(spec.distractors[0], spec.distractors[1] + 1)) if distractor_kinds else 0
    for _ in range(count):
        page = _paste_distractor(page, rng, avoid, unit, distractor_kinds)
    return page


def make_template(
    rng: np.random.Generator,
    level: int = 1,
    kind: str | None = None,
    page_size: tuple[int, int] = PAGE_SIZE,
    distractor_kinds: tuple[str, ...] = ("date", "initials"),
) -> Template:
    """A blank document of ``kind`` (random among the level's kinds when ``None``) at difficulty ``level``.

    ``page_size`` is (H, W) in pixels; layout, fonts and clutter scale with the height, so a 300-dpi A4 page
    (:data:`A4_300DPI`) looks like the default one at higher resolution. ``distractor_kinds``: which
    unannotated handwriting (``date``, ``initials``) levels 3-5 may scatter over the page.
    """
    spec = level_spec(level)
    h, w = (int(v) for v in page_size)
    if h < 200 or w < 150:
        raise ValueError(f"page_size: expected at least (200, 150) (H, W), got {page_size}")
    kind = spec.kinds[int(rng.integers(len(spec.kinds)))] if kind is None else kind
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    layout = _Layout(rng, (h, w), spec)
    _compose(layout, kind)
    slots = [s for s in layout.slots if s.box[2] <= w and s.box[3] <= h]
    if spec.bg_slots:
        body = [b for b in layout.printed if b[3] - b[1] < layout.line_h * 2]
        for _ in range(spec.bg_slots):
            width = int(w * rng.uniform(0.2, 0.35))
            box = free_box(rng, (h, w), width, int(width * rng.uniform(0.3, 0.4)), [s.box for s in slots])
            if box is not None and any(overlaps(box, b) for b in body):
                slots.append(Slot(box, "bg", "signature"))
    template = Template(np.asarray(layout.image, dtype=np.uint8).copy(), slots, kind, level)
    template.page = add_clutter(template.page, template, spec, rng, tuple(distractor_kinds))
    return template


# ------------------------------------------------------------------------------------------ user templates


def _labelme_image(doc: dict, json_path: Path, image_path: str | os.PathLike | None) -> np.ndarray:
    """The page: ``image_path``, else ``imagePath`` next to the JSON, else the embedded ``imageData``."""
    if image_path is None and doc.get("imagePath"):
        candidate = json_path.parent / str(doc["imagePath"])
        if candidate.exists() or not doc.get("imageData"):
            image_path = candidate
    if image_path is not None:
        path = Path(image_path)
        if not path.exists():
            raise FileNotFoundError(f"{json_path}: template image {path} does not exist")
        return read_rgb(path)
    if doc.get("imageData"):
        data = io.BytesIO(base64.b64decode(doc["imageData"]))
        data.name = f"{json_path} (imageData)"
        return read_rgb(data)
    raise ValueError(f"{json_path}: no image (pass image_path, or set imagePath or imageData in the JSON)")


def load_labelme_template(
    json_path: str | os.PathLike, image_path: str | os.PathLike | None = None
) -> Template:
    """A user template from a labelme JSON: every shape labelled ``sig`` or ``bg`` becomes a slot.

    A shape's slot is the bounding box of its ``points`` (rectangles have 2, polygons 3 or more), clipped
    to the page. Errors name the file and the shape index.
    """
    json_path = Path(json_path)
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{json_path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise ValueError(f"{json_path}: not a labelme file (expected a 'shapes' list)")
    page = _labelme_image(doc, json_path, image_path)
    h, w = page.shape[:2]
    slots = []
    for i, shape in enumerate(doc["shapes"]):
        where = f"{json_path}: shapes[{i}]"
        label = shape.get("label") if isinstance(shape, dict) else None
        if label not in SLOT_LABELS:
            raise ValueError(f"{where}: label {label!r} is not one of {SLOT_LABELS}")
        try:
            points = np.asarray(shape["points"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where}: 'points' must be a list of [x, y] pairs") from None
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2 or not np.isfinite(points).all():
            raise ValueError(
                f"{where}: 'points' must hold at least 2 finite [x, y] pairs, got {shape['points']!r}"
            )
        x0, y0 = np.clip(points.min(axis=0), 0, [w, h])
        x1, y1 = np.clip(points.max(axis=0), 0, [w, h])
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise ValueError(f"{where}: the shape covers less than 4 x 4 pixels of the {w}x{h} page")
        slots.append(Slot((int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))), label, "signature"))
    if not slots:
        raise ValueError(f"{json_path}: no 'sig' or 'bg' shapes to paste into")
    return Template(page, slots, "user", 0, name=json_path.stem)
