"""The sigver npz / folder format: round trips, sigver quirks, validation errors, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from sigbench.data import formats
from sigbench.data.formats import DatasetFormatError, SignatureDataset, load_dataset, save_folder, save_npz
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


def test_reads_sigver_files_with_pickled_user_mapping(tmp_path) -> None:
    x = np.zeros((3, 1, 4, 5), np.uint8)
    path = tmp_path / "sigver.npz"
    np.savez(
        path,
        x=x,
        y=np.array([0, 1, 1]),
        yforg=np.array([0, 0, 1]),
        user_mapping={0: 350, 1: 351},
        filenames=np.array(["a", "b", "c"]),
    )
    ds = load_dataset(path)
    assert ds.user_mapping.tolist() == ["350", "351"]


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
