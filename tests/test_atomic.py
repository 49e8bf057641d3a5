"""All-or-nothing writes: a failed write leaves the previous file (or folder) exactly as it was."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from sigbench.atomic import atomic_dir, atomic_path, atomic_write, atomic_write_text


def test_text_write_replaces_content_and_leaves_no_temporary(tmp_path) -> None:
    target = tmp_path / "sub" / "notes.txt"
    atomic_write_text(target, "first\n")
    atomic_write_text(target, "second\n")
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.txt"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path) -> None:
    target = tmp_path / "results.json"
    atomic_write_text(target, "old")

    def explode(handle) -> None:
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, explode)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_temporary_path_keeps_the_suffix_for_format_sniffing_writers(tmp_path) -> None:
    target = tmp_path / "arr.npy"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".npy" and tmp.parent == tmp_path and not target.exists()
        np.save(tmp, np.arange(3))
    np.testing.assert_array_equal(np.load(target), [0, 1, 2])


def test_written_files_get_umask_permissions_not_mkstemp_0600(tmp_path) -> None:
    umask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_folder_is_replaced_only_when_complete(tmp_path) -> None:
    target = tmp_path / "set"
    with atomic_dir(target) as tmp:
        (tmp / "a.npy").write_bytes(b"1")
    with pytest.raises(ValueError), atomic_dir(target) as tmp:
        (tmp / "b.npy").write_bytes(b"2")
        raise ValueError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["a.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
