"""Real datasets as ready-to-train sources: prepared once on first use, then loaded from a cache.

Why: an experiment on BHSig260 or SigComp2009 should run from a clean clone with only the raw scans
present (``../shared/data``), without a separate ``sigbench-prepare`` step whose output path every config
would have to know.  A data config therefore names an *adapter* and a cache folder::

    dataset:
      _target_: sigbench.data.cache.load_or_prepare
      _partial_: true
      adapter: {_target_: sigbench.data.datasets.BhsigBengaliAdapter, path: ${paths.shared_data_dir}/...}
      cache_dir: ${paths.cache_dir}/prepared

and :func:`load_or_prepare` runs :func:`sigbench.data.prepare.prepare_dataset` the first time.  The cache
key covers everything that changes the prepared arrays -- the adapter class and folder, the canvas and image
size, de-duplication, the identity of every scan (name, label, size, modification time) and the source of
the preprocessing code -- so editing a scan or the preprocessing prepares again, and nothing else does.

:func:`combine_sources` joins several such sources (or synthetic writers) into one set with disjoint user
ids and a per-sample ``source``, for pre-training on more writers than one dataset has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from sigbench.cachekey import config_key, digest, module_sources
from sigbench.data import prepare, preprocess
from sigbench.data.combine import combine_datasets
from sigbench.data.datasets.base import DatasetAdapter, ScanResult
from sigbench.data.formats import DatasetFormatError, SignatureDataset, load_dataset
from sigbench.data.preprocess import DEFAULT_IMG_SIZE
from sigbench.images import decode as image_decode

log = logging.getLogger(__name__)

#: Bump when the layout of the cached file changes in a way the key does not capture.
CACHE_VERSION = 1

Source = SignatureDataset | str | Path | Callable[[], SignatureDataset]


def _code_digest() -> str:
    """Hash of the code that reads scans and turns them into arrays: a change there must miss the cache."""
    return digest(*module_sources(image_decode, preprocess, prepare))


def _files_digest(adapter: DatasetAdapter, scan: ScanResult) -> str:
    """Identity of the scans the adapter found: name (with the box of a region record), writer, label,
    byte size and mtime of each.

    Reading the bytes would be exact but costs as much as the hashing pass of a prepare run; size and
    modification time catch replaced or edited files, as ``make`` and ``rsync`` assume.
    """
    lines = []
    for record in scan.records:
        stat = record.path.stat()
        line = (
            f"{adapter.record_name(record)}\t{record.writer_id}\t{record.yforg}\t{record.forger_id}"
            f"\t{stat.st_size}\t{stat.st_mtime_ns}\n"
        )
        lines.append(line)
    return digest(*lines, length=64)


def cache_key(
    adapter: DatasetAdapter,
    scan: ScanResult,
    canvas_size: Sequence[int],
    img_size: Sequence[int],
    dedup: bool,
    skip_bad: bool,
    max_pixels: int | None = image_decode.DEFAULT_MAX_PIXELS,
) -> str:
    """A short hash of everything that determines the prepared arrays (not ``workers``)."""
    config = {
        "version": CACHE_VERSION,
        "adapter": f"{type(adapter).__module__}.{type(adapter).__qualname__}",
        "path": str(adapter.path.resolve()),
        "canvas_size": [int(v) for v in canvas_size],
        "img_size": [int(v) for v in img_size],
        "dedup": bool(dedup),
        "skip_bad": bool(skip_bad),
        "max_pixels": max_pixels,
        "files": _files_digest(adapter, scan),
        "code": _code_digest(),
    }
    return config_key(config)


def _require_folder(adapter: DatasetAdapter) -> None:
    if not adapter.path.exists():
        raise FileNotFoundError(
            f"{adapter.name or type(adapter).__name__}: dataset folder {adapter.path} does not exist. "
            "The real-data configs read the raw scans from paths.shared_data_dir (<repo>/../shared/data); "
            "put the dataset there or point the adapter's path at it (e.g. data.dataset.adapter.path=...)."
        )


def _load_cached(path: Path) -> SignatureDataset | None:
    if not path.exists():
        return None
    try:
        return load_dataset(path, mmap=False)
    except DatasetFormatError as err:
        log.warning("prepared cache %s is unreadable (%s); preparing it again", path, err)
        return None


def load_or_prepare(
    adapter: DatasetAdapter,
    cache_dir: str | Path,
    img_size: Sequence[int] = DEFAULT_IMG_SIZE,
    workers: int = 2,
    dedup: bool = True,
    canvas_size: Sequence[int] | None = None,
    skip_bad: bool = False,
    progress: bool = False,
    max_pixels: int | None = image_decode.DEFAULT_MAX_PIXELS,
) -> SignatureDataset:
    """The dataset ``adapter`` describes, prepared (:func:`~sigbench.data.prepare.prepare_dataset`) into
    ``cache_dir/<name>-<key>.npz`` on first use and loaded from there afterwards.

    Args:
        adapter: where the scans are and how their names read (``conf/dataset/*.yaml``).
        cache_dir: folder of prepared sets; each key is one file plus its ``.stats.json``.
        img_size: stored image size (H, W).
        workers: preprocessing processes for a cache miss.
        dedup: remove byte-identical files inside a writer (BHSig260 needs it).
        canvas_size: (H, W) overriding the adapter's canvas.
        skip_bad: leave unreadable / blank scans out instead of failing.
        progress: progress bars and the statistics table during a cache miss.
        max_pixels: a scan of more pixels is a bad file (:func:`sigbench.images.read_grey`).

    Concurrent callers with the same key wait on a lock file, so the set is prepared once; the write
    itself is atomic (a killed run leaves no partial file).  Raises FileNotFoundError naming the folder
    when the scans are absent.
    """
    _require_folder(adapter)
    canvas = tuple(int(v) for v in (canvas_size or adapter.canvas_size))
    size = tuple(int(v) for v in img_size)
    max_pixels = image_decode.check_max_pixels(max_pixels)
    key = cache_key(adapter, adapter.scan(), canvas, size, dedup, skip_bad, max_pixels)
    path = Path(cache_dir).expanduser() / f"{adapter.name or type(adapter).__name__}-{key}.npz"
    cached = _load_cached(path)
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        cached = _load_cached(path)  # another process may have prepared it while we waited
        if cached is not None:
            return cached
        log.info("preparing %r into %s (first use; later runs load the cache)", adapter, path)
        report = prepare.prepare_dataset(
            adapter,
            path,
            canvas,
            size,
            workers=workers,
            skip_bad=skip_bad,
            dedup=dedup,
            progress=progress,
            max_pixels=max_pixels,
        )
        log.info(
            "%s: %d samples of %d writers, %d duplicate files removed, %.0f s",
            report.dataset,
            report.samples,
            report.writers,
            report.duplicates_removed,
            report.seconds,
        )
    return load_dataset(path, mmap=False)


def _materialise(name: str, source: Any) -> SignatureDataset:
    if isinstance(source, SignatureDataset):
        return source
    if isinstance(source, (str, Path)):
        return load_dataset(source)
    if callable(source):
        dataset = source()
        if not isinstance(dataset, SignatureDataset):
            raise TypeError(f"source {name!r} returned {type(dataset).__name__}, not a SignatureDataset")
        return dataset
    raise TypeError(f"source {name!r}: expected a SignatureDataset, a path or a callable, got {source!r}")


def combine_sources(sources: Mapping[str, Source]) -> SignatureDataset:
    """One set from several named sources, in the mapping's order (users of the first keep ids 0..).

    Each source is a :class:`SignatureDataset`, a prepared file, or a callable returning a set (a Hydra
    ``_partial_`` of :func:`load_or_prepare` or of the synthetic generator).  User ids are made disjoint
    and every sample records its source name (:func:`sigbench.data.combine.combine_datasets`), so a
    writer split by user id (``data.train_users`` / ``data.holdout_users``) never puts one writer on both
    sides and every figure can be traced back to its dataset.  Put the real dataset first so its user ids
    (and the held-out range of a config) do not move when the number of synthetic writers changes.
    """
    if not sources:
        raise ValueError("combine_sources needs at least one source")
    names = [str(name) for name in sources]
    datasets = [_materialise(name, source) for name, source in zip(names, sources.values(), strict=True)]
    return combine_datasets(datasets, names)
