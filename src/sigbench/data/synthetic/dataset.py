"""Whole synthetic sets in the sigver format: generation (serial or joblib-parallel) and an on-disk cache.

Each writer is generated independently of the others (see :mod:`rng`), so a set is a pure function of its
arguments: the same seed gives byte-identical arrays with any number of workers, and writers
``first_writer .. first_writer + num_writers - 1`` are the same people whichever slice they are requested in.
That is what lets training and held-out writers be disjoint slices of one synthetic population.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed

from sigbench.cachekey import config_key, digest, module_sources
from sigbench.data import preprocess
from sigbench.data.formats import DatasetFormatError, SignatureDataset, load_dataset, save_npz
from sigbench.data.synthetic.difficulty import Difficulty, resolve_difficulty
from sigbench.data.synthetic.render import SCAN_SIZE
from sigbench.data.synthetic.samples import SampleInfo, writer_name, writer_scans
from sigbench.data.synthetic.writer import check_style

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1  # bump whenever a change alters generated pixels, so old caches are not reused
CANVAS_SIZE = (450, 640)  # preprocessing canvas for synthetic scans: >= SCAN_SIZE, aspect of 170 x 242
IMG_SIZE = (170, 242)
SOURCE = "synthetic"


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_size(name: str, value: object, at_least: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (height, width) of integers, got {value!r}") from None
    if h < at_least[0] or w < at_least[1]:
        raise ValueError(f"{name} must be at least {at_least} (height, width), got {(h, w)}")
    return h, w


def _validated(
    num_writers: int,
    genuine_per_writer: int,
    forgeries_per_writer: int,
    difficulty: float | str,
    seed: int,
    first_writer: int,
    canvas_size: tuple[int, int],
    img_size: tuple[int, int],
    num_workers: int,
    style: str = "classic",
) -> dict:
    """Check every argument up front and name the offending one: a bad config should fail before work."""
    return {
        "num_writers": _check_int("num_writers", num_writers, 1),
        "genuine_per_writer": _check_int("genuine_per_writer", genuine_per_writer, 1),
        "forgeries_per_writer": _check_int("forgeries_per_writer", forgeries_per_writer, 0),
        "difficulty": resolve_difficulty(difficulty),
        "seed": _check_int("seed", seed, 0),
        "first_writer": _check_int("first_writer", first_writer, 0),
        # The raw scan must fit the canvas, or preprocessing would crop ink away.
        "canvas_size": _check_size("canvas_size", canvas_size, SCAN_SIZE),
        "img_size": _check_size("img_size", img_size, (8, 8)),
        "num_workers": _check_int("num_workers", num_workers, -1),
        "style": check_style(style),
    }


@dataclass(frozen=True)
class WriterBatch:
    """All samples of one writer: labels, and the raw scans and/or preprocessed images that were asked for."""

    writer_id: int
    infos: list[SampleInfo]
    raw: list[np.ndarray] | None
    images: np.ndarray | None  # n x H x W uint8, ink bright


def _writer_batch(
    seed: int,
    writer_id: int,
    genuine: int,
    forgeries: int,
    difficulty: Difficulty,
    canvas_size: tuple[int, int],
    img_size: tuple[int, int],
    keep_raw: bool,
    keep_images: bool,
    style: str = "classic",
) -> WriterBatch:
    samples = writer_scans(seed, writer_id, genuine, forgeries, difficulty, style=style)
    images = None
    if keep_images:
        images = np.stack(
            [
                preprocess.preprocess_signature(s.image, canvas_size, img_size, None, name=s.info.filename)
                for s in samples
            ]
        )
    raw = [s.image for s in samples] if keep_raw else None
    return WriterBatch(writer_id, [s.info for s in samples], raw, images)


def _worker_batch(*job: object) -> WriterBatch:
    """:func:`_writer_batch` in a joblib worker, with OpenCV single-threaded for the duration.

    The workers already use every core; OpenCV's own thread pool on top of that only oversubscribes them.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _writer_batch(*job)
    finally:
        cv2.setNumThreads(previous)


def iter_writers(
    num_writers: int,
    genuine_per_writer: int,
    forgeries_per_writer: int,
    difficulty: float | str = "default",
    seed: int = 0,
    first_writer: int = 0,
    canvas_size: tuple[int, int] = CANVAS_SIZE,
    img_size: tuple[int, int] = IMG_SIZE,
    num_workers: int = 0,
    raw: bool = False,
    preprocessed: bool = True,
    style: str = "classic",
) -> Iterator[WriterBatch]:
    """Yield writers in order, one :class:`WriterBatch` each, generated serially or by joblib workers.

    Streaming keeps memory flat for callers that write files as they go (the CLI); :func:`generate_dataset`
    collects the same batches into one set.  Arguments are as for :func:`generate_dataset`; they are checked
    here, before the first writer is generated.
    """
    cfg = _validated(
        num_writers,
        genuine_per_writer,
        forgeries_per_writer,
        difficulty,
        seed,
        first_writer,
        canvas_size,
        img_size,
        num_workers,
        style,
    )
    return _iter_batches(cfg, raw, preprocessed)


def _iter_batches(cfg: dict, raw: bool, preprocessed: bool) -> Iterator[WriterBatch]:
    ids = range(cfg["first_writer"], cfg["first_writer"] + cfg["num_writers"])
    jobs = (
        (
            cfg["seed"],
            wid,
            cfg["genuine_per_writer"],
            cfg["forgeries_per_writer"],
            cfg["difficulty"],
            cfg["canvas_size"],
            cfg["img_size"],
            raw,
            preprocessed,
            cfg["style"],
        )
        for wid in ids
    )
    if cfg["num_workers"] == 0:
        for job in jobs:
            yield _writer_batch(*job)
    else:
        parallel = Parallel(n_jobs=cfg["num_workers"], return_as="generator")
        yield from parallel(delayed(_worker_batch)(*job) for job in jobs)


def generate_dataset(
    num_writers: int,
    genuine_per_writer: int,
    forgeries_per_writer: int,
    difficulty: float | str = "default",
    seed: int = 0,
    first_writer: int = 0,
    canvas_size: tuple[int, int] = CANVAS_SIZE,
    img_size: tuple[int, int] = IMG_SIZE,
    num_workers: int = 0,
    style: str = "classic",
) -> SignatureDataset:
    """Generate writers ``first_writer .. first_writer + num_writers - 1`` as a preprocessed sigver set.

    Args:
        num_writers: how many writers (users), >= 1.
        genuine_per_writer: genuine signatures per writer, >= 1.
        forgeries_per_writer: skilled forgeries per writer, >= 0 (made by ``FORGERS_PER_WRITER`` forgers).
        difficulty: ``"easy"``, ``"default"``, ``"hard"`` or a level in [0, 1]; raises intra-writer
            variability and forger skill together.
        seed: the population; writer ``k`` depends only on ``(seed, k)``.
        first_writer: id of the first writer, so disjoint slices of one population can be requested.
        canvas_size: (H, W) canvas the raw scans are centred on before resizing; at least ``SCAN_SIZE``.
        img_size: stored image size (H, W); training crops its input from it.
        num_workers: 0 generates in this process, n > 0 uses n joblib processes, -1 all cores; the
            result is identical either way.
        style: ``"classic"`` (the original generator) or ``"western"`` (Latin-script names, wider hands;
            :mod:`sigbench.data.synthetic.western`).

    Returns:
        A :class:`SignatureDataset` ordered writer by writer, genuine samples first; ``y`` is the position of
        the writer in this set, ``user_mapping`` its population id (``synth_0007``).
    """
    batches = iter_writers(
        num_writers,
        genuine_per_writer,
        forgeries_per_writer,
        difficulty,
        seed,
        first_writer,
        canvas_size,
        img_size,
        num_workers,
        style=style,
    )
    return assemble_dataset(
        batches, origin=f"synthetic(seed={seed}, writers {first_writer}..{first_writer + num_writers - 1})"
    )


def assemble_dataset(batches: Iterable[WriterBatch], origin: str = "synthetic") -> SignatureDataset:
    """Stack per-writer batches (with preprocessed images) into one set; ``y`` counts writers from 0."""
    images: list[np.ndarray] = []
    names: list[str] = []
    y: list[int] = []
    infos: list[SampleInfo] = []
    for k, batch in enumerate(batches):
        if batch.images is None:
            raise ValueError(f"writer {batch.writer_id}: batch was generated without preprocessed images")
        images.append(batch.images)
        names.append(writer_name(batch.writer_id))
        y += [k] * len(batch.infos)
        infos += batch.infos
    return SignatureDataset(
        x=np.ascontiguousarray(np.concatenate(images)[:, None]),
        y=np.array(y, dtype=np.int64),
        yforg=np.array([int(info.forgery) for info in infos], dtype=np.int64),
        user_mapping=np.array(names),
        filenames=np.array([info.filename for info in infos]),
        source=np.full(len(infos), SOURCE),
        origin=origin,
    )


def _preprocess_digest() -> str:
    """Hash of the preprocessing code: a change there changes the stored images, so it must miss the cache."""
    return digest(*module_sources(preprocess))


def cache_config(
    num_writers: int,
    genuine_per_writer: int,
    forgeries_per_writer: int,
    difficulty: float | str = "default",
    seed: int = 0,
    first_writer: int = 0,
    canvas_size: tuple[int, int] = CANVAS_SIZE,
    img_size: tuple[int, int] = IMG_SIZE,
    style: str = "classic",
) -> dict:
    """Everything that determines the generated arrays (and nothing else: not ``num_workers``).

    ``style`` enters the config only when it is not ``"classic"``, so caches made before styles existed
    keep their keys."""
    cfg = _validated(
        num_writers,
        genuine_per_writer,
        forgeries_per_writer,
        difficulty,
        seed,
        first_writer,
        canvas_size,
        img_size,
        0,
        style,
    )
    cfg.pop("num_workers")
    if cfg["style"] == "classic":
        cfg.pop("style")
    cfg["difficulty"] = cfg["difficulty"].as_dict()
    cfg["canvas_size"] = list(cfg["canvas_size"])
    cfg["img_size"] = list(cfg["img_size"])
    cfg["scan_size"] = list(SCAN_SIZE)
    cfg["generator_version"] = GENERATOR_VERSION
    cfg["preprocess"] = _preprocess_digest()
    return cfg


def cache_key(config: dict) -> str:
    return config_key(config, length=24)


def load_or_generate(
    cache_dir: str | Path,
    num_writers: int,
    genuine_per_writer: int,
    forgeries_per_writer: int,
    difficulty: float | str = "default",
    seed: int = 0,
    first_writer: int = 0,
    canvas_size: tuple[int, int] = CANVAS_SIZE,
    img_size: tuple[int, int] = IMG_SIZE,
    num_workers: int = 0,
    style: str = "classic",
) -> SignatureDataset:
    """:func:`generate_dataset`, cached as ``cache_dir/<config hash>.npz``.

    The file is written to a temporary name and renamed, so an interrupted run never leaves a truncated
    cache behind; an unreadable cache file is regenerated rather than trusted.
    """
    config = cache_config(
        num_writers,
        genuine_per_writer,
        forgeries_per_writer,
        difficulty,
        seed,
        first_writer,
        canvas_size,
        img_size,
        style,
    )
    _check_int("num_workers", num_workers, -1)
    path = Path(cache_dir) / f"{cache_key(config)}.npz"
    if path.exists():
        try:
            return load_dataset(path, mmap=False)
        except DatasetFormatError as err:
            log.warning("synthetic cache %s is unreadable (%s); regenerating it", path, err)
    ds = generate_dataset(
        num_writers,
        genuine_per_writer,
        forgeries_per_writer,
        difficulty,
        seed,
        first_writer,
        canvas_size,
        img_size,
        num_workers,
        style,
    )
    save_npz(ds, path)
    log.info("synthetic set cached at %s", path)
    return ds
