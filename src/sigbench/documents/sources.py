"""Where pasted signatures come from: the built-in synthetic writers, real scans, prepared sets, or a mixture.

Every source hands out :class:`SignatureSample` s -- a grey ``uint8`` image with *dark ink on light paper*
(the way a signature looks on a page, whatever the storage convention of its dataset), the writer's id and
a sample name -- drawn with the caller's generator, so a page is a pure function of its own seed.

Sources are small picklable objects (a folder source opens its dataset lazily, in the process that samples
from it) so joblib workers can each hold one.

* :class:`SyntheticSource` -- the built-in writers (``style="western"``: Latin-script names in cursive);
* :class:`ScanSource` -- raw scans of a public set (BHSig260, NISDCC, Kaggle sign_data, ...) listed by its
  dataset adapter and read at full resolution by :mod:`sigbench.images`, the ink of real pens;
* :class:`FolderSource` -- a prepared set (canvas-normalised, so smaller and centred);
* :class:`MixtureSource` -- several of the above with weights.

Tobacco800 is refused by every file-backed source: its signatures are the real pages detectors are measured
on (docs/detection_real.md), so pasting them into training pages would leak the test set into training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from sigbench.cachekey import digest
from sigbench.data.datasets import create_adapter
from sigbench.data.formats import SignatureDataset, load_dataset
from sigbench.data.synthetic import render_raw_scan, resolve_difficulty, writer_name
from sigbench.data.synthetic.writer import check_style
from sigbench.images import read_grey

#: Folder-name fragment (lower case) that marks Tobacco800 data, refused as a signature source.
HELD_OUT_MARK = "tobacco800"


def refuse_held_out(path: Path) -> None:
    """Raise when ``path`` (as given or resolved) lies under a Tobacco800 folder: see the module docstring."""
    for candidate in (path, path.resolve()):
        if any(HELD_OUT_MARK in part.lower() for part in candidate.parts):
            raise ValueError(
                f"signature source: {path} is Tobacco800 data; its signatures are the real pages that "
                "detectors trained on synthesised pages are measured on (docs/detection_real.md), so they "
                "may never be pasted into training pages. Use BHSig260, NISDCC, Kaggle sign_data or the "
                "synthetic writers instead"
            )


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
        style: str = "classic",
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
        self.style = check_style(style)
        self.num_writers = int(num_writers)
        self.samples_per_writer = int(samples_per_writer)
        self.difficulty = difficulty
        self.seed = int(seed)
        self.first_writer = int(first_writer)

    def sample(self, rng: np.random.Generator) -> SignatureSample:
        writer_id = self.first_writer + int(rng.integers(self.num_writers))
        index = int(rng.integers(self.samples_per_writer))
        image = render_raw_scan(
            writer_id, index, difficulty=self.difficulty, seed=self.seed, style=self.style
        )
        return SignatureSample(image, writer_name(writer_id), f"{writer_name(writer_id)}-g{index:02d}")

    def config(self) -> dict[str, Any]:
        """The arguments; ``style`` only when not ``classic``, so keys of sets made before styles hold."""
        config = {
            "kind": "synthetic",
            "num_writers": self.num_writers,
            "samples_per_writer": self.samples_per_writer,
            "difficulty": self.difficulty,
            "seed": self.seed,
            "first_writer": self.first_writer,
        }
        return config if self.style == "classic" else {**config, "style": self.style}


class FolderSource:
    """Signatures of a prepared set (sigver npz or memory-mapped folder, :func:`load_dataset`).

    Prepared images store ink *bright on 0*; they are inverted here so every source looks like paper.
    Genuine signatures only by default: forgeries are signatures too, but a page usually carries its
    owner's own signature.
    """

    def __init__(self, path: str | os.PathLike, include_forgeries: bool = False) -> None:
        self.path = Path(path).expanduser()
        refuse_held_out(self.path)
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


class ScanSource:
    """Raw scans of a public signature set, at the resolution they were scanned, cropped to their ink.

    The set's dataset adapter (:mod:`sigbench.data.datasets`, e.g. ``bhsig260_bengali``,
    ``sigcomp2009_nisdcc``, ``sigcomp2011`` or ``manifest``) lists the files and their writers, and
    :func:`sigbench.images.read_grey` reads them, so a scan gives the same pixels here as in
    ``sigbench-prepare``. Prepared sets (:class:`FolderSource`) are normalised onto a small canvas; a page
    at 300 dpi needs the pen's own strokes, which only the raw scan has.

    The file list is made when the source is built (a missing folder or a set without genuine signatures
    fails then, before any page), and travels with the source to joblib workers. Byte-identical copies
    (BHSig260 has some) are kept: they only weigh a few samples of a writer more.
    """

    def __init__(
        self, path: str | os.PathLike, adapter: str = "manifest", include_forgeries: bool = False
    ) -> None:
        self.path = Path(path).expanduser()
        refuse_held_out(self.path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"signature source: scan folder {self.path} does not exist (expected the raw scans of a "
                f"signature set read by the {adapter!r} adapter, e.g. ../shared/data/bhsig260_bengali)"
            )
        self.adapter = str(adapter)
        self.include_forgeries = bool(include_forgeries)
        records = create_adapter(self.adapter, self.path).records()
        kept = [r for r in records if self.include_forgeries or r.yforg == 0]
        if not kept:
            raise ValueError(
                f"signature source: the {self.adapter!r} adapter found no "
                f"{'' if self.include_forgeries else 'genuine '}signatures under {self.path}"
            )
        for record in kept:
            refuse_held_out(record.path)  # a manifest may point outside its folder
            if record.box is not None:  # a signature that is a region of a page: not one scan per file
                raise ValueError(
                    f"signature source: the {self.adapter!r} adapter lists signatures as boxes on pages "
                    f"({record.path}#{record.box}); a scan source takes one signature per file"
                )
        self.files: tuple[str, ...] = tuple(str(r.path) for r in kept)
        self.writers: tuple[str, ...] = tuple(str(r.writer_id) for r in kept)

    def sample(self, rng: np.random.Generator) -> SignatureSample:
        index = int(rng.integers(len(self.files)))
        path = Path(self.files[index])
        gray = read_grey(path)
        ink = ink_mask(gray)
        if ink.any():  # a blank scan stays whole; the page's fusion then reports it by name
            gray, _ = crop_to_ink(gray, ink)
        writer = f"{self.path.name}-{self.writers[index]}"
        return SignatureSample(np.ascontiguousarray(gray), writer, f"{self.path.name}/{path.stem}")

    def config(self) -> dict[str, Any]:
        """Folder, adapter and a digest of every listed file's name, size and time: a changed scan or a
        changed list changes the key."""
        stats = []
        for name in self.files:
            stat = os.stat(name)
            stats.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        return {
            "kind": "scans",
            "path": str(self.path.resolve()),
            "adapter": self.adapter,
            "include_forgeries": self.include_forgeries,
            "files": len(self.files),
            "files_digest": digest("\n".join(stats)),
        }


class MixtureSource:
    """Several sources drawn at fixed weights: each sample first picks a source, then draws from it.

    ``sources`` are sources or :func:`make_source` specs (so the same arguments work from a ``_target_``
    config node, whose children Hydra instantiates first, and from the plain spec
    ``{mixture: {sources: [...], weights: [...]}}``). ``weights`` default to equal; they are normalised.
    """

    def __init__(self, sources: Sequence[Any], weights: Sequence[float] | None = None) -> None:
        if isinstance(sources, (str, Mapping)) or not isinstance(sources, Sequence) or not sources:
            raise ValueError(f"mixture source: sources must be a non-empty list, got {sources!r}")
        self.sources: tuple[SignatureSource, ...] = tuple(make_source(spec) for spec in sources)
        raw = [1.0] * len(self.sources) if weights is None else [float(w) for w in weights]
        if len(raw) != len(self.sources):
            raise ValueError(
                f"mixture source: {len(raw)} weights for {len(self.sources)} sources; give one weight each"
            )
        if not all(np.isfinite(w) and w >= 0 for w in raw) or sum(raw) <= 0:
            raise ValueError(f"mixture source: weights must be finite, >= 0 and not all 0, got {raw}")
        total = sum(raw)
        self.weights: tuple[float, ...] = tuple(w / total for w in raw)

    def sample(self, rng: np.random.Generator) -> SignatureSample:
        index = int(rng.choice(len(self.sources), p=self.weights))
        return self.sources[index].sample(rng)

    def config(self) -> dict[str, Any]:
        return {
            "kind": "mixture",
            "weights": list(self.weights),
            "sources": [source.config() for source in self.sources],
        }


#: Spec kinds of :func:`make_source` and the class each builds (its keyword arguments are the spec's).
SOURCE_KINDS: dict[str, type] = {
    "synthetic": SyntheticSource,
    "folder": FolderSource,
    "scans": ScanSource,
    "mixture": MixtureSource,
}


def make_source(spec: str | Mapping[str, Any] | SignatureSource = "synthetic") -> SignatureSource:
    """A source from a config value.

    * ``"synthetic"``, or a path string (a prepared set: :class:`FolderSource`);
    * ``{KIND: {...keyword arguments}}`` for KIND in :data:`SOURCE_KINDS`, e.g. ``{synthetic: {style:
      western}}``, ``{scans: {path: ../shared/data/bhsig260_bengali, adapter: bhsig260_bengali}}``,
      ``{mixture: {sources: [...specs], weights: [...]}}``; ``{folder: PATH}`` and ``{scans: PATH}`` also
      work;
    * a source object (returned as it is).
    """
    if hasattr(spec, "sample") and hasattr(spec, "config"):
        return spec  # type: ignore[return-value]
    if isinstance(spec, str):
        return SyntheticSource() if spec == "synthetic" else FolderSource(spec)
    if isinstance(spec, Mapping):
        if len(spec) != 1 or next(iter(spec)) not in SOURCE_KINDS:
            raise ValueError(
                f"source: expected 'synthetic', a path or one of {{{', '.join(SOURCE_KINDS)}: {{...}}}}, "
                f"got {dict(spec)!r}"
            )
        kind, args = next(iter(spec.items()))
        if isinstance(args, Mapping):
            return SOURCE_KINDS[kind](**dict(args))
        if args is None and kind == "synthetic":
            return SyntheticSource()
        if isinstance(args, (str, os.PathLike)) and kind in ("folder", "scans"):
            return SOURCE_KINDS[kind](args)
        raise ValueError(f"source: {kind}: expected a mapping of arguments, got {args!r}")
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
