"""``sigbench-synth``: documents with pasted signatures, in the AOSSig layout plus COCO and YOLO exports.

One page = a template (:mod:`templates`, or a user's labelme template) + a signature in every signature slot
(+ optionally more at random free places, slot label ``bg``) by one fusion (:mod:`fusion`) + the
SignVerOD objects when asked for (handwritten ``initials`` and ``date`` s, black ``redaction`` boxes)
+ the level's overlays (stamps over signatures) + a capture simulation (:mod:`capture`).

Layout written by :func:`synthesize_dataset` (the contract with the detection and segmentation tasks)::

    <root>/synth_config.json                    the config that made the set (written last)
    <root>/L<k>/data/{training,test}/<name>.jpg  pages (RGB, JPEG quality 95)
    <root>/L<k>/anno_label/{training,test}/<name>.txt   AOSSig quads + ``name,slot-label``
    <root>/L<k>/anno_mask/{training,test}/<name>.png    255 on the ink of ``signature`` objects
    <root>/coco/{training,test}.json             file_name relative to <root>, categories = LABELS
    <root>/yolo/{training,test}/L<k>_<name>.txt, yolo/classes.txt

``<name>`` is ``<fusion>_L<k>_<capture>_ink<c>_n<noise>_<index>``: ``ink0`` = the signature's own grey
(alpha, Poisson), ``ink1..`` = :data:`fusion.INK_COLORS` in order, the last index a random dark ink.

Every page is a pure function of ``(seed, index)`` and the config: the set is byte-identical for any number
of workers, and the whole folder is written under a temporary name and renamed at the end.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from filelock import FileLock
from joblib import Parallel, delayed

from sigbench.atomic import atomic_dir, remove_stale_temps
from sigbench.cachekey import config_key, digest, module_sources
from sigbench.data.synthetic.dataset import GENERATOR_VERSION
from sigbench.documents.business import BUSINESS_LEVEL, business_page
from sigbench.documents.capture import CAPTURES, simulate_capture, transform_points
from sigbench.documents.fonts import NOT_TEXT_FONTS, font_book
from sigbench.documents.formats import LABELS, Annotation, Page, to_yolo_lines, write_coco, write_quads
from sigbench.documents.fusion import FUSIONS, Box, fuse
from sigbench.documents.handwriting import handwritten_date, handwritten_initials
from sigbench.documents.sources import SignatureSource, make_source
from sigbench.documents.templates import (
    A4_300DPI,
    LEVELS,
    PAGE_SIZE,
    Template,
    add_clutter,
    free_box,
    level_spec,
    load_labelme_template,
    make_template,
)
from sigbench.progress import ProgressBar

log = logging.getLogger(__name__)

#: Bump when a change alters generated pages in a way the code digest of the cache key would not catch.
SYNTH_VERSION = 1
SPLITS = ("training", "test")
CONFIG_FILE = "synth_config.json"
JPEG_QUALITY = 95
PAGE_SIZES = {"default": PAGE_SIZE, "a4_300dpi": A4_300DPI}
#: Shrink after fitting a template slot: AOSSig's 0.9-0.95 for signatures; short dates and initials fill
#: their slots far less (a date as large as its field would dwarf the printed text around it).
SCALES: dict[str, tuple[float, float]] = {
    "signature": (0.9, 0.95),
    "date": (0.45, 0.75),
    "initials": (0.5, 0.8),
}


@dataclass
class SynthPage:
    """One synthesised page: RGB image, uint8 mask (255 = signature ink), annotations and its file stem."""

    image: np.ndarray
    mask: np.ndarray
    annotations: list[Annotation]
    name: str
    level: int


# ------------------------------------------------------------------------------------------ config


def _plain(value: Any) -> Any:
    """Plain Python containers from OmegaConf ones (or any mapping / sequence), for hashing and JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, Sequence) and not isinstance(value, str)):
        return [_plain(v) for v in value]
    return value


def _choice_list(name: str, values: Any, allowed: Sequence[Any]) -> list[Any]:
    items = [values] if isinstance(values, (str, int)) else list(_plain(values))
    if not items:
        raise ValueError(f"{name}: needs at least one value out of {list(allowed)}")
    for item in items:
        if item not in allowed:
            raise ValueError(f"{name}: {item!r} is not one of {list(allowed)}")
    return list(dict.fromkeys(items))


def resolve_page_size(page_size: Any) -> tuple[int, int]:
    """``"default"`` (1000 x 707), ``"a4_300dpi"`` (3508 x 2480) or an explicit ``[H, W]``."""
    if isinstance(page_size, str):
        if page_size not in PAGE_SIZES:
            raise ValueError(f"page_size: expected one of {sorted(PAGE_SIZES)} or [H, W], got {page_size!r}")
        return PAGE_SIZES[page_size]
    try:
        h, w = (int(v) for v in _plain(page_size))
    except (TypeError, ValueError):
        raise ValueError(f"page_size: expected [H, W] or a name, got {page_size!r}") from None
    if h < 200 or w < 150:
        raise ValueError(f"page_size: expected at least [200, 150] (H, W), got {[h, w]}")
    return h, w


def synth_config(
    num_pages: int,
    levels: Sequence[int] = (1, 2, 3, 4, 5),
    test_fraction: float = 0.2,
    fusions: Sequence[str] = FUSIONS,
    capture: Sequence[str] = ("scan", "photo"),
    classes: Sequence[str] = ("signature",),
    page_size: str | Sequence[int] = "default",
    source: str | Mapping[str, Any] | SignatureSource = "synthetic",
    templates: Sequence[str] | None = None,
    random_places: int = 0,
    bilevel: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """The validated config of a set: everything that determines its bytes (not workers or progress)."""
    if isinstance(num_pages, bool) or not isinstance(num_pages, int) or num_pages < 1:
        raise ValueError(f"num_pages: expected an integer >= 1, got {num_pages!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction: expected a number in [0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    if isinstance(random_places, bool) or not isinstance(random_places, int) or random_places < 0:
        raise ValueError(f"random_places: expected an integer >= 0, got {random_places!r}")
    classes = _choice_list("classes", classes, LABELS)
    if "signature" not in classes:
        raise ValueError(f"classes: must include 'signature', got {classes}")
    if BUSINESS_LEVEL in _plain(levels if not isinstance(levels, int) else [levels]) and classes != [
        "signature"
    ]:
        raise ValueError(
            f"levels: level {BUSINESS_LEVEL} pages annotate signatures only, got classes {classes}"
        )
    made = make_source(_plain(source))  # a missing or refused folder fails here, before any page
    template_paths = [str(Path(p).expanduser().resolve()) for p in _plain(templates or [])]
    for path in template_paths:
        load_labelme_template(path)  # fail now, naming the file, not in a worker
    return {
        "num_pages": num_pages,
        "levels": sorted(_choice_list("levels", levels, [*sorted(LEVELS), BUSINESS_LEVEL])),
        "test_fraction": float(test_fraction),
        "fusions": _choice_list("fusions", fusions, FUSIONS),
        "capture": _choice_list("capture", capture, CAPTURES),
        "classes": [c for c in LABELS if c in classes],
        "page_size": list(resolve_page_size(page_size)),
        "source": made.config(),
        "source_spec": made.config() if made is source else _plain(source),
        "templates": template_paths,
        "random_places": random_places,
        "bilevel": bool(bilevel),
        "seed": seed,
    }


# ------------------------------------------------------------------------------------------ one page


def page_name(fusion: str, level: int, capture: str, color: int, noise: int, index: int) -> str:
    """``<fusion>_L<level>_<capture>_ink<color>_n<noise>_<index>`` (protocols.md sec. 9)."""
    return f"{fusion}_L{level}_{capture}_ink{color}_n{noise}_{index:06d}"


@functools.cache
def _user_template(path: str) -> Template:
    return load_labelme_template(path)


def _clean_name(text: str) -> str:
    """AOSSig lines are comma-separated: keep names free of commas and line breaks."""
    return text.replace(",", "_").replace("\n", " ").replace("\r", " ")


def _object_box(rng: np.random.Generator, size: tuple[int, int], kind: str, avoid: list[Box]) -> Box | None:
    """A free box for an object pasted off the template's slots, sized like its class on a real page."""
    w = size[1]
    width = {
        "signature": rng.uniform(0.2, 0.35),
        "date": rng.uniform(0.12, 0.2),
        "initials": rng.uniform(0.06, 0.12),
        "redaction": rng.uniform(0.1, 0.3),
    }[kind] * w
    ratio = {
        "signature": (0.3, 0.45),
        "date": (0.25, 0.35),
        "initials": (0.5, 0.8),
        "redaction": (0.06, 0.12),
    }
    height = width * rng.uniform(*ratio[kind])
    return free_box(rng, size, int(width), max(int(height), 6), avoid, margin=6)


def _handwriting(kind: str, rng: np.random.Generator, unit: float) -> np.ndarray:
    return handwritten_date(rng, int(unit * 30)) if kind == "date" else handwritten_initials(rng)


def synthesize_page(
    index: int,
    level: int,
    source: SignatureSource,
    seed: int = 0,
    fusions: Sequence[str] = FUSIONS,
    capture: Sequence[str] = ("scan", "photo"),
    classes: Sequence[str] = ("signature",),
    page_size: tuple[int, int] = PAGE_SIZE,
    templates: Sequence[str] = (),
    random_places: int = 0,
    bilevel: bool = False,
) -> SynthPage:
    """Page ``index`` of a set: drawn only from ``(seed, index)``, so any worker produces the same bytes.

    ``capture`` modes are narrowed to the level's preferred ones when they intersect (L1-L2 unwarped scans,
    L5 photos, see :mod:`templates`). Classes other than ``signature`` add SignVerOD objects: handwritten
    initials / dates (in the template's initials / date slots and at free places) and black redaction
    boxes; without them, initials and date slots of L3+ pages get unannotated handwriting (distractors).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), SYNTH_VERSION]))
    if level == BUSINESS_LEVEL:  # bilevel business correspondence: its own layouts and capture
        image, mask, found = business_page(rng, source, long_side=max(page_size))
        return SynthPage(image, mask, found, page_name("alpha", level, "bilevel", 0, 0, index), level)
    spec = level_spec(level)
    fusion = fusions[int(rng.integers(len(fusions)))]
    preferred = [c for c in capture if c in spec.captures] or list(capture)
    mode = preferred[int(rng.integers(len(preferred)))]
    distractors = tuple(
        k for k in ("date", "initials") if k not in classes
    )  # labelled kinds: never unlabelled
    if templates:
        user = _user_template(templates[int(rng.integers(len(templates)))])
        template = Template(user.page.copy(), list(user.slots), user.kind, level, [], user.name)
        template.page = add_clutter(template.page, template, spec, rng, distractors)
    else:
        template = make_template(rng, level, page_size=page_size, distractor_kinds=distractors)
    page = template.page
    size = page.shape[:2]
    unit = size[0] / 1000.0
    mask = np.zeros(size, dtype=bool)
    objects: list[tuple[Box, str, str, str]] = []  # (box, label, name, slot label)
    color = 0

    def paste(
        gray: np.ndarray, box: Box, label: str, name: str, slot_label: str, in_slot: bool = True
    ) -> None:
        nonlocal page, color
        fused = fuse(page, gray, None, box, fusion, rng, SCALES[label] if in_slot else SCALES["signature"])
        page = fused.page
        if label == "signature":
            mask[fused.mask] = True
            if fused.color >= 0 and color == 0:
                color = fused.color + 1
        objects.append((fused.box, label, _clean_name(name), slot_label))

    for slot in template.slots:
        if slot.kind == "signature":
            sample = source.sample(rng)
            paste(sample.image, slot.box, "signature", sample.name, slot.label)
        elif slot.kind in classes:
            paste(_handwriting(slot.kind, rng, unit), slot.box, slot.kind, slot.kind, slot.label)
        elif level >= 3 and rng.random() < 0.6:  # filled in, but not a class of this set: a distractor
            page = fuse(
                page, _handwriting(slot.kind, rng, unit), None, slot.box, "ink", rng, SCALES[slot.kind]
            ).page
    avoid = [s.box for s in template.slots]
    extra = ["signature"] * random_places
    extra += ["initials"] * int(rng.integers(0, 3)) if "initials" in classes else []
    extra += ["date"] * int(rng.integers(0, 3)) if "date" in classes else []
    extra += ["redaction"] * int(rng.integers(0, 3)) if "redaction" in classes else []
    for kind in extra:
        box = _object_box(rng, size, kind, avoid)
        if box is None:
            continue
        avoid.append(box)
        if kind == "redaction":
            page = page.copy()
            x0, y0, x1, y1 = box
            page[y0:y1, x0:x1] = rng.integers(0, 40)
            objects.append((box, "redaction", "redaction", "bg"))
        elif kind == "signature":
            sample = source.sample(rng)
            paste(sample.image, box, "signature", sample.name, "bg")
        else:
            paste(_handwriting(kind, rng, unit), box, kind, kind, "bg", in_slot=False)
    for overlay in template.overlays:
        page = overlay.apply(page)

    captured = simulate_capture(page, mask, mode, rng, bilevel=bilevel)
    annotations = []
    for (x0, y0, x1, y1), label, name, slot_label in objects:
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        quad = transform_points(captured.homography, corners) if mode != "none" else corners
        points = tuple((round(float(x), 2), round(float(y), 2)) for x, y in quad)
        annotations.append(Annotation(points, label=label, name=name, slot_label=slot_label))  # type: ignore[arg-type]
    out_mask = np.where(captured.mask > 0, 255, 0).astype(np.uint8)
    name = page_name(fusion, level, mode, color, captured.noise, index)
    return SynthPage(captured.image, out_mask, annotations, name, level)


# ------------------------------------------------------------------------------------------ whole sets


def split_of(num_pages: int, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean ``is_test`` per page: ``round(num_pages * test_fraction)`` pages chosen by the seed."""
    n_test = int(round(num_pages * test_fraction))
    is_test = np.zeros(num_pages, dtype=bool)
    is_test[
        np.random.default_rng(np.random.SeedSequence([int(seed), 7919])).permutation(num_pages)[:n_test]
    ] = True
    return is_test


def _write_page(root: Path, page: SynthPage, split: str) -> None:
    level = f"L{page.level}"
    image_path = root / level / "data" / split / f"{page.name}.jpg"
    mask_path = root / level / "anno_mask" / split / f"{page.name}.png"
    for path in (image_path, mask_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(image_path), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"could not write {image_path}")
    if not cv2.imwrite(str(mask_path), page.mask):
        raise OSError(f"could not write {mask_path}")
    write_quads(root / level / "anno_label" / split / f"{page.name}.txt", page.annotations)


def _page_job(root: str, index: int, level: int, split: str, source: SignatureSource, cfg: dict) -> Page:
    """Make, write and summarise one page (OpenCV single-threaded: the workers already fill the cores)."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        page = synthesize_page(
            index,
            level,
            source,
            seed=cfg["seed"],
            fusions=cfg["fusions"],
            capture=cfg["capture"],
            classes=cfg["classes"],
            page_size=tuple(cfg["page_size"]),
            templates=cfg["templates"],
            random_places=cfg["random_places"],
            bilevel=cfg["bilevel"],
        )
        _write_page(Path(root), page, split)
    finally:
        cv2.setNumThreads(previous)
    h, w = page.mask.shape
    return Page(f"L{level}/data/{split}/{page.name}.jpg", w, h, page.annotations)


def _package_version() -> str:
    try:
        return version("sigbench")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def _write_exports(root: Path, pages: list[tuple[str, Page]], cfg: dict, source: SignatureSource) -> None:
    """COCO and YOLO files of both splits, then ``synth_config.json`` (last: it marks a complete set)."""
    counts: dict[str, Any] = {}
    for split in SPLITS:
        chosen = [p for s, p in pages if s == split]
        write_coco(root / "coco" / f"{split}.json", chosen)
        folder = root / "yolo" / split
        folder.mkdir(parents=True, exist_ok=True)
        for page in chosen:
            level, stem = page.file_name.split("/")[0], Path(page.file_name).stem
            lines = to_yolo_lines(page.annotations, page.width, page.height)
            (folder / f"{level}_{stem}.txt").write_text(
                "".join(f"{line}\n" for line in lines), encoding="utf-8"
            )
        counts[split] = {
            "pages": len(chosen),
            **{label: sum(a.label == label for p in chosen for a in p.annotations) for label in LABELS},
        }
    (root / "yolo" / "classes.txt").write_text("".join(f"{label}\n" for label in LABELS), encoding="utf-8")
    record = {**cfg, "counts": counts, "sigbench_version": _package_version(), "synth_version": SYNTH_VERSION}
    (root / CONFIG_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _check_target(out_dir: Path, overwrite: bool) -> None:
    """Refuse to replace a folder that is not an earlier synthesised set (the rename would delete it)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"out_dir: {out_dir} exists and is not a folder")
    if any(out_dir.iterdir()):
        if not (out_dir / CONFIG_FILE).exists():
            raise FileExistsError(
                f"out_dir: {out_dir} is not empty and not a synthesised set; refusing to replace it"
            )
        if not overwrite:
            raise FileExistsError(f"out_dir: {out_dir} already holds a synthesised set; pass overwrite=True")


def synthesize_dataset(
    out_dir: str | os.PathLike,
    num_pages: int = 100,
    levels: Sequence[int] = (1, 2, 3, 4, 5),
    test_fraction: float = 0.2,
    fusions: Sequence[str] = FUSIONS,
    capture: Sequence[str] = ("scan", "photo"),
    classes: Sequence[str] = ("signature",),
    page_size: str | Sequence[int] = "default",
    source: str | Mapping[str, Any] | SignatureSource = "synthetic",
    templates: Sequence[str] | None = None,
    random_places: int = 0,
    bilevel: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a synthesised document set to ``out_dir`` (layout in the module docstring); returns its path.

    Args:
        out_dir: the set's folder; written under a temporary name and renamed when complete.
        num_pages: pages in all; page ``i`` has level ``levels[i % len(levels)]``.
        levels: difficulty levels 1-5 (:mod:`sigbench.documents.templates`) and 6, bilevel business
            letters, memos and faxes (:mod:`sigbench.documents.business`).
        test_fraction: share of pages in ``test`` (chosen by the seed), the rest in ``training``.
        fusions: fusion modes drawn per page (``alpha``, ``poisson``, ``ink``).
        capture: capture modes (``none``, ``scan``, ``photo``), narrowed per level when possible.
        classes: ``signature`` plus any of ``initials``, ``redaction``, ``date`` (SignVerOD).
        page_size: ``"default"`` (1000 x 707), ``"a4_300dpi"`` or ``[H, W]``.
        source: ``"synthetic"``, ``{"synthetic": {...}}``, ``{"folder": PATH}``, ``{"scans": {...}}``,
            ``{"mixture": {...}}`` (:func:`make_source`) or a source object (a ``_target_`` node).
        templates: labelme JSON files to use instead of generated templates.
        random_places: extra signatures per page at random free places (slot label ``bg``).
        bilevel: black-and-white pages (Otsu) after capture.
        seed: the set; page ``i`` depends only on ``(seed, i)`` and the arguments above.
        num_workers: 0 in this process, n > 0 joblib processes, -1 all cores; identical output.
        progress: a progress bar on stderr.
        overwrite: replace an earlier synthesised set in ``out_dir``.
    """

    cfg = synth_config(
        num_pages, levels, test_fraction, fusions, capture, classes, page_size, source, templates,
        random_places, bilevel, seed,
    )  # fmt: skip
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < -1:
        raise ValueError(f"num_workers: expected an integer >= -1, got {num_workers!r}")
    out_dir = Path(out_dir).expanduser()
    _check_target(out_dir, overwrite)
    remove_stale_temps(out_dir)  # what a killed earlier run of this set left beside it
    src = make_source(_plain(source))
    is_test = split_of(num_pages, cfg["test_fraction"], seed)
    levels_ = cfg["levels"]
    with atomic_dir(out_dir) as tmp:
        jobs = [
            (str(tmp), i, levels_[i % len(levels_)], SPLITS[int(is_test[i])], src, cfg)
            for i in range(num_pages)
        ]
        pages: list[tuple[str, Page]] = []
        with ProgressBar(progress) as ui:
            advance = ui.task("synthesising pages", num_pages)
            if num_workers == 0:
                results = (_page_job(*job) for job in jobs)
            else:
                results = Parallel(n_jobs=num_workers, return_as="generator")(
                    delayed(_page_job)(*j) for j in jobs
                )
            for job, page in zip(jobs, results, strict=True):
                pages.append((job[3], page))
                advance(1)
        _write_exports(tmp, pages, cfg, src)
    log.info("synthesised %d pages into %s", num_pages, out_dir)
    return out_dir


def _code_digest() -> str:
    """Hash of the page-making code and of the fonts found: either changes the pages, so the cache key."""
    from sigbench.documents import (
        business,
        capture,
        fusion,
        handwriting,
        lookalikes,
        sources,
        stamps,
        templates,
        typeset,
    )

    this = sys.modules[__name__]
    code = module_sources(
        business, capture, fusion, handwriting, lookalikes, sources, stamps, templates, typeset, this
    )
    fonts = ["\n".join(p.name for p in font_book(script).paths) for script in ("latin", "chinese")]
    return digest(*code, *fonts, repr(NOT_TEXT_FONTS))


def cache_key(cfg: dict[str, Any]) -> str:
    record = {**cfg, "code": _code_digest(), "synth_version": SYNTH_VERSION, "generator": GENERATOR_VERSION}
    return config_key(record)


def load_or_synthesize(
    cache_dir: str | os.PathLike,
    num_pages: int = 100,
    levels: Sequence[int] = (1, 2, 3, 4, 5),
    test_fraction: float = 0.2,
    fusions: Sequence[str] = FUSIONS,
    capture: Sequence[str] = ("scan", "photo"),
    classes: Sequence[str] = ("signature",),
    page_size: str | Sequence[int] = "default",
    source: str | Mapping[str, Any] | SignatureSource = "synthetic",
    templates: Sequence[str] | None = None,
    random_places: int = 0,
    bilevel: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    progress: bool = False,
) -> Path:
    """:func:`synthesize_dataset` cached as ``cache_dir/docs-<key>``: the key hashes the config, the code
    and the fonts found, so a data config can name a set and every run after the first just reads it.

    Concurrent callers with the same key wait on a lock file and the set is made once.
    """
    cfg = synth_config(
        num_pages, levels, test_fraction, fusions, capture, classes, page_size, source, templates,
        random_places, bilevel, seed,
    )  # fmt: skip
    root = Path(cache_dir).expanduser() / f"docs-{cache_key(cfg)}"
    if (root / CONFIG_FILE).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not (root / CONFIG_FILE).exists():
            log.info(
                "synthesising %d document pages into %s (first use; later runs read the cache)",
                num_pages,
                root,
            )
            synthesize_dataset(
                root, num_pages, levels, test_fraction, fusions, capture, classes, page_size, source,
                templates, random_places, bilevel, seed, num_workers, progress, overwrite=True,
            )  # fmt: skip
    return root
