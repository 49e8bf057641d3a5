"""Turn a dataset on disk into a prepared sigver set: scan, de-duplicate, preprocess in parallel, save.

Why each step is here:

* **De-duplication** (md5 of the file bytes, inside a writer, the first file in canonical order kept):
  public distributions carry byte-identical copies (BHSig260 Bengali: 931 groups) that would otherwise
  become "genuine pairs" of identical images and inflate every verification figure. Hashing runs first, in
  the workers, so duplicates are never preprocessed.
* **Bad files** (unreadable, truncated, blank) stop the run naming *all* of them, because fixing a dataset
  one error per multi-minute run is miserable; ``skip_bad=True`` writes them to ``<output>.bad.txt``.
* **Atomic output**: nothing is written under the final name until everything succeeded (the
  :mod:`sigbench.data.formats` savers write to a temporary name and rename), so an interrupted run leaves
  either the old output or none, never a half-written one that a later experiment would load.
* **Statistics** (writers; genuine / skilled / simple per writer min / median / max; duplicates; bad and
  unmatched files) go to ``<output>.stats.json`` and a table on screen, since a wrong naming rule shows up
  first as odd counts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sigbench.atomic import atomic_write_text, remove_stale_temps, scratch_file
from sigbench.data.datasets.base import YFORG_NAMES, Box, DatasetAdapter, SignatureRecord, describe_files
from sigbench.data.formats import SignatureDataset, save_dataset
from sigbench.data.preprocess import DEFAULT_IMG_SIZE, canvas_fits, preprocess_signature
from sigbench.images import DEFAULT_MAX_PIXELS, check_max_pixels, read_grey
from sigbench.progress import ProgressBar

log = logging.getLogger(__name__)

STATS_SUFFIX = ".stats.json"
BAD_SUFFIX = ".bad.txt"
_READ_BLOCK = 1 << 20


class BadFilesError(RuntimeError):
    """Some files could not be read or held no ink; the message names every one of them."""

    def __init__(self, bad: Sequence[BadFile]):
        self.bad = list(bad)
        lines = "\n".join(f"  {b.path}: {b.reason}" for b in self.bad)
        super().__init__(
            f"{len(self.bad)} file(s) could not be prepared (pass skip_bad=True to leave them out and list "
            f"them in <output>{BAD_SUFFIX}):\n{lines}"
        )


@dataclass
class BadFile:
    path: str
    reason: str


@dataclass
class DuplicateGroup:
    """Byte-identical files of one writer: the first (canonical order) is kept, the others removed."""

    writer: str
    md5: str
    kept: str
    removed: list[str]


@dataclass
class PrepareReport:
    """What a prepare run did; saved as ``<output>.stats.json`` and printed as a table."""

    dataset: str
    source: str
    output: str
    canvas_size: tuple[int, int]
    img_size: tuple[int, int]
    files_found: int
    samples: int
    writers: int
    counts: dict[str, int]
    per_writer: dict[str, dict[str, float]]
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    bad_files: list[BadFile] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    ignored_files: int = 0
    larger_than_canvas: list[str] = field(default_factory=list)
    workers: int = 1
    seconds: float = 0.0
    stats_path: str | None = None
    bad_report_path: str | None = None

    @property
    def duplicates_removed(self) -> int:
        return sum(len(g.removed) for g in self.duplicates)

    @property
    def images_per_s(self) -> float:
        """Files handled (prepared + duplicates + bad) per second of the whole run."""
        handled = self.samples + self.duplicates_removed + len(self.bad_files)
        return handled / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duplicates"] = {
            "groups": len(self.duplicates),
            "files_removed": self.duplicates_removed,
            "list": data["duplicates"],
        }
        data["bad_files"] = {"count": len(self.bad_files), "list": data["bad_files"]}
        data["unmatched"] = {"count": len(self.unmatched), "list": self.unmatched}
        data["larger_than_canvas"] = {"count": len(self.larger_than_canvas), "list": self.larger_than_canvas}
        data["images_per_s"] = round(self.images_per_s, 2)
        data["seconds"] = round(self.seconds, 3)
        return data

    def table(self) -> Any:
        """A rich table of the figures a reader checks first."""
        from rich.table import Table

        table = Table(title=f"{self.dataset} -> {self.output}", show_header=True, header_style="bold")
        table.add_column("statistic")
        table.add_column("value", justify="right")
        table.add_row("files found", str(self.files_found))
        table.add_row("samples written", str(self.samples))
        table.add_row("writers", str(self.writers))
        for kind, stats in self.per_writer.items():
            if stats["total"] or kind != "simple":
                table.add_row(
                    f"{kind} per writer (min / median / max)",
                    f"{stats['min']:g} / {stats['median']:g} / {stats['max']:g}  (total {stats['total']:g})",
                )
        table.add_row(
            "duplicate groups / files removed", f"{len(self.duplicates)} / {self.duplicates_removed}"
        )
        table.add_row("bad files skipped", str(len(self.bad_files)))
        table.add_row("unmatched files (left out)", str(len(self.unmatched)))
        table.add_row("scans larger than the canvas", str(len(self.larger_than_canvas)))
        table.add_row("canvas / image size", f"{self.canvas_size} / {self.img_size}")
        table.add_row(
            "time / images per s", f"{self.seconds:.1f} s / {self.images_per_s:.1f} ({self.workers} w)"
        )
        return table


# --------------------------------------------------------------------------------------- worker functions


def _init_worker() -> None:
    """Workers leave Ctrl-C to the parent (which cancels the run) and use one OpenCV thread each, so
    ``workers`` is the number of cores used."""
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)


def file_md5(path: str | Path) -> str | None:
    """md5 of the file bytes, or ``None`` when it cannot be read (the preprocessing pass will report it)."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_READ_BLOCK):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _hash_chunk(paths: Sequence[str]) -> list[str | None]:
    return [file_md5(p) for p in paths]


def read_signature(
    path: str | Path, box: Box | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """The signature of one record as ``H x W`` uint8 grey, dark ink on light paper.

    The file is read by :func:`sigbench.images.read_grey`, as every tool reads it (a bilevel TIFF comes
    out as 0 / 255, a multi-page file is refused, a file above ``max_pixels`` is refused before it is
    decoded); with a ``box`` the signature is that region of it. A box that does not lie inside the
    decoded image (the adapter checked it against the size its list states) is a ValueError naming both.
    """
    gray = read_grey(path, max_pixels)
    if box is None:
        return gray
    height, width = gray.shape
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(
            f"{path}: box x={x}, y={y}, w={w}, h={h} does not lie inside the image ({width} x {height} "
            "px); expected w, h > 0, 0 <= x, x + w <= width, 0 <= y, y + h <= height"
        )
    return np.ascontiguousarray(gray[y : y + h, x : x + w])


def _preprocess_one(
    item: tuple[str, Box | None],
    canvas_size: tuple[int, int],
    img_size: tuple[int, int],
    max_pixels: int | None,
) -> tuple[np.ndarray | None, str | None, bool]:
    """(image, error, larger-than-canvas) for one ``(file, box)``; per-file problems become an error
    string. The pixels come from :func:`read_signature`."""
    path, box = item
    try:
        gray = read_signature(path, box, max_pixels)
        name = path if box is None else f"{path}#{box}"
        img = preprocess_signature(gray, canvas_size, img_size, input_size=None, name=name)
    except (OSError, ValueError) as err:  # ImageReadError and BlankImageError are ValueErrors
        return None, f"{type(err).__name__}: {err}", False
    return img, None, not canvas_fits(gray.shape, canvas_size)


def _preprocess_chunk(
    items: Sequence[tuple[str, Box | None]],
    canvas_size: tuple[int, int],
    img_size: tuple[int, int],
    max_pixels: int | None,
) -> list[tuple[np.ndarray | None, str | None, bool]]:
    return [_preprocess_one(item, canvas_size, img_size, max_pixels) for item in items]


# --------------------------------------------------------------------------------------- parallel driver


@contextlib.contextmanager
def _cv2_threads(n: int) -> Iterator[None]:
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


class _Pool:
    """Runs chunked work in this process (``workers == 0``) or on one ``spawn`` process pool shared by
    both passes.

    ``spawn`` rather than ``fork``: the parent may hold torch / OpenCV thread pools, which do not survive a
    fork reliably, and it behaves the same on every OS.
    """

    def __init__(self, workers: int):
        self.workers = max(0, int(workers))
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Pool:
        if self.workers > 0:
            self.executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def chunk_size(self, n: int, per_worker: int, cap: int) -> int:
        """Enough chunks to balance the workers and feed the progress bar, few enough to amortise IPC."""
        return max(1, min(cap, n // (max(1, self.workers) * per_worker)))

    def run(
        self,
        fn: Callable[[list[Any]], list[Any]],
        items: Sequence[Any],
        chunk: int,
        on_chunk: Callable[[int, list[Any]], None],
    ) -> None:
        """Call ``on_chunk(start, results)`` for each chunk ``items[start:start+chunk]`` (any order)."""
        starts = range(0, len(items), chunk)
        if self.executor is None:
            with _cv2_threads(1):
                for start in starts:
                    on_chunk(start, fn(list(items[start : start + chunk])))
            return
        futures = {self.executor.submit(fn, list(items[s : s + chunk])): s for s in starts}
        try:
            for future in as_completed(futures):
                on_chunk(futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# ------------------------------------------------------------------------------------------ public steps


def hash_files(paths: Sequence[str | Path], workers: int = 2, progress: bool = False) -> list[str | None]:
    """md5 of each file (``None`` when unreadable), computed in ``workers`` processes (0: this one)."""
    with _Pool(workers) as pool, ProgressBar(progress) as ui:
        return _hash_files(pool, [str(p) for p in paths], ui)


def _hash_files(pool: _Pool, paths: list[str], ui: ProgressBar) -> list[str | None]:
    hashes: list[str | None] = [None] * len(paths)
    advance = ui.task("hashing", len(paths))

    def store(start: int, results: list[Any]) -> None:
        hashes[start : start + len(results)] = results
        advance(len(results))

    pool.run(_hash_chunk, paths, pool.chunk_size(len(paths), 4, 512), store)
    return hashes


def find_duplicates(
    records: Sequence[SignatureRecord], hashes: Sequence[str | None], names: Sequence[str] | None = None
) -> tuple[list[int], list[DuplicateGroup]]:
    """Indices of the records to keep and the duplicate groups (same writer, same md5, same box).

    The first record of a group in the given order is kept; unreadable files (hash ``None``) are never
    merged, so each is reported as bad on its own. Two boxes of one file are two signatures, never
    duplicates of each other.
    """
    names = [str(r.path) for r in records] if names is None else list(names)
    first: dict[tuple[str, str, Box | None], int] = {}
    removed: dict[int, list[int]] = {}
    keep: list[int] = []
    for i, (record, md5) in enumerate(zip(records, hashes, strict=True)):
        key = (record.writer_id, md5, record.box) if md5 is not None else None
        if key is not None and key in first:
            removed.setdefault(first[key], []).append(i)
            continue
        if key is not None:
            first[key] = i
        keep.append(i)
    groups = [
        DuplicateGroup(records[k].writer_id, str(hashes[k]), names[k], [names[i] for i in dups])
        for k, dups in removed.items()
    ]
    return keep, groups


class _ImageBuffer:
    """Where preprocessed images wait for the final save: memory for an npz; for a folder output a scratch
    ``.npy`` memmap next to it, so a large set (GPDS-synthetic: ~9 GB) never has to fit in memory. The
    scratch file is hidden, ends in ``.tmp`` and is removed whatever happens."""

    def __init__(self, n: int, img_size: tuple[int, int], output: Path):
        self.scratch: Path | None = None
        shape = (n, 1, *img_size)
        if output.suffix == ".npz":
            self.array = np.zeros(shape, dtype=np.uint8)
            return
        self.scratch = scratch_file(output, "images")
        self.array = np.lib.format.open_memmap(self.scratch, mode="w+", dtype=np.uint8, shape=shape)

    def close(self) -> None:
        if self.scratch is not None:
            del self.array
            self.scratch.unlink(missing_ok=True)
            self.scratch = None


def _check_output(output: Path) -> None:
    """Fail before any work when the output cannot be written where it is asked."""
    if output.suffix == ".npz" and output.is_dir():
        raise IsADirectoryError(f"output {output} is a folder; choose another name for the npz file")
    if output.suffix != ".npz" and output.exists() and not output.is_dir():
        raise FileExistsError(
            f"output {output} exists and is a file; a name without .npz is written as a folder of .npy files"
        )


def _per_writer(y: np.ndarray, yforg: np.ndarray, n_users: int) -> dict[str, dict[str, float]]:
    out = {}
    for kind, name in YFORG_NAMES.items():
        counts = np.bincount(y[yforg == kind], minlength=n_users) if n_users else np.zeros(0, dtype=int)
        out[name] = {
            "min": float(counts.min()) if counts.size else 0.0,
            "median": float(np.median(counts)) if counts.size else 0.0,
            "max": float(counts.max()) if counts.size else 0.0,
            "total": float(counts.sum()),
        }
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sidecar(output: str | Path, suffix: str) -> Path:
    """``cedar.npz`` -> ``cedar.npz.stats.json``: reports live next to the output they describe."""
    output = Path(output)
    return output.with_name(output.name + suffix)


def prepare_dataset(
    adapter: DatasetAdapter,
    output: str | Path,
    canvas_size: Sequence[int] | None = None,
    img_size: Sequence[int] = DEFAULT_IMG_SIZE,
    workers: int | None = 2,
    skip_bad: bool = False,
    dedup: bool = True,
    progress: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> PrepareReport:
    """Prepare the dataset ``adapter`` describes into ``output`` (``.npz`` file, else a memmap folder).

    Args:
        adapter: where the scans are and how their names read (:mod:`sigbench.data.datasets`).
        output: the prepared set; ``<output>.stats.json`` (and ``<output>.bad.txt``) are written beside it.
        canvas_size: (H, W) overriding the adapter's canvas.
        img_size: (H, W) of the stored images (170 x 242; the 150 x 220 crop is taken at training time).
        workers: worker processes for hashing and preprocessing, one core each; ``0`` runs in this process
            (one OpenCV thread; for debugging and tiny sets), ``None`` or negative: one per CPU core.
        skip_bad: leave unreadable / blank files out and list them, instead of failing.
        dedup: remove byte-identical files inside a writer.
        progress: show progress bars and print the statistics table.
        max_pixels: a scan of more pixels is a bad file (checked from its header, before decoding).

    Raises:
        BadFilesError: some files are unreadable or blank (all named) and ``skip_bad`` is false.
        UnmatchedFilesError: the adapter is ``strict`` and some files match no naming rule.
    """
    started = time.perf_counter()
    output = Path(output).expanduser()
    _check_output(output)
    max_pixels = check_max_pixels(max_pixels)
    for path in (output, sidecar(output, STATS_SUFFIX), sidecar(output, BAD_SUFFIX)):
        remove_stale_temps(path)  # what a killed earlier run of this output left beside it
    canvas = tuple(int(v) for v in (canvas_size or adapter.canvas_size))
    size = tuple(int(v) for v in img_size)
    workers = int(workers) if workers is not None and workers >= 0 else (os.cpu_count() or 1)

    scan = adapter.scan()
    if not scan.records:
        extra = f"; unmatched: {describe_files(scan.unmatched)}" if scan.unmatched else ""
        raise ValueError(f"{adapter!r}: no signature images found{extra}")
    records = scan.records
    names = [adapter.record_name(r) for r in records]
    paths = [str(r.path) for r in records]

    with _Pool(workers) as pool, ProgressBar(progress) as ui:
        keep, duplicates = list(range(len(records))), []
        if dedup:
            keep, duplicates = find_duplicates(records, _hash_files(pool, paths, ui), names)
        buffer = _ImageBuffer(len(keep), size, output)
        try:
            todo = [(paths[i], records[i].box) for i in keep]
            bad, big = _preprocess_into(pool, ui, todo, canvas, size, buffer.array, max_pixels)
            if bad and not skip_bad:
                raise BadFilesError([BadFile(names[keep[i]], reason) for i, reason in bad])
            good = _compact(buffer.array, len(keep), {i for i, _ in bad})
            kept = [keep[i] for i in good]
            if not kept:
                raise ValueError(f"{adapter!r}: none of the {len(keep)} files could be prepared")
            dataset = _build(buffer.array[: len(kept)], [records[i] for i in kept], [names[i] for i in kept])
            save_dataset(dataset, output)
        finally:
            buffer.close()

    report = PrepareReport(
        dataset=adapter.name or type(adapter).__name__,
        source=str(adapter.path),
        output=str(output),
        canvas_size=canvas,
        img_size=size,
        files_found=len(records),
        samples=len(dataset),
        writers=int(dataset.user_mapping.size),
        counts=dataset.counts(),
        per_writer=_per_writer(dataset.y, dataset.yforg, int(dataset.user_mapping.size)),
        duplicates=duplicates,
        bad_files=[BadFile(names[keep[i]], reason) for i, reason in bad],
        unmatched=scan.unmatched,
        ignored_files=len(scan.ignored),
        larger_than_canvas=[names[keep[i]] for i in big],
        workers=workers,
        seconds=time.perf_counter() - started,
    )
    _write_reports(report, output)
    if progress:
        _print_summary(report)
    return report


def _preprocess_into(
    pool: _Pool,
    ui: ProgressBar,
    items: list[tuple[str, Box | None]],
    canvas: tuple[int, int],
    size: tuple[int, int],
    out: np.ndarray,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[list[tuple[int, str]], list[int]]:
    """Fill ``out[i, 0]`` with the preprocessed ``items[i]`` (file, box); return (bad index, reason) and
    the indices of scans larger than the canvas."""
    bad: list[tuple[int, str]] = []
    big: list[int] = []
    advance = ui.task("preprocessing", len(items))

    def store(start: int, results: list[Any]) -> None:
        for offset, (img, error, larger) in enumerate(results):
            if error is not None:
                bad.append((start + offset, error))
            else:
                out[start + offset, 0] = img
                if larger:
                    big.append(start + offset)
        advance(len(results))

    work = functools.partial(_preprocess_chunk, canvas_size=canvas, img_size=size, max_pixels=max_pixels)
    pool.run(work, items, pool.chunk_size(len(items), 8, 32), store)
    return sorted(bad), sorted(big)


def _compact(images: np.ndarray, n: int, drop: set[int]) -> list[int]:
    """Move the kept images to the front, in place (works on a memmap); return their old positions."""
    good = [i for i in range(n) if i not in drop]
    for dst, src in enumerate(good):
        if dst != src:
            images[dst] = images[src]
    return good


def _build(x: np.ndarray, records: Sequence[SignatureRecord], names: Sequence[str]) -> SignatureDataset:
    """Users are numbered 0.. in the adapter's writer order (records are already sorted that way)."""
    writers = list(dict.fromkeys(r.writer_id for r in records))
    index = {w: i for i, w in enumerate(writers)}
    return SignatureDataset(
        x=x,
        y=np.asarray([index[r.writer_id] for r in records], dtype=np.int64),
        yforg=np.asarray([r.yforg for r in records], dtype=np.int64),
        user_mapping=np.asarray(writers, dtype=str),
        filenames=np.asarray(names, dtype=str),
    )


def _write_reports(report: PrepareReport, output: Path) -> None:
    """Stats JSON always; the bad-file list only when there is one (a stale one from a previous run is
    removed so it cannot be mistaken for this run's)."""
    bad_path = sidecar(output, BAD_SUFFIX)
    if report.bad_files:
        lines = [f"{b.path}\t{b.reason}" for b in report.bad_files]
        atomic_write_text(
            bad_path, "# files left out by skip_bad (path<TAB>reason)\n" + "\n".join(lines) + "\n"
        )
        report.bad_report_path = str(bad_path)
    else:
        bad_path.unlink(missing_ok=True)
    stats_path = sidecar(output, STATS_SUFFIX)
    report.stats_path = str(stats_path)
    atomic_write_text(stats_path, json.dumps(report.to_dict(), indent=1) + "\n")


def _print_summary(report: PrepareReport) -> None:
    from rich.console import Console

    console = Console()
    console.print(report.table())
    if report.unmatched:
        console.print(f"[yellow]left out, matching no naming rule:[/] {describe_files(report.unmatched)}")
    if report.bad_files:
        console.print(f"[yellow]bad files skipped:[/] {describe_files([b.path for b in report.bad_files])}")
    if report.larger_than_canvas:
        console.print(
            f"[yellow]scans larger than the canvas {report.canvas_size} (ink may be cut):[/] "
            f"{describe_files(report.larger_than_canvas)}"
        )
    console.print(f"statistics: {report.stats_path}")
