"""All-or-nothing writes: a failed write leaves the previous file (or folder) exactly as it was."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from sigbench.atomic import atomic_dir, atomic_path, atomic_write, atomic_write_text, temp_pattern


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


# ------------------------------------------------------------------------- temporaries of killed writers

_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from sigbench.atomic import atomic_dir, atomic_path, scratch_file
kind, target = sys.argv[1], Path(sys.argv[2])
if kind == "file":
    context = atomic_path(target)
elif kind == "dir":
    context = atomic_dir(target)
else:
    scratch_file(target, "images").write_bytes(b"memmap")
    os.kill(os.getpid(), signal.SIGKILL)
with context as tmp:
    (tmp / "part.npy" if kind == "dir" else tmp).write_bytes(b"half written")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_writer(kind: str, target, age_s: float) -> list:
    """Run a writer of ``target`` that is SIGKILLed mid-write; return what it left, aged ``age_s`` seconds."""
    before = set(target.parent.iterdir()) if target.parent.exists() else set()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", _KILLED_WRITER, kind, str(target)], env=env, check=False)
    assert result.returncode == -signal.SIGKILL
    left = sorted(set(target.parent.iterdir()) - before)
    assert len(left) == 1 and left[0].name.startswith(f".{target.stem}"), left
    stamp = time.time() - age_s
    os.utime(left[0], (stamp, stamp))
    return left


def test_temp_pattern_matches_this_output_only(tmp_path) -> None:
    left = [
        *killed_writer("file", tmp_path / "cedar.npz", 0),
        *killed_writer("dir", tmp_path / "cedar", 0),
        *killed_writer("scratch", tmp_path / "cedar", 0),
    ]
    assert all(
        temp_pattern(tmp_path / ("cedar.npz" if p.suffix == ".npz" else "cedar")).match(p.name) for p in left
    )
    for other in ("cedar2.npz", "cedar2", "ced", "cedar.npz.stats.json", "x.npz"):
        assert not any(temp_pattern(tmp_path / other).match(p.name) for p in left), other


def test_prepare_removes_stale_temporaries_of_its_output_and_keeps_young_ones(tmp_path, caplog) -> None:
    """The temporaries of a prepare run SIGKILLed mid-save (the output folder, its memmap scratch, the
    stats) are removed by the next run and logged; a young one and another output's are left alone."""
    from sigbench.data.prepare import prepare_dataset
    from tests.test_prepare import adapter, make_writers

    make_writers(tmp_path / "data", {"a": (3, 1), "b": (3, 1)})
    out = tmp_path / "out" / "set"  # a folder output: renamed-folder and memmap-scratch temporaries
    out.parent.mkdir()
    stale = killed_writer("dir", out, 3600) + killed_writer("scratch", out, 3600)
    stale += killed_writer("file", tmp_path / "out" / "set.stats.json", 3600)
    young = killed_writer("dir", out, 60)
    other = killed_writer("dir", tmp_path / "out" / "settings", 3600)
    with caplog.at_level(logging.WARNING, logger="sigbench.atomic"):
        prepare_dataset(adapter(tmp_path / "data"), out, workers=0, progress=False)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in young + other)
    assert all(str(p) in caplog.text for p in stale) and "interrupted run" in caplog.text
    assert not any(str(p) in caplog.text for p in young + other)


def test_synthesis_removes_a_stale_temporary_set(tmp_path, caplog) -> None:
    from sigbench.documents.synthesize import synthesize_dataset

    out = tmp_path / "docs"
    stale = killed_writer("dir", out, 3600)
    young = killed_writer("dir", out, 10)
    with caplog.at_level(logging.WARNING, logger="sigbench.atomic"):
        synthesize_dataset(out, num_pages=1, page_size=[300, 220], progress=False)
    assert not stale[0].exists() and young[0].exists()
    assert str(stale[0]) in caplog.text
    assert (out / "synth_config.json").is_file()
