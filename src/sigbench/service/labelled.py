"""Calibration writers from a prepared signature set: a team's own labelled signatures, not synthetic ones.

Thresholds chosen on the built-in synthetic writers do not transfer to real signatures: the score
distributions of genuine signatures and skilled forgeries depend on the script, the pens, the scanner and
how skilled the forgers were. This module reads a set the bench already reads (an npz made by
``sigbench-prepare`` or a prepared folder, through :func:`sigbench.data.formats.load_dataset`, so no
pickle is ever read), selects writers by their user index ``y`` (the 0-based position in the set's sorted
user list; ``user_mapping`` holds the original ids) and embeds their images through the bundle's pipeline.

**From a stored image to a crop.** A prepared set stores the *model input* of each scan: the signature
centred on the dataset's canvas, inverted (ink bright on black) and resized to cover ``img_size``. A
deployed query is a crop of dark ink on light paper at scan or page resolution. Fed as it is, the stored
image would be read as ink on a black page. :func:`stored_as_crop` inverts it; then

* when the bundle normalises the ink size (``preprocessing.ink_long_side``, as the synthetic-trained
  bundles do) nothing else is needed: the pipeline resizes every crop to that ink size anyway, and one
  resampling less keeps the strokes sharper (measured with the service tests' extractor: cosine
  similarity to the embedding of the original scan 0.96-1.00 on 10 synthetic and 0.80-0.97 on 10 Kaggle
  sign_data signatures, against 0.90-1.00 and 0.74-0.96 when first scaled to the canvas);
* without it, the pipeline would centre the 170 x 242 picture of a whole canvas on the canvas again and
  shrink the signature about five-fold, so the crop is first scaled up by the inverse of the cover
  factor: the pipeline's preprocessing (:meth:`Pipeline.model_inputs`) then rebuilds the stored image.
  This assumes the set was prepared with the bundle's canvas (``preprocessing.canvas_size``), which is
  what training the extractor on it implies.

Only genuine signatures (``yforg`` 0) and skilled forgeries (``yforg`` 1) take part; simple forgeries
(``yforg`` 2) are left out, since the accept threshold is set against skilled forgeries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigbench.data.formats import SignatureDataset, load_dataset
from sigbench.detection.tiling import resize_long_side
from sigbench.service.calibrate import Labelled
from sigbench.service.pipeline import Pipeline

EMBED_CHUNK = 64  # crops per pipeline call: a whole set's crops (canvas-size ones too) need not fit in memory


class CalibrationDataError(ValueError):
    """A writer selection or a signature set that cannot calibrate; the message names the option."""


@dataclass(frozen=True)
class WriterRanges:
    """Half-open ranges of user indices; ``negatives`` ``None``: no WD-SVM negatives (see :func:`select`)."""

    development: range
    held_out: range
    negatives: range | None = None

    def named(self) -> list[tuple[str, range]]:
        ranges = [("--development", self.development), ("--held-out", self.held_out)]
        return ranges + ([("--negatives", self.negatives)] if self.negatives is not None else [])


@dataclass
class CalibrationSets:
    """The labelled development and held-out writers and the negatives' embeddings (or ``None``)."""

    development: Labelled
    held_out: Labelled
    negatives: np.ndarray | None


def _span(r: range) -> str:
    return f"{r.start}:{r.stop}"


def _writers_text(users: np.ndarray) -> str:
    users = np.asarray(users, dtype=np.int64)
    if users.size == 0:
        return "no writers"
    if users.size == users[-1] - users[0] + 1:
        return f"writers {users[0]}..{users[-1]} ({users.size})"
    shown = ", ".join(str(u) for u in users[:20])
    return f"writers {shown}{', ...' if users.size > 20 else ''} ({users.size})"


def check_ranges(data: SignatureDataset, ranges: WriterRanges, n_ref: int) -> None:
    """Every error a selection can have, raised before any image is embedded.

    The ranges must not overlap (a writer calibrated on cannot report held-out rates, nor be its own WD
    negative); each must hold writers of the set; development and held-out writers need more than ``n_ref``
    genuine signatures (``n_ref`` references and at least one genuine query) and some skilled forgeries:
    the accept threshold is the one that bounds forgery acceptance, and choosing it from random forgeries
    or from nothing would promise a protection nobody measured.
    """
    named = ranges.named()
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1 :]:
            if max(a.start, b.start) < min(a.stop, b.stop):
                raise CalibrationDataError(
                    f"{name_a} {_span(a)} and {name_b} {_span(b)} overlap (writers "
                    f"{max(a.start, b.start)}..{min(a.stop, b.stop) - 1}); the ranges must be disjoint"
                )
    found = data.users
    for name, r in named:
        inside = found[(found >= r.start) & (found < r.stop)]
        if name == "--negatives":  # only their genuine signatures are used
            genuine = np.unique(data.y[data.yforg == 0])
            inside = genuine[(genuine >= r.start) & (genuine < r.stop)]
        if inside.size == 0:
            what = " with genuine signatures" if name == "--negatives" else ""
            raise CalibrationDataError(
                f"{name} {_span(r)} selects no writers{what} of {data.origin}; "
                f"it holds {_writers_text(found)}"
            )
    for name, r in named[:2]:
        inside = (data.y >= r.start) & (data.y < r.stop)
        writers, genuine = np.unique(data.y[inside & (data.yforg == 0)], return_counts=True)
        counts = dict(zip(writers.tolist(), genuine.tolist(), strict=True))
        short = [int(u) for u in np.unique(data.y[inside]) if counts.get(int(u), 0) <= n_ref]
        if short:
            raise CalibrationDataError(
                f"{name} {_span(r)}: writers {short[:20]} of {data.origin} have <= {n_ref} genuine "
                f"signatures; each needs {n_ref} references (--n-ref) and at least one genuine query"
            )
        if not (inside & (data.yforg == 1)).any():
            raise CalibrationDataError(
                f"{name} {_span(r)}: {data.origin} holds no skilled forgeries (yforg 1) of these writers; "
                "the accept threshold is chosen and reported on skilled forgeries, so a set without them "
                "cannot calibrate it"
            )


def stored_as_crop(image: np.ndarray, canvas_size: Sequence[int] | None = None) -> np.ndarray:
    """A stored model input (uint8 H x W, ink bright on black) as a grey crop a query would arrive as.

    Inverted to dark ink on white paper and, with a ``canvas_size``, scaled by the inverse of the factor
    with which the preprocessing resized that canvas to cover ``image``'s size (see the module docstring).
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 H x W stored image, got {image.dtype} {image.shape}")
    paper = np.ascontiguousarray(255 - image)
    if canvas_size is None:
        return paper
    height, width = image.shape
    cover = max(height / canvas_size[0], width / canvas_size[1])
    return resize_long_side(paper, round(max(height, width) / cover))[0]


def embed_stored(pipeline: Pipeline, x: np.ndarray, chunk: int = EMBED_CHUNK) -> np.ndarray:
    """Embeddings of stored images ``x`` (N x 1 x H x W) through the pipeline, as crops, in chunks."""
    prep = pipeline.preprocessing
    canvas = prep.canvas_size if prep.ink_long_side is None else None
    parts = [
        pipeline.embed_crops([stored_as_crop(image[0], canvas) for image in x[start : start + chunk]])
        for start in range(0, len(x), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def _labelled(pipeline: Pipeline, data: SignatureDataset, writers: range, kinds: Sequence[int]) -> Labelled:
    rows = np.flatnonzero((data.y >= writers.start) & (data.y < writers.stop) & np.isin(data.yforg, kinds))
    return Labelled(embed_stored(pipeline, data.x[rows]), data.y[rows].copy(), data.yforg[rows].copy())


def select(
    pipeline: Pipeline, path: str | Path, ranges: WriterRanges, n_ref: int, trust_pickle: bool = False
) -> CalibrationSets:
    """Development, held-out and negative writers of the set at ``path``, embedded by ``pipeline``.

    Negatives are the genuine signatures of the ``negatives`` writers; with none given there are no
    negatives (``None``): the WD-SVM of a deployed identity is trained against writers it is not among,
    and development writers as negatives would put each development writer's own signatures on the
    negative side of its SVM, so its development scores (and the thresholds chosen on them) would not be
    those of a deployment.
    """
    data = load_dataset(path, mmap=True, trust_pickle=trust_pickle)
    check_ranges(data, ranges, n_ref)
    development = _labelled(pipeline, data, ranges.development, (0, 1))
    held_out = _labelled(pipeline, data, ranges.held_out, (0, 1))
    negatives = None
    if ranges.negatives is not None:
        negatives = _labelled(pipeline, data, ranges.negatives, (0,)).embeddings
    return CalibrationSets(development, held_out, negatives)
