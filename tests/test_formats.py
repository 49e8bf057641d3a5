"""The sigver npz / folder format: round trips, sigver quirks, validation errors, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigbench.data import formats
from sigbench.data.formats import (
    DatasetFormatError,
    PickledDatasetError,
    SignatureDataset,
    check_dataset_file,
    load_dataset,
    save_folder,
    save_npz,
)
from tests.helpers import make_toy_dataset


def test_npz_round_trip(tmp_path) -> None:
    ds = make_toy_dataset(users=3, genuine=2, forgeries=1)
    back = load_dataset(save_npz(ds, tmp_path / "d.npz"))
    np.testing.assert_array_equal(back.x, ds.x)
    np.testing.assert_array_equal(back.y, ds.y)
    np.testing.assert_array_equal(back.yforg, ds.yforg)
    assert back.user_mapping.tolist() == ["w0", "w1", "w2"]
    assert back.filenames.tolist() == ds.filenames.tolist()


def test_folder_is_memory_mapped(tmp_path) -> None:
    ds = make_toy_dataset(users=3, genuine=2, forgeries=0)
    back = load_dataset(save_folder(ds, tmp_path / "d"))
    assert isinstance(back.x, np.memmap)
    np.testing.assert_array_equal(np.asarray(back.x), ds.x)


def _sigver_npz(path: Path, user_mapping: object) -> Path:
    """An npz the way sigver writes it: ``user_mapping`` a dict, pickled by ``np.savez``."""
    np.savez(
        path,
        x=np.zeros((3, 1, 4, 5), np.uint8),
        y=np.array([0, 1, 1]),
        yforg=np.array([0, 0, 1]),
        user_mapping=user_mapping,
        filenames=np.array(["a", "b", "c"]),
    )
    return path


def test_pickled_user_mapping_is_refused_by_default_and_read_on_opt_in(tmp_path) -> None:
    path = _sigver_npz(tmp_path / "sigver.npz", {0: 350, 1: 351})
    with pytest.raises(PickledDatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert str(path) in message and "'user_mapping'" in message and "pickled" in message
    assert "trust_pickle=True" in message and "data.trust_pickle=true" in message
    with pytest.raises(PickledDatasetError, match="'user_mapping'"):
        check_dataset_file(path)
    ds = load_dataset(path, trust_pickle=True)
    assert ds.user_mapping.tolist() == ["350", "351"]
    check_dataset_file(path, trust_pickle=True)


class _CreatesFile:
    """A pickle payload: unpickling it calls ``Path.touch`` on a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("key", ["user_mapping", "filenames"])
def test_crafted_npz_runs_nothing(tmp_path, key: str) -> None:
    marker = tmp_path / "created_by_payload"
    payload = np.empty(1, dtype=object)
    payload[0] = _CreatesFile(marker)
    path = tmp_path / "crafted.npz"
    arrays = {
        "x": np.zeros((1, 1, 4, 5), np.uint8),
        "y": np.array([0]),
        "yforg": np.array([0]),
        "user_mapping": np.array(["w0"]),
        "filenames": np.array(["a"]),
    }
    arrays[key] = payload
    np.savez(path, **arrays)
    # the payload is live: unpickling it would create the marker (checked on a copy of the array)
    with np.load(path, allow_pickle=True) as trusted:
        trusted[key]
    assert marker.exists()
    marker.unlink()
    for read in (load_dataset, check_dataset_file):
        with pytest.raises(PickledDatasetError, match=f"crafted.npz: key '{key}' holds pickled"):
            read(path)
    assert not marker.exists()
    folder = tmp_path / "crafted_folder"
    folder.mkdir()
    for name, value in arrays.items():
        np.save(folder / f"{name}.npy", value, allow_pickle=True)
    with pytest.raises(PickledDatasetError, match=f"key '{key}'"):
        load_dataset(folder)
    assert not marker.exists()


@pytest.mark.parametrize("writer", [save_npz, save_folder])
def test_sigbench_writes_no_pickles(tmp_path, writer) -> None:
    """Every array sigbench writes reads back with pickling off, ``user_mapping`` and ``filenames`` included,
    even from a dataset built with a dict mapping (the sigver form)."""
    ds = make_toy_dataset(users=3, genuine=2, forgeries=1)
    ds.user_mapping = formats._as_user_mapping({0: 350, 1: 351, 2: 352})
    path = writer(ds, tmp_path / ("d.npz" if writer is save_npz else "d"))
    headers = check_dataset_file(path)
    assert not any(dtype.hasobject for _, dtype in headers.values())
    assert headers["x"] == (ds.x.shape, np.dtype(np.uint8))
    assert load_dataset(path).user_mapping.tolist() == ["350", "351", "352"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x": np.zeros((3, 4, 5), np.uint8)}, "'x' must be N x 1 x H x W"),
        ({"x": np.zeros((3, 1, 4, 5), np.float32)}, "'x' must be uint8"),
        ({"y": np.array([0, 1])}, "'y' must have shape"),
        ({"y": np.array([0.0, 1.0, 1.0])}, "'y' must hold integers"),
    ],
)
def test_header_check_names_file_and_key(tmp_path, change: dict, message: str) -> None:
    arrays = {
        "x": np.zeros((3, 1, 4, 5), np.uint8),
        "y": np.array([0, 1, 1]),
        "yforg": np.array([0, 0, 1]),
        "user_mapping": np.array(["a", "b"]),
        "filenames": np.array(["1", "2", "3"]),
    }
    arrays.update(change)
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, **arrays)
    with pytest.raises(DatasetFormatError, match=message) as info:
        check_dataset_file(path)
    assert "bad.npz" in str(info.value)


def test_header_check_of_junk_and_missing_keys(tmp_path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"garbage")
    with pytest.raises(DatasetFormatError, match="junk.npz: not a readable npz"):
        check_dataset_file(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, x=np.zeros((1, 1, 2, 2), np.uint8), y=np.array([0]))
    with pytest.raises(DatasetFormatError, match=r"partial.npz: missing key\(s\) \['yforg'"):
        check_dataset_file(partial)
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        check_dataset_file(tmp_path / "nowhere.npz")


def test_select_users_range_and_list() -> None:
    ds = make_toy_dataset(users=5, genuine=2, forgeries=0)
    assert set(ds.select_users((1, 3)).y.tolist()) == {1, 2}
    assert set(ds.select_users(np.array([0, 4])).y.tolist()) == {0, 4}
    assert set(ds.select_users([0, 2, 4]).y.tolist()) == {0, 2, 4}
    with pytest.raises(ValueError, match=r"no samples for users \[7, 9\)"):
        ds.select_users((7, 9))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x": np.zeros((3, 4, 5), np.uint8)}, "'x' must be N x 1 x H x W"),
        ({"x": np.zeros((3, 1, 4, 5), np.float32)}, "'x' must be uint8"),
        ({"y": np.array([0, 1])}, "'y' must have shape"),
        ({"yforg": np.array([0, 3, 1])}, "'yforg' must be 0, 1 or 2"),
        ({"y": np.array([0.0, 1.0, 1.0])}, "'y' must hold integers"),
    ],
)
def test_bad_npz_errors_name_file_and_key(tmp_path, change: dict, message: str) -> None:
    arrays = {
        "x": np.zeros((3, 1, 4, 5), np.uint8),
        "y": np.array([0, 1, 1]),
        "yforg": np.array([0, 0, 1]),
        "user_mapping": np.array(["a", "b"]),
        "filenames": np.array(["1", "2", "3"]),
    }
    arrays.update(change)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_dataset(path)
    assert "bad.npz" in str(info.value)


def test_missing_key_and_not_an_npz(tmp_path) -> None:
    path = tmp_path / "partial.npz"
    np.savez(path, x=np.zeros((1, 1, 2, 2), np.uint8), y=np.array([0]))
    with pytest.raises(DatasetFormatError, match=r"partial.npz: missing key\(s\) \['yforg'"):
        load_dataset(path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"garbage")
    with pytest.raises(DatasetFormatError, match="junk.npz"):
        load_dataset(junk)


def test_interrupted_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch) -> None:
    path = tmp_path / "d.npz"
    old = make_toy_dataset(users=2, genuine=1, forgeries=0)
    save_npz(old, path)

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(formats.np, "savez", fail)
    with pytest.raises(KeyboardInterrupt):
        save_npz(make_toy_dataset(users=4, genuine=1, forgeries=0), path)
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]
    assert load_dataset(path).users.tolist() == [0, 1]


def test_counts() -> None:
    ds = SignatureDataset(
        x=np.zeros((4, 1, 2, 2), np.uint8),
        y=[0, 0, 1, 1],
        yforg=[0, 1, 0, 2],
        user_mapping=["a", "b"],
        filenames=list("abcd"),
    )
    assert ds.counts() == {
        "samples": 4,
        "writers": 2,
        "genuine": 2,
        "skilled_forgeries": 1,
        "simple_forgeries": 1,
    }
