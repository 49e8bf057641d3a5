"""Where pasted signatures come from: the built-in synthetic writers or any prepared signature set.

Every source hands out :class:`SignatureSample` s -- a grey ``uint8`` image with *dark ink on light paper*
(the way a signature looks on a page, whatever the storage convention of its dataset), the writer's id and
a sample name -- drawn with the caller's generator, so a page is a pure function of its own seed.

Sources are small picklable objects (a folder source opens its dataset lazily, in the process that samples
from it) so joblib workers can each hold one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from sigbench.data.formats import SignatureDataset, load_dataset
from sigbench.data.synthetic import render_raw_scan, resolve_difficulty, writer_name


@dataclass(frozen=True)
class SignatureSample:
    """One signature to paste: ``image`` grey uint8, dark ink on light paper; ``writer`` and ``name`` ids."""

    image: np.ndarray
    writer: str
    name: str


class SignatureSource(Protocol):
    """Anything that draws signatures and can describe itself for a cache key."""

    def sample(self, rng: np.random.Generator) -> SignatureSample: ...

    def config(self) -> dict[str, Any]: ...


class SyntheticSource:
    """Signatures of the built-in synthetic writer population (:mod:`sigbench.data.synthetic`).

    Writer ``k`` sample ``j`` is the same raw scan that a generated verification set holds, so a detector's
    crops can be traced back to (and verified against) the writer that produced them.
    """

    def __init__(
        self,
        num_writers: int = 200,
        samples_per_writer: int = 8,
        difficulty: float | str = "default",
        seed: int = 0,
        first_writer: int = 0,
    ) -> None:
        if num_writers < 1 or samples_per_writer < 1:
            raise ValueError(
                f"synthetic source: num_writers and samples_per_writer must be >= 1, "
                f"got {num_writers} and {samples_per_writer}"
            )
        if seed < 0 or first_writer < 0:
            raise ValueError(
                f"synthetic source: seed and first_writer must be >= 0, got {seed}, {first_writer}"
            )
        resolve_difficulty(difficulty)  # fail now, naming the bad value, not inside a worker
        self.num_writers = int(num_writers)
        self.samples_per_writer = int(samples_per_writer)
        self.difficulty = difficulty
        self.seed = int(seed)
        self.first_writer = int(first_writer)

    def sample(self, rng: np.random.Generator) -> SignatureSample:
        writer_id = self.first_writer + int(rng.integers(self.num_writers))
        index = int(rng.integers(self.samples_per_writer))
        image = render_raw_scan(writer_id, index, difficulty=self.difficulty, seed=self.seed)
        return SignatureSample(image, writer_name(writer_id), f"{writer_name(writer_id)}-g{index:02d}")

    def config(self) -> dict[str, Any]:
        return {
            "kind": "synthetic",
            "num_writers": self.num_writers,
            "samples_per_writer": self.samples_per_writer,
            "difficulty": self.difficulty,
            "seed": self.seed,
            "first_writer": self.first_writer,
        }


class FolderSource:
    """Signatures of a prepared set (sigver npz or memory-mapped folder, :func:`load_dataset`).

    Prepared images store ink *bright on 0*; they are inverted here so every source looks like paper.
    Genuine signatures only by default: forgeries are signatures too, but a page usually carries its
    owner's own signature.
    """

    def __init__(self, path: str | os.PathLike, include_forgeries: bool = False) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise FileNotFoundError(f"signature source: {self.path} does not exist (expected a prepared set)")
        self.include_forgeries = bool(include_forgeries)
        self._dataset: SignatureDataset | None = None
        self._rows: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "include_forgeries": self.include_forgeries}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["include_forgeries"])  # type: ignore[misc]

    def _open(self) -> tuple[SignatureDataset, np.ndarray]:
        if self._dataset is None:
            ds = load_dataset(self.path, mmap=True)
            rows = np.arange(len(ds)) if self.include_forgeries else np.flatnonzero(np.asarray(ds.yforg) == 0)
            if len(rows) == 0:
                raise ValueError(f"signature source: {self.path} has no genuine signatures to paste")
            self._dataset, self._rows = ds, rows
        return self._dataset, self._rows  # type: ignore[return-value]

    def sample(self, rng: np.random.Generator) -> SignatureSample:
        ds, rows = self._open()
        row = int(rows[int(rng.integers(len(rows)))])
        image = 255 - np.asarray(ds.x[row, 0], dtype=np.uint8)
        writer = str(np.asarray(ds.user_mapping)[int(ds.y[row])])
        return SignatureSample(image, writer, str(ds.filenames[row]))

    def config(self) -> dict[str, Any]:
        """Path plus size and modification time: replacing the set changes the key, as for prepared caches."""
        target = self.path.resolve()
        stat = target.stat()
        return {
            "kind": "folder",
            "path": str(target),
            "include_forgeries": self.include_forgeries,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }


def make_source(spec: str | Mapping[str, Any] | SignatureSource = "synthetic") -> SignatureSource:
    """A source from a config value: ``"synthetic"``, ``{"synthetic": {...args}}``, ``{"folder": PATH}``
    (``{"folder": {"path": PATH, "include_forgeries": true}}`` also works), a path string, or a source."""
    if hasattr(spec, "sample") and hasattr(spec, "config"):
        return spec  # type: ignore[return-value]
    if isinstance(spec, str):
        return SyntheticSource() if spec == "synthetic" else FolderSource(spec)
    if isinstance(spec, Mapping):
        if len(spec) != 1 or next(iter(spec)) not in ("synthetic", "folder"):
            raise ValueError(
                "source: expected 'synthetic', {synthetic: {...}} or {folder: PATH}, "
                f"got {dict(spec)!r}"
            )
        kind, args = next(iter(spec.items()))
        if kind == "synthetic":
            return SyntheticSource(**dict(args or {}))
        if isinstance(args, Mapping):
            return FolderSource(**dict(args))
        return FolderSource(str(args))
    raise TypeError(f"source: expected a string, a mapping or a SignatureSource, got {type(spec).__name__}")


def ink_mask(gray: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Ink pixels (bool) of a dark-ink-on-light grey image: Otsu's threshold, or ``gray < threshold``.

    Otsu splits paper from ink on any scan without tuning; a blank image (one grey level) has no ink.
    """
    gray = np.asarray(gray)
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"ink_mask: expected a 2-D uint8 image, got {gray.dtype} {gray.shape}")
    if threshold is None:
        if int(gray.max()) == int(gray.min()):
            return np.zeros(gray.shape, dtype=bool)
        threshold, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        threshold += 1  # Otsu's level belongs to the dark class
    return gray < threshold


def crop_to_ink(gray: np.ndarray, mask: np.ndarray, pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Crop an image and its ink mask to the ink's bounding box plus ``pad`` pixels of paper."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("crop_to_ink: the signature has no ink pixels")
    h, w = mask.shape
    y0, y1 = max(int(ys.min()) - pad, 0), min(int(ys.max()) + 1 + pad, h)
    x0, x1 = max(int(xs.min()) - pad, 0), min(int(xs.max()) + 1 + pad, w)
    return gray[y0:y1, x0:x1], mask[y0:y1, x0:x1]
