"""The sigver dataset format: one npz (or a folder of memory-mapped ``.npy``) holding a whole signature set.

Keys (notes section 2): ``x`` uint8 N x 1 x H x W (preprocessed, ink bright), ``y`` user index (0-based
position in the sorted user list), ``yforg`` 0 genuine / 1 skilled / 2 simple forgery, ``user_mapping``
index -> original id, ``filenames``.  sigbench adds an optional ``source`` (which dataset a sample came from)
so combined sets stay traceable.  Every load is validated so a wrong file fails with its name and the
offending key, and every write goes to a temporary name first so an interrupted run never leaves a
half-written dataset behind.

No code runs from a data file: arrays are read with ``allow_pickle=False``. sigver itself pickles
``user_mapping`` (a dict) into its npz files; sigbench writes it and ``filenames`` as plain string arrays,
and reads a pickled file only when asked to (``trust_pickle=True``, ``data.trust_pickle=true``), after the
error has named the file and the key that holds Python objects.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from sigbench.atomic import atomic_dir, atomic_write

REQUIRED_KEYS = ("x", "y", "yforg", "user_mapping", "filenames")
FOLDER_MARKER = "sigbench_dataset.json"


class DatasetFormatError(ValueError):
    """A dataset file whose keys, shapes or dtypes are not the sigver format."""


class PickledDatasetError(DatasetFormatError):
    """A dataset array stored as pickled Python objects, refused unless the caller trusts the file."""

    def __init__(self, path: str | Path, key: str) -> None:
        super().__init__(
            f"{path}: key '{key}' holds pickled Python objects (an object array, as sigver writes "
            "user_mapping); sigbench does not unpickle data files, since that can run code. If you trust "
            "this file, read it with trust_pickle=True (data.trust_pickle=true in a data config) and save "
            "it again with sigbench (save_npz), which stores plain arrays"
        )


@dataclass
class SignatureDataset:
    """An in-memory (or memory-mapped) signature set in the sigver layout."""

    x: np.ndarray
    y: np.ndarray
    yforg: np.ndarray
    user_mapping: np.ndarray
    filenames: np.ndarray
    source: np.ndarray | None = None
    origin: str = field(default="<memory>", compare=False)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y)
        self.yforg = np.asarray(self.yforg)
        self.user_mapping = _as_user_mapping(self.user_mapping)
        self.filenames = np.asarray(self.filenames).astype(str)
        if self.source is not None:
            self.source = np.asarray(self.source).astype(str)
        validate(self)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.x.shape[2]), int(self.x.shape[3])

    @property
    def users(self) -> np.ndarray:
        """Sorted ids of the users present."""
        return np.unique(self.y)

    def subset(self, index: np.ndarray | Sequence[int]) -> SignatureDataset:
        """Samples at ``index`` (a boolean mask or integer positions); user ids are kept as they are."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return SignatureDataset(
            x=self.x[index],
            y=self.y[index],
            yforg=self.yforg[index],
            user_mapping=self.user_mapping,
            filenames=self.filenames[index],
            source=None if self.source is None else self.source[index],
            origin=self.origin,
        )

    def select_users(self, users: Iterable[int] | tuple[int, int]) -> SignatureDataset:
        """Keep the samples of some users: a ``(first, last)`` half-open range or an explicit list of ids.

        An empty selection is an error: a typo in a user range would otherwise train or evaluate on nothing.
        """
        wanted = user_range(users)
        mask = np.isin(self.y, wanted)
        if not mask.any():
            raise ValueError(
                f"{self.origin}: no samples for users {_describe(users)}; "
                f"the set holds users {int(self.y.min())}..{int(self.y.max())}"
            )
        return self.subset(mask)

    def genuine(self) -> SignatureDataset:
        return self.subset(self.yforg == 0)

    def counts(self) -> dict[str, int]:
        """Writers, genuine and forgeries, for statistics reports."""
        return {
            "samples": len(self),
            "writers": int(self.users.size),
            "genuine": int((self.yforg == 0).sum()),
            "skilled_forgeries": int((self.yforg == 1).sum()),
            "simple_forgeries": int((self.yforg == 2).sum()),
        }


def user_range(users: Iterable[int] | tuple[int, int]) -> np.ndarray:
    """A two-element list or tuple ``[a, b]`` -> ids a..b-1 (the sigver ``--users a b`` convention, and what a
    config's ``[0, 100]`` means); a ``range``, NumPy array, set or longer list is taken as explicit ids.

    A two-element list with ``a >= b`` is an error, not two ids: ``[10, 0]`` is almost always a reversed
    range, and reading it as writers 10 and 0 would silently train or test on other writers.
    """
    if isinstance(users, (range, np.ndarray, set, frozenset)):
        return np.asarray(sorted(users) if isinstance(users, (set, frozenset)) else users, dtype=np.int64)
    users = list(users)
    if len(users) == 2 and all(isinstance(u, (int, np.integer)) for u in users):
        if users[0] >= users[1]:
            hint = f"; did you mean [{users[1]}, {users[0]}]?" if users[0] > users[1] else ""
            raise ValueError(
                f"{users} is an empty [first, last) range of writers (first must be below last{hint})"
            )
        return np.arange(int(users[0]), int(users[1]), dtype=np.int64)
    return np.asarray(users, dtype=np.int64)


def _describe(users: Iterable[int] | tuple[int, int]) -> str:
    users = list(users)
    return f"[{users[0]}, {users[1]})" if len(users) == 2 else str(users)


def _as_user_mapping(mapping: object) -> np.ndarray:
    """sigver pickles a dict {index: id} into the npz; sigbench stores a plain 1-D array of ids."""
    arr = np.asarray(mapping)
    if arr.dtype == object and arr.ndim == 0:
        mapping = arr.item()
    if isinstance(mapping, dict):
        if not mapping:
            return np.asarray([], dtype=str)
        size = max(int(k) for k in mapping) + 1
        out = np.asarray([str(mapping.get(i, mapping.get(str(i), ""))) for i in range(size)])
        return out
    return np.asarray(mapping).astype(str).reshape(-1)


def validate(ds: SignatureDataset) -> None:
    """Check shapes and dtypes; raise :class:`DatasetFormatError` naming the dataset and the key."""
    where = ds.origin
    x = ds.x
    if x.ndim != 4 or x.shape[1] != 1:
        raise DatasetFormatError(f"{where}: key 'x' must be N x 1 x H x W, got shape {x.shape}")
    if x.dtype != np.uint8:
        raise DatasetFormatError(f"{where}: key 'x' must be uint8 (0-255, ink bright), got {x.dtype}")
    n = x.shape[0]
    for key in ("y", "yforg", "filenames"):
        value = getattr(ds, key)
        if value.shape != (n,):
            raise DatasetFormatError(
                f"{where}: key '{key}' must have shape ({n},) like 'x', got {value.shape}"
            )
    for key in ("y", "yforg"):
        value = getattr(ds, key)
        if not np.issubdtype(value.dtype, np.integer):
            raise DatasetFormatError(f"{where}: key '{key}' must hold integers, got {value.dtype}")
    if n and ds.y.min() < 0:
        raise DatasetFormatError(f"{where}: key 'y' holds negative user indices")
    bad = np.setdiff1d(np.unique(ds.yforg), [0, 1, 2])
    if bad.size:
        raise DatasetFormatError(f"{where}: key 'yforg' must be 0, 1 or 2, found {bad.tolist()}")
    if ds.source is not None and ds.source.shape != (n,):
        raise DatasetFormatError(f"{where}: key 'source' must have shape ({n},), got {ds.source.shape}")


def load_dataset(path: str | Path, mmap: bool = True, trust_pickle: bool = False) -> SignatureDataset:
    """Load a sigver npz or a sigbench folder (``x.npy`` opened memory-mapped unless ``mmap=False``).

    Arrays of pickled objects raise :class:`PickledDatasetError` unless ``trust_pickle`` (see the module
    docstring): only then is the pickle read, for the keys that need it.
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, mmap, trust_pickle)
    if not path.exists():
        raise FileNotFoundError(f"dataset file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise DatasetFormatError(f"{path}: a single .npy array, not an npz dataset")
            missing = [k for k in REQUIRED_KEYS if k not in data.files]
            if missing:
                raise DatasetFormatError(
                    f"{path}: missing key(s) {missing}; a sigver dataset holds {list(REQUIRED_KEYS)}"
                )
            keys = [k for k in (*REQUIRED_KEYS, "source") if k in data.files]
            arrays = {k: _read_key(data, k, path, trust_pickle) for k in keys}
    except DatasetFormatError:
        raise
    except Exception as err:  # numpy raises OSError, ValueError, BadZipFile, EOFError... on bad files
        raise DatasetFormatError(f"{path}: not a readable npz dataset ({type(err).__name__}: {err})") from err
    for key in ("y", "yforg"):
        if not np.issubdtype(arrays[key].dtype, np.integer):
            raise DatasetFormatError(f"{path}: key '{key}' must hold integers, got {arrays[key].dtype}")
    arrays["y"] = arrays["y"].astype(np.int64, copy=False)
    arrays["yforg"] = arrays["yforg"].astype(np.int64, copy=False)
    return SignatureDataset(**arrays, origin=str(path))


def _is_pickle_refusal(err: ValueError) -> bool:
    return "allow_pickle" in str(err)


def _read_key(data: np.lib.npyio.NpzFile, key: str, path: Path, trust_pickle: bool) -> np.ndarray:
    """One array of an open npz; an object array only with ``trust_pickle`` (re-read with pickling on)."""
    try:
        return data[key]
    except ValueError as err:
        if not _is_pickle_refusal(err):
            raise
        if not trust_pickle:
            raise PickledDatasetError(path, key) from None
        with np.load(path, allow_pickle=True) as trusted:
            return trusted[key]


def _load_folder(path: Path, mmap: bool, trust_pickle: bool = False) -> SignatureDataset:
    missing = [k for k in REQUIRED_KEYS if not (path / f"{k}.npy").exists()]
    if missing:
        raise DatasetFormatError(
            f"{path}: missing file(s) {[m + '.npy' for m in missing]} of a dataset folder"
        )
    keys = [*REQUIRED_KEYS, *(["source"] if (path / "source.npy").exists() else [])]
    arrays = {}
    for k in keys:
        mode = "r" if (mmap and k == "x") else None
        try:
            arrays[k] = np.load(path / f"{k}.npy", mmap_mode=mode, allow_pickle=False)
        except ValueError as err:
            if not _is_pickle_refusal(err):
                raise DatasetFormatError(f"{path / (k + '.npy')}: not a readable array ({err})") from err
            if not trust_pickle:
                raise PickledDatasetError(path / f"{k}.npy", k) from None
            arrays[k] = np.load(path / f"{k}.npy", allow_pickle=True)
    return SignatureDataset(**arrays, origin=str(path))


def array_headers(path: str | Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an npz or dataset folder, read from the headers only (cheap).

    Used by start-up checks: a malformed file is named before any data is loaded.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file {path} does not exist")
    headers = {}
    try:
        if path.is_dir():
            for member in sorted(path.glob("*.npy")):
                with open(member, "rb") as handle:
                    headers[member.stem] = _npy_header(handle)
            return headers
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".npy"):
                    with archive.open(name) as handle:
                        headers[name[: -len(".npy")]] = _npy_header(handle)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise DatasetFormatError(f"{path}: not a readable npz dataset ({type(err).__name__}: {err})") from err
    return headers


def _npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(handle)
    return tuple(shape), dtype


def check_dataset_file(path: str | Path, trust_pickle: bool = False) -> dict[str, tuple]:
    """Keys, shapes and dtypes of a dataset file checked from its headers; raises like :func:`load_dataset`
    (:class:`DatasetFormatError` naming the file and key) without reading the images."""
    headers = array_headers(path)
    missing = [k for k in REQUIRED_KEYS if k not in headers]
    if missing:
        raise DatasetFormatError(
            f"{path}: missing key(s) {missing}; a sigver dataset holds {list(REQUIRED_KEYS)}"
        )
    for key, (_, dtype) in headers.items():
        if dtype.hasobject and not trust_pickle and key in (*REQUIRED_KEYS, "source"):
            raise PickledDatasetError(path, key)
    shape, dtype = headers["x"]
    if len(shape) != 4 or shape[1] != 1:
        raise DatasetFormatError(f"{path}: key 'x' must be N x 1 x H x W, got shape {shape}")
    if dtype != np.uint8:
        raise DatasetFormatError(f"{path}: key 'x' must be uint8 (0-255, ink bright), got {dtype}")
    for key in ("y", "yforg", "filenames"):
        if headers[key][0] != (shape[0],):
            raise DatasetFormatError(
                f"{path}: key '{key}' must have shape ({shape[0]},) like 'x', got {headers[key][0]}"
            )
    for key in ("y", "yforg"):
        if not np.issubdtype(headers[key][1], np.integer):
            raise DatasetFormatError(f"{path}: key '{key}' must hold integers, got {headers[key][1]}")
    return headers


def dataset_users(path: str | Path) -> np.ndarray:
    """The user ids (``y``) present in a dataset file, without loading the images."""
    path = Path(path)
    if path.is_dir():
        return np.unique(np.load(path / "y.npy", allow_pickle=False))
    with np.load(path, allow_pickle=False) as data:
        return np.unique(data["y"])


def _arrays(ds: SignatureDataset) -> dict[str, np.ndarray]:
    out = {
        "x": np.ascontiguousarray(ds.x),
        "y": ds.y.astype(np.int64),
        "yforg": ds.yforg.astype(np.int64),
        "user_mapping": ds.user_mapping.astype(str),
        "filenames": ds.filenames.astype(str),
    }
    if ds.source is not None:
        out["source"] = ds.source.astype(str)
    return out


def save_npz(ds: SignatureDataset, path: str | Path, compress: bool = False) -> Path:
    """Write ``ds`` as a sigver npz; the file appears only once it is complete."""
    return atomic_write(path, lambda fh: (np.savez_compressed if compress else np.savez)(fh, **_arrays(ds)))


def save_folder(ds: SignatureDataset, path: str | Path) -> Path:
    """Write ``ds`` as a folder of ``.npy`` files (for sets too large for memory), renamed into place."""
    with atomic_dir(path) as tmp:
        for key, value in _arrays(ds).items():
            np.save(tmp / f"{key}.npy", value, allow_pickle=False)
        (tmp / FOLDER_MARKER).write_text(json.dumps({"format": "sigbench-folder", **ds.counts()}, indent=1))
    return path


def save_dataset(ds: SignatureDataset, path: str | Path) -> Path:
    """``.npz`` suffix -> npz file, anything else -> memory-mappable folder."""
    path = Path(path)
    return save_npz(ds, path) if path.suffix == ".npz" else save_folder(ds, path)
