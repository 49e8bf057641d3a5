"""GPDS-synthetic-scale populations (thousands of writers) written straight into a memory-mapped folder.

A 5,000-writer x (24 genuine + 30 forgeries) set at 170 x 242 is 11 GB of uint8: too much to hold as one
array while it is generated, and pointless to copy when training reads a few batches at a time.  So the
folder format of :mod:`sigbench.data.formats` is preallocated (``x.npy`` through
``np.lib.format.open_memmap``; labels, which are known before any pixel is drawn, written up front) and
joblib workers each open ``x.npy`` read-write and fill their writers' rows.  No pixels pass through the
parent process, whose memory stays flat whatever the population size.  Every writer's samples come from
streams keyed by ``(seed, writer)`` (:mod:`rng`), so the bytes are identical for any number of workers, and
the folder only appears under its final name once complete (:func:`sigbench.atomic.atomic_dir`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed, parallel_config

from sigbench.atomic import atomic_dir
from sigbench.data.formats import FOLDER_MARKER, DatasetFormatError, SignatureDataset, load_dataset
from sigbench.data.synthetic.dataset import (
    CANVAS_SIZE,
    IMG_SIZE,
    SOURCE,
    _check_int,
    _validated,
    _writer_batch,
    cache_config,
    cache_key,
)
from sigbench.data.synthetic.forger import FORGERS_PER_WRITER
from sigbench.data.synthetic.samples import SampleInfo, writer_name

log = logging.getLogger(__name__)

WRITERS_PER_JOB = 8  # enough work per job to hide joblib's dispatch cost, small enough to balance cores


def sample_infos(writer_id: int, genuine: int, forgeries: int) -> list[SampleInfo]:
    """Labels of one writer's samples in generation order (as :func:`samples.writer_scans` returns them)."""
    return [SampleInfo(writer_id, j, False, -1) for j in range(genuine)] + [
        SampleInfo(writer_id, j, True, j % FORGERS_PER_WRITER) for j in range(forgeries)
    ]


def _write_labels(folder: Path, cfg: dict) -> int:
    """Write every array but ``x`` (labels are known before rendering); returns the number of samples."""
    ids = range(cfg["first_writer"], cfg["first_writer"] + cfg["num_writers"])
    infos = [
        info
        for wid in ids
        for info in sample_infos(wid, cfg["genuine_per_writer"], cfg["forgeries_per_writer"])
    ]
    per_writer = cfg["genuine_per_writer"] + cfg["forgeries_per_writer"]
    arrays = {
        "y": np.repeat(np.arange(cfg["num_writers"], dtype=np.int64), per_writer),
        "yforg": np.array([int(i.forgery) for i in infos], dtype=np.int64),
        "user_mapping": np.array([writer_name(w) for w in ids]),
        "filenames": np.array([i.filename for i in infos]),
        "source": np.full(len(infos), SOURCE),
    }
    for key, value in arrays.items():
        np.save(folder / f"{key}.npy", value, allow_pickle=False)
    return len(infos)


def _fill_rows(x_path: Path, row: int, writer_ids: list[int], cfg: dict) -> int:
    """Render ``writer_ids`` and write their images into ``x.npy`` from ``row`` on; runs in a worker.

    OpenCV is made single-threaded (the workers already occupy the cores), and only this job's rows are
    touched, so concurrent workers never write the same bytes.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        x = np.load(x_path, mmap_mode="r+", allow_pickle=False)
        for wid in writer_ids:
            batch = _writer_batch(
                cfg["seed"],
                wid,
                cfg["genuine_per_writer"],
                cfg["forgeries_per_writer"],
                cfg["difficulty"],
                cfg["canvas_size"],
                cfg["img_size"],
                False,
                True,
                cfg["style"],
            )
            assert batch.images is not None
            x[row : row + len(batch.images), 0] = batch.images
            row += len(batch.images)
        x.flush()
        del x
        return len(writer_ids)
    finally:
        cv2.setNumThreads(previous)


def generate_population(
    path: str | Path,
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
) -> Path:
    """Generate a population as a dataset folder at ``path`` (arguments as :func:`generate_dataset`).

    ``num_workers``: 0 renders in this process, n > 0 in n joblib processes (each with one OpenMP / OpenCV
    thread), -1 on every core; the folder's bytes do not depend on it.
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
    per_writer = cfg["genuine_per_writer"] + cfg["forgeries_per_writer"]
    ids = list(range(cfg["first_writer"], cfg["first_writer"] + cfg["num_writers"]))
    chunks = [ids[k : k + WRITERS_PER_JOB] for k in range(0, len(ids), WRITERS_PER_JOB)]
    with atomic_dir(path) as tmp:
        n = _write_labels(tmp, cfg)
        x_path = tmp / "x.npy"
        x = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.uint8, shape=(n, 1, *cfg["img_size"]))
        del x  # preallocated on disk; workers map it themselves
        jobs = [(x_path, (chunk[0] - ids[0]) * per_writer, chunk, cfg) for chunk in chunks]
        if cfg["num_workers"] == 0:
            for job in jobs:
                _fill_rows(*job)
        else:
            with parallel_config(backend="loky", inner_max_num_threads=1):
                parallel = Parallel(n_jobs=cfg["num_workers"], return_as="generator_unordered")
                for _ in parallel(delayed(_fill_rows)(*job) for job in jobs):
                    pass
        genuine = cfg["num_writers"] * cfg["genuine_per_writer"]
        counts = {
            "samples": n,
            "writers": cfg["num_writers"],
            "genuine": genuine,
            "skilled_forgeries": n - genuine,
            "simple_forgeries": 0,
        }
        (tmp / FOLDER_MARKER).write_text(json.dumps({"format": "sigbench-folder", **counts}, indent=1))
    return Path(path)


def load_or_generate_population(
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
    """:func:`generate_population` cached as ``cache_dir/<config hash>/``, returned memory-mapped.

    The key is :func:`cache_key` of the same config as the npz cache of :func:`load_or_generate` (the
    arrays are the same), under a folder name instead of a ``.npz`` file.  An unreadable folder is
    regenerated rather than trusted.
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
    path = Path(cache_dir) / cache_key(config)
    if (path / FOLDER_MARKER).exists():
        try:
            return load_dataset(path, mmap=True)
        except DatasetFormatError as err:
            log.warning("synthetic population %s is unreadable (%s); regenerating it", path, err)
    generate_population(
        path,
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
    log.info("synthetic population cached at %s", path)
    return load_dataset(path, mmap=True)
