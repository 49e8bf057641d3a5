"""Level 6: bilevel business correspondence like the Tobacco800 scans (typed letters, memos, faxes).

The L1-L5 pages imitate AOSSig: colour forms and contracts, signatures filling a slot, JPEG scans and
photos. Real archive pages differ in ways a detector trained on those never sees (docs/detection_real.md):
black-and-white Group-4 scans of typed or word-processed letters, memos and fax cover sheets, the signature
a free-hand scrawl between a "Sincerely," and a typed name (often running over it), 10-40 % of the page
width, thin strokes broken by the thresholding, speckle, skew and photocopy generations, and pages with
no signature at all (about 40 % of Tobacco800) but with handwritten notes, initials and dates, and the
look-alikes of :mod:`~sigbench.documents.lookalikes`: Bates numbers along an edge, script letterheads and
drawn logos, rubber stamps, marginal notes.

:func:`business_page` draws one such page from a generator: a layout (:func:`_letter`, :func:`_memo`,
:func:`_fax`), signatures from any :class:`~sigbench.documents.sources.SignatureSource` pasted at sizes
measured on real pages, unannotated look-alikes kept clear of every signature's box, then
:func:`bilevel_capture`. Boxes are the bounds of each signature's ink *after* capture (warped with the
page), so ink never leaves its box; :func:`business_page_layers` also returns where the look-alikes' ink
ended up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from sigbench.documents.formats import Annotation
from sigbench.documents.fusion import fuse
from sigbench.documents.handwriting import date_text, handwritten_date, handwritten_initials
from sigbench.documents.lookalikes import bates_number, drawn_logo, marginal_note, script_name
from sigbench.documents.sources import SignatureSource
from sigbench.documents.stamps import composite, draw_box_stamp, draw_stamp
from sigbench.documents.templates import WORDS, free_box, overlaps
from sigbench.documents.typeset import Font, text_font

#: The level number of these pages in the synthesised-document layout (``<root>/L6/...``).
BUSINESS_LEVEL = 6
#: Width / height of Tobacco800 pages (2592 x 3300, 1200 x 1575, 1728 x 2292 ... are 0.75-0.80).
ASPECT_RANGE = (0.75, 0.80)
#: Signature width as a fraction of the page width on tobacco800_dev: 5/50/95 % = 0.10 / 0.23 / 0.36.
SIGNATURE_WIDTH = (0.23, 0.075, 0.08, 0.42)  # mean, sd, low, high of a clipped normal
SIGNED_FRACTION = 0.62  # 122 of the 200 tobacco800_dev pages carry a signature
# Look-alikes (unannotated). Rates counted by eye on thumbnails of 25 tobacco800_dev pages (every fourth of
# the tuning half, docs/detection_real.md; rough counts): they are the marks a detector trained on typed
# letters alone calls signatures, so pages must show them about as often as the archive does.
#: A Bates / document-control number: on 12 of the 25 pages (the litigation archive numbers every page).
BATES_P = 0.5
#: Of those, the share running up the right edge (turned 90 degrees); the rest sit at the bottom right.
BATES_VERTICAL_P = 0.7
#: Letterheads set as a script name (Lorillard, The American Tobacco Company) or with a drawn logo (Philip
#: Morris): 8 of the 25 pages; the rest are plain capitals, optionally beside a solid block.
SCRIPT_LETTERHEAD_P = 0.3
#: A mail room's rubber stamp (RECEIVED over a date; a round seal in ROUND_STAMP_P of them): rarer on the
#: archive pages (1-2 of 25) but a dense, isolated mark, so shown somewhat more often than seen.
STAMP_P = 0.12
ROUND_STAMP_P = 0.3
#: A handwritten note in a margin: 5 of the 25 pages (besides 0-2 initials / dates anywhere on any page).
MARGINAL_NOTE_P = 0.2
#: Gap kept between a look-alike and a signature's box, as a fraction of the page height. The capture's
#: skew (sd 0.6 degrees) grows a signature's box by up to its width x sin(angle) -- about 0.02 of the page
#: height for the widest signature at 3 degrees -- so a look-alike this far away never falls inside it.
LOOKALIKE_GAP = 0.03
CLOSINGS = (
    "Sincerely,",
    "Sincerely yours,",
    "Very truly yours,",
    "Yours truly,",
    "Best regards,",
    "Regards,",
)
FIRST = (
    "John",
    "Mary",
    "Robert",
    "James",
    "Linda",
    "William",
    "Susan",
    "Charles",
    "Karen",
    "Thomas",
    "H. S.",
)
LAST = ("Smith", "Johnson", "Molloy", "Brown", "Miller", "Wilson", "Moore", "Taylor", "Anderson", "Jessup")
TITLES = (
    "Vice President",
    "Director, Research",
    "General Counsel",
    "Manager",
    "Senior Scientist",
    "Secretary",
)


@dataclass
class _Sheet:
    """A white page being typed top to bottom: cursor, margins, fonts and the reserved signature spots."""

    rng: np.random.Generator
    image: Image.Image
    draw: ImageDraw.ImageDraw
    left: int
    right: int
    y: int
    body: Font
    body_px: int
    spots: list[tuple[int, int, int]]  # (x, y_top, y_name): room for a signature above a typed name
    marks: list[tuple[np.ndarray, tuple[int, int, int, int]]] = dataclasses.field(default_factory=list)
    # (grey image, box): drawn marks (script names, logos) pasted later as look-alikes, off signatures

    @property
    def w(self) -> int:
        return self.image.width

    @property
    def h(self) -> int:
        return self.image.height

    def line_h(self) -> int:
        return int(self.body_px * self.rng.uniform(1.3, 1.7))

    def text(self, x: float, text: str, font: Font | None = None, advance: bool = True) -> None:
        self.draw.text((x, self.y), text, font=font or self.body, fill=0)
        if advance:
            self.y += self.line_h()

    def words(self, n: int) -> str:
        return " ".join(WORDS[i] for i in self.rng.integers(len(WORDS), size=n))

    def paragraph(self, lines: int, indent: bool = False) -> None:
        width = self.right - self.left
        for i in range(lines):
            if self.y > self.h * 0.9:
                return
            target = width * (self.rng.uniform(0.3, 0.85) if i == lines - 1 else self.rng.uniform(0.9, 1.0))
            text = self.words(3)
            while self.draw.textlength(text, font=self.body) < target:
                text += " " + self.words(1)
            x = self.left + (self.body_px * 3 if indent and i == 0 else 0)
            self.text(x, text)
        self.y += self.line_h() // 2

    def name(self) -> str:
        return f"{FIRST[self.rng.integers(len(FIRST))]} {LAST[self.rng.integers(len(LAST))]}"

    def letterhead(self) -> None:
        """Company name (large, often capitals), an address line, sometimes a logo and a rule.

        In :data:`SCRIPT_LETTERHEAD_P` of letterheads the name is a script one or the logo a drawn mark
        (:mod:`~sigbench.documents.lookalikes`); both are kept as :attr:`marks` and pasted with the other
        look-alikes, so their ink is known.
        """
        company = " ".join(w.capitalize() for w in self.words(int(self.rng.integers(1, 4))).split())
        company = company.upper() if self.rng.random() < 0.6 else company
        name_px = int(self.body_px * self.rng.uniform(1.5, 2.6))
        font = text_font(self.rng, name_px)
        centred = self.rng.random() < 0.6
        drawn = self.rng.random() < SCRIPT_LETTERHEAD_P
        if drawn and self.rng.random() < 0.5:  # a script name instead of the typed one
            mark = script_name(self.rng, int(name_px * self.rng.uniform(1.0, 1.6)), company.title())
            mw = min(int(self.w * self.rng.uniform(0.25, 0.5)), self.right - self.left)
            mh = max(8, int(mw * mark.shape[0] / max(mark.shape[1], 1)))
            x = (self.w - mw) // 2 if centred else self.left
            self.marks.append((mark, (x, self.y, x + mw, self.y + mh)))
            self.y += mh + self.line_h() // 3
        else:
            width = self.draw.textlength(company, font=font)
            x = (self.w - width) / 2 if centred else self.left
            if drawn or self.rng.random() < 0.4:  # a logo beside the name: drawn, or a solid block
                side = int(self.body_px * self.rng.uniform(2.0, 3.5))
                lx = max(2, int(x - side * 1.3)) if centred else self.left
                x = x if centred else self.left + side * 1.3
                if drawn:
                    logo = drawn_logo(self.rng, side)
                    lw = int(side * logo.shape[1] / logo.shape[0])
                    lx = max(2, int(x - lw - side * 0.3)) if centred else lx
                    x = x if centred else lx + lw + side * 0.3
                    self.marks.append((logo, (lx, self.y, lx + lw, self.y + side)))
                else:
                    self.draw.rectangle((lx, self.y, lx + side, self.y + side), fill=0)
            self.text(x, company, font)
        small = text_font(self.rng, max(6, int(self.body_px * 0.8)))
        address = f"{int(self.rng.integers(1, 9999))} {self.words(2).title()} Avenue, {self.words(1).title()}"
        ax = (self.w - self.draw.textlength(address, font=small)) / 2 if centred else self.left
        self.text(ax, address, small)
        if self.rng.random() < 0.6:
            self.draw.line((self.left, self.y, self.right, self.y), fill=0, width=max(1, self.body_px // 8))
        self.y += self.line_h() * int(self.rng.integers(1, 3))

    def signature_block(self, closing: bool = True) -> None:
        """Closing line, room for the signature, typed name and title (the spot is remembered)."""
        x = self.left if self.rng.random() < 0.5 else int(self.w * self.rng.uniform(0.45, 0.6))
        if closing:
            self.text(x, CLOSINGS[self.rng.integers(len(CLOSINGS))])
        top = self.y
        self.y += int(self.h * self.rng.uniform(0.04, 0.08))
        self.spots.append((x, top, self.y))
        self.text(x, self.name())
        if self.rng.random() < 0.7:
            self.text(x, TITLES[self.rng.integers(len(TITLES))])


def _new_sheet(rng: np.random.Generator, size: tuple[int, int]) -> _Sheet:
    h, w = size
    image = Image.new("L", (w, h), 255)
    body_px = max(8, int(h * rng.uniform(0.012, 0.017)))  # 10-12 pt type on a letter page
    return _Sheet(
        rng, image, ImageDraw.Draw(image), int(w * rng.uniform(0.08, 0.14)), int(w * rng.uniform(0.86, 0.92)),
        int(h * rng.uniform(0.04, 0.08)), text_font(rng, body_px), body_px, [],
    )  # fmt: skip


def _letter(sheet: _Sheet) -> None:
    rng = sheet.rng
    sheet.letterhead()
    sheet.text(sheet.left if rng.random() < 0.6 else sheet.w * 0.55, date_text(rng))
    sheet.y += sheet.line_h()
    for _ in range(int(rng.integers(3, 5))):  # inside address
        sheet.text(sheet.left, sheet.words(int(rng.integers(2, 4))).title())
    sheet.y += sheet.line_h() // 2
    sheet.text(sheet.left, f"Dear {sheet.name()}:")
    for _ in range(int(rng.integers(1, 4))):
        sheet.paragraph(int(rng.integers(2, 7)), indent=rng.random() < 0.4)
    sheet.signature_block()
    if rng.random() < 0.5 and sheet.y < sheet.h * 0.9:
        sheet.y += sheet.line_h()
        for i in range(int(rng.integers(1, 4))):
            sheet.text(sheet.left, ("cc: " if i == 0 else "    ") + sheet.name())


def _memo(sheet: _Sheet) -> None:
    rng = sheet.rng
    title = ("MEMORANDUM", "INTER-OFFICE MEMORANDUM", "M E M O R A N D U M")[rng.integers(3)]
    font = text_font(rng, int(sheet.body_px * rng.uniform(1.3, 2.0)))
    sheet.text((sheet.w - sheet.draw.textlength(title, font=font)) / 2, title, font)
    sheet.y += sheet.line_h()
    for field in ("TO:", "FROM:", "DATE:", "SUBJECT:"):
        value = (
            date_text(rng) if field == "DATE:" else sheet.name() if field != "SUBJECT:" else sheet.words(4)
        )
        sheet.text(sheet.left, field, advance=False)
        sheet.text(sheet.left + sheet.body_px * 7, value)
    sheet.draw.line((sheet.left, sheet.y, sheet.right, sheet.y), fill=0, width=max(1, sheet.body_px // 6))
    sheet.y += sheet.line_h()
    for _ in range(int(rng.integers(1, 4))):
        sheet.paragraph(int(rng.integers(2, 8)))
    if rng.random() < 0.5:
        sheet.signature_block(closing=False)


def _fax(sheet: _Sheet) -> None:
    rng = sheet.rng
    small = text_font(rng, max(6, int(sheet.body_px * 0.8)))
    header = f"{date_text(rng).upper()} {int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d} FROM "
    header += (
        f"{sheet.words(2).upper()}   TO {int(rng.integers(1e6, 1e7))}   PAGE.{int(rng.integers(1, 9)):03d}"
    )
    y = sheet.y
    sheet.y = max(2, int(sheet.h * 0.01))
    sheet.text(sheet.left * 0.5, header, small)
    sheet.y = y
    sheet.letterhead()
    title = ("FAX TRANSMITTAL", "FACSIMILE COVER SHEET", "TELECOPY")[rng.integers(3)]
    sheet.text(sheet.left, title, text_font(rng, int(sheet.body_px * 1.6)))
    rows, mid = int(rng.integers(4, 7)), sheet.left + (sheet.right - sheet.left) * 0.3
    top = sheet.y
    for field in ("TO:", "FROM:", "FAX NO.:", "PAGES:", "DATE:", "RE:")[:rows]:
        sheet.text(sheet.left + 4, field, advance=False)
        sheet.text(mid + 4, sheet.words(2).title())
    for yy in np.linspace(top - 2, sheet.y - 2, rows + 1):  # the form's table
        sheet.draw.line((sheet.left, yy, sheet.right, yy), fill=0, width=1)
    for xx in (sheet.left, mid, sheet.right):
        sheet.draw.line((xx, top - 2, xx, sheet.y - 2), fill=0, width=1)
    sheet.y += sheet.line_h()
    sheet.paragraph(int(rng.integers(1, 6)))
    if rng.random() < 0.6:
        sheet.signature_block(closing=rng.random() < 0.5)


LAYOUTS: dict[str, Callable[[_Sheet], None]] = {"letter": _letter, "memo": _memo, "fax": _fax}
LAYOUT_WEIGHTS = (0.6, 0.2, 0.2)


def _signature_width(rng: np.random.Generator, page_w: int) -> int:
    mean, sd, low, high = SIGNATURE_WIDTH
    return int(page_w * float(np.clip(rng.normal(mean, sd), low, high)))


Box = tuple[int, int, int, int]


def _handwriting(rng: np.random.Generator, unit: int) -> np.ndarray:
    """Unannotated handwriting: initials, a date or a short note (grey, dark on light)."""
    kind = rng.integers(3)
    if kind == 0:
        return handwritten_initials(rng)
    if kind == 1:
        return handwritten_date(rng, unit)
    words = " ".join(WORDS[i] for i in rng.integers(len(WORDS), size=int(rng.integers(1, 4))))
    return handwritten_date(rng, unit, text=words)


@dataclass
class _Marks:
    """Look-alikes being added to a page: the page, their ink so far and the boxes they must stay off."""

    page: np.ndarray
    ink: np.ndarray
    avoid: list[Box]
    gap: int

    def clear(self, box: Box) -> bool:
        return not any(overlaps(box, other, self.gap) for other in self.avoid)

    def paste(self, rng: np.random.Generator, gray: np.ndarray, box: Box | None) -> None:
        """Paste a grey mark into ``box`` (skipped when there is none or it comes near a signature)."""
        if box is None or not self.clear(box):
            return
        fused = fuse(self.page, gray, None, box, "alpha", rng, (0.95, 1.0))
        self.page = fused.page
        self.ink |= fused.mask

    def place(
        self,
        rng: np.random.Generator,
        gray: np.ndarray,
        width: int,
        height: int | None = None,
        region: Box | None = None,
    ) -> None:
        """Paste ``gray`` into a free ``width`` x ``height`` box (the height follows the mark's aspect when
        not given), inside ``region`` when given."""
        if height is None:
            height = int(width * gray.shape[0] / max(gray.shape[1], 1))
        box = free_box(
            rng, self.ink.shape, max(6, width), max(6, height), self.avoid, self.gap, region=region
        )
        self.paste(rng, gray, box)

    def stamp(self, rng: np.random.Generator, rgb: np.ndarray, alpha: np.ndarray) -> None:
        """Press a stamp (``rgb`` + ``alpha``) at a free place; its ink is where alpha is strong."""
        h, w = alpha.shape
        box = free_box(rng, self.ink.shape, w, h, self.avoid, self.gap)
        if box is None:
            return
        x, y = box[0], box[1]
        self.page = composite(self.page, rgb, alpha, x, y)
        self.ink[y : y + h, x : x + w] |= alpha > 0.2


def _lookalikes(
    rng: np.random.Generator, page: np.ndarray, sheet_marks: list[tuple[np.ndarray, Box]], avoid: list[Box]
) -> tuple[np.ndarray, np.ndarray]:
    """Add the unannotated look-alikes (rates: the module constants) off every box in ``avoid``.

    Returns the page and the look-alikes' ink (bool).
    """
    h, w = page.shape[:2]
    marks = _Marks(page, np.zeros((h, w), bool), avoid, int(LOOKALIKE_GAP * h) + 4)
    for gray, box in sheet_marks:  # script names and logos the layout made room for
        marks.paste(rng, gray, box)
    if rng.random() < BATES_P:
        number = bates_number(rng, max(8, int(h * rng.uniform(0.008, 0.014))))
        length = int(h * rng.uniform(0.12, 0.22))
        if rng.random() < BATES_VERTICAL_P:  # up the right edge, read from the bottom
            turned = np.ascontiguousarray(np.rot90(number))
            girth = int(length * turned.shape[1] / turned.shape[0])
            marks.place(rng, turned, girth, length, region=(int(w * 0.9), int(h * 0.3), w - 2, h - 2))
        else:
            marks.place(rng, number, length, region=(w // 2, int(h * 0.9), w - 2, h - 2))
    if rng.random() < STAMP_P:
        if rng.random() < ROUND_STAMP_P:
            rgb, alpha = draw_stamp(rng, max(16, int(w * rng.uniform(0.08, 0.14))))
        else:
            rgb, alpha = draw_box_stamp(rng, max(12, int(h * rng.uniform(0.025, 0.045))))
        marks.stamp(rng, rgb, alpha)
    unit = max(12, int(h * 0.03))
    if rng.random() < MARGINAL_NOTE_P:
        regions = (
            (0, 0, w, int(h * 0.12)),  # the top margin
            (0, 0, int(w * 0.25), h),  # the left margin, running into the text
            (int(w * 0.7), 0, w, h),  # the right margin
            (0, int(h * 0.88), w, h),  # the bottom margin
        )
        note = marginal_note(rng, int(unit * rng.uniform(0.7, 1.1)))
        marks.place(
            rng, note, int(w * rng.uniform(0.12, 0.28)), region=regions[int(rng.integers(len(regions)))]
        )
    for _ in range(int(rng.integers(0, 3))):  # handwritten notes, initials, dates anywhere
        marks.place(rng, _handwriting(rng, unit), int(w * rng.uniform(0.05, 0.2)))
    return marks.page, marks.ink


def _speckle(rng: np.random.Generator, shape: tuple[int, int], density: float) -> np.ndarray:
    """Black specks (1-3 px blobs) at ``density`` per pixel: dust and toner on a copied page."""
    h, w = shape
    count = int(h * w * density)
    dots = np.zeros(shape, np.uint8)
    ys, xs = rng.integers(0, h, count), rng.integers(0, w, count)
    dots[ys, xs] = 255
    if rng.random() < 0.5:
        dots = cv2.dilate(dots, np.ones((2, 2), np.uint8))
    return dots > 0


def bilevel_capture(
    gray: np.ndarray, masks: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Black-and-white scan of a grey page: skew, blur + noise + a global threshold (as a Group-4 fax or
    archive scanner does), 0-2 photocopy generations, speckle. ``masks`` (bool) are skewed along.

    Returns the page (uint8, 0 or 255) and the warped masks, each restricted to pixels that stayed black
    (ink the threshold erased is no longer on the page).
    """
    h, w = gray.shape
    angle = float(rng.normal(0, 0.6))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    page = cv2.warpAffine(gray, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255).astype(np.float32)
    warped = [
        cv2.warpAffine(m.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0) > 0
        for m in masks
    ]
    for _ in range(1 + int(rng.integers(0, 3))):  # the scan, then photocopy generations
        page = cv2.GaussianBlur(page, (0, 0), float(rng.uniform(0.3, 0.9)))
        page += rng.normal(0, rng.uniform(5, 30), page.shape).astype(np.float32)
        page = np.where(page < rng.uniform(140, 205), 0.0, 255.0).astype(np.float32)
    black = page < 128
    black |= _speckle(rng, (h, w), float(rng.uniform(0, 6e-4)))
    if rng.random() < 0.3:  # a dark band at a page edge: the copier lid or a punched margin
        band = int(w * rng.uniform(0.005, 0.02))
        black[:, :band] |= rng.random((h, band)) < 0.8
    out = np.where(black, 0, 255).astype(np.uint8)
    return out, [m & black for m in warped]


@dataclass(frozen=True)
class BusinessPage:
    """A level-6 page: ``image`` RGB uint8 (0 / 255), ``mask`` uint8 255 on signature ink, the
    signatures' ``annotations``, and ``lookalikes`` (bool): the unannotated look-alikes' ink after capture."""

    image: np.ndarray
    mask: np.ndarray
    annotations: list[Annotation]
    lookalikes: np.ndarray


def business_page(
    rng: np.random.Generator,
    source: SignatureSource,
    long_side: int = 1000,
) -> tuple[np.ndarray, np.ndarray, list[Annotation]]:
    """One bilevel business page: ``(RGB uint8 page, uint8 mask 255 on signature ink, annotations)``
    (:func:`business_page_layers` without the look-alikes' ink)."""
    page = business_page_layers(rng, source, long_side)
    return page.image, page.mask, page.annotations


def business_page_layers(
    rng: np.random.Generator, source: SignatureSource, long_side: int = 1000
) -> BusinessPage:
    """One bilevel business page with the look-alikes' ink (see :class:`BusinessPage`).

    ``long_side`` is the page height in pixels; the width follows the aspect of real letter scans.
    Pages are unsigned with the probability measured on tobacco800_dev; signed ones carry one signature
    (two on one page in eight), sized from the real width distribution, starting in the space above the
    typed name and, in about a third of pages, running over it. Look-alikes come after the signatures and
    keep :data:`LOOKALIKE_GAP` from every signature's box.
    """
    h = int(long_side)
    w = int(h * rng.uniform(*ASPECT_RANGE))
    sheet = _new_sheet(rng, (h, w))
    layout = str(rng.choice(list(LAYOUTS), p=LAYOUT_WEIGHTS))
    LAYOUTS[layout](sheet)
    page = np.asarray(sheet.image.convert("RGB"))
    signed = rng.random() < SIGNED_FRACTION
    spots = list(sheet.spots)
    if signed and not spots:  # a signature somewhere in the lower half of an unsigned layout
        spots = [(int(w * rng.uniform(0.1, 0.5)), int(h * rng.uniform(0.5, 0.8)), 0)]
    if signed and rng.random() < 0.12:
        spots.append((int(w * rng.uniform(0.5, 0.6)), spots[0][1], spots[0][2]))
    masks, names, boxes = [], [], []
    for x, top, name_y in spots[: 2 if signed else 0]:
        sample = source.sample(rng)
        sig_h, sig_w = sample.image.shape
        box_w = _signature_width(rng, w)
        box_h = max(8, int(box_w * sig_h / max(sig_w, 1)))
        gap = max(name_y - top, box_h) if name_y else box_h
        over_name = int(box_h * rng.uniform(0, 0.4)) if rng.random() < 0.35 else 0
        y0 = top + int((gap - box_h) * rng.uniform(0.2, 1.0)) + over_name
        x0 = int(np.clip(x + rng.uniform(-0.3, 0.5) * box_w, 2, w - box_w - 2))
        y0 = int(np.clip(y0, 2, h - box_h - 2))
        fused = fuse(page, sample.image, None, (x0, y0, x0 + box_w, y0 + box_h), "alpha", rng, (0.95, 1.0))
        page = fused.page
        masks.append(fused.mask)
        names.append(sample.name)
        boxes.append(fused.box)
    page, lookalike_ink = _lookalikes(rng, page, sheet.marks, boxes)
    gray = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    bw, inked = bilevel_capture(gray, [*masks, lookalike_ink], rng)
    annotations = []
    full_mask = np.zeros((h, w), np.uint8)
    for mask, name in zip(inked[:-1], names, strict=True):
        ys, xs = np.nonzero(mask)
        if len(ys) < 10:  # thresholded away: no longer a visible signature
            continue
        full_mask[mask] = 255
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        annotations.append(Annotation.from_box(*box, name=name.replace(",", "_"), slot_label="sig"))
    return BusinessPage(cv2.cvtColor(bw, cv2.COLOR_GRAY2RGB), full_mask, annotations, inked[-1])
