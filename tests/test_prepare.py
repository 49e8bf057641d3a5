"""prepare_dataset and sigbench-prepare: parallel == inline, de-duplication, bad files, atomic output,
statistics, the real BHSig duplicates, and the CLI end to end."""

from __future__ import annotations

import collections
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import sigbench.data.prepare as prepare_mod
from sigbench.data.datasets import FolderAdapter, create_adapter
from sigbench.data.formats import load_dataset
from sigbench.data.prepare import BadFilesError, find_duplicates, hash_files, prepare_dataset
from tests.helpers import SHARED_DATA

BHSIG = SHARED_DATA / "bhsig260_bengali"
needs_bhsig = pytest.mark.skipif(
    not BHSIG.is_dir(), reason=f"shared BHSig260 Bengali data not found at {BHSIG}"
)


def scribble(path: Path, seed: int, size: tuple[int, int] = (40, 90)) -> None:
    """A distinct dark stroke on white paper, as a grayscale PNG."""
    rng = np.random.default_rng(seed)
    img = np.full(size, 255, np.uint8)
    pts = np.stack([rng.integers(5, size[1] - 5, 5), rng.integers(5, size[0] - 5, 5)], axis=1)
    cv2.polylines(img, [pts.astype(np.int32)], False, 20, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def make_writers(root: Path, layout: dict[str, tuple[int, int]]) -> None:
    """``{writer: (n_genuine, n_forgery)}`` as ``<writer>/G<i>.png`` and ``<writer>/F<i>.png``."""
    seed = 0
    for writer, (n_gen, n_forg) in layout.items():
        for kind, count in (("G", n_gen), ("F", n_forg)):
            for i in range(count):
                seed += 1
                scribble(root / writer / f"{kind}{i:02d}.png", seed)


def adapter(root: Path) -> FolderAdapter:
    return FolderAdapter(root, genuine="G*", forgery="F*", canvas_size=(120, 170))


def listing(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_parallel_matches_inline_and_writes_stats(tmp_path: Path) -> None:
    make_writers(tmp_path / "data", {"w2": (4, 2), "w10": (3, 3), "w1": (5, 0)})
    out = tmp_path / "out"

    report = prepare_dataset(adapter(tmp_path / "data"), out / "two.npz", workers=2, progress=False)
    prepare_dataset(adapter(tmp_path / "data"), out / "one", workers=0, progress=False)

    two, one = load_dataset(out / "two.npz"), load_dataset(out / "one")
    assert isinstance(one.x, np.memmap), "a folder output is opened memory-mapped"
    np.testing.assert_array_equal(two.x, one.x)
    assert two.user_mapping.tolist() == ["w1", "w2", "w10"]
    assert np.bincount(two.y).tolist() == [5, 6, 6]
    assert two.filenames[0] == "w1/G00.png" and two.x.shape == (17, 1, 170, 242)
    stats = json.loads((out / "two.npz.stats.json").read_text())
    assert stats["samples"] == 17 and stats["writers"] == 3 and stats["workers"] == 2
    assert stats["per_writer"]["genuine"] == {"min": 3.0, "median": 4.0, "max": 5.0, "total": 12.0}
    assert stats["per_writer"]["skilled"] == {"min": 0.0, "median": 2.0, "max": 3.0, "total": 5.0}
    assert report.stats_path == str(out / "two.npz.stats.json") and report.images_per_s > 0
    assert sorted(p.name for p in out.iterdir()) == ["one", "one.stats.json", "two.npz", "two.npz.stats.json"]


def test_duplicates_inside_a_writer_are_removed_and_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_writers(data, {"a": (3, 1), "b": (2, 0)})
    (data / "a" / "G05.png").write_bytes((data / "a" / "G01.png").read_bytes())  # duplicate inside a
    (data / "a" / "F07.png").write_bytes((data / "a" / "G01.png").read_bytes())  # and across kinds
    (data / "b" / "G09.png").write_bytes((data / "a" / "G00.png").read_bytes())  # across writers: kept

    report = prepare_dataset(adapter(data), tmp_path / "d.npz", workers=0, progress=False)

    assert len(report.duplicates) == 1 and report.duplicates_removed == 2
    group = report.duplicates[0]
    assert (group.writer, group.kept, sorted(group.removed)) == ("a", "a/G01.png", ["a/F07.png", "a/G05.png"])
    ds = load_dataset(tmp_path / "d.npz")
    assert len(ds) == 7 and "b/G09.png" in ds.filenames
    stats = json.loads((tmp_path / "d.npz.stats.json").read_text())
    assert stats["duplicates"]["groups"] == 1 and stats["duplicates"]["files_removed"] == 2

    kept_all = prepare_dataset(adapter(data), tmp_path / "all.npz", workers=0, progress=False, dedup=False)
    assert kept_all.samples == 9 and not kept_all.duplicates


def make_bad_tree(data: Path) -> None:
    make_writers(data, {"a": (3, 1), "b": (2, 1)})
    (data / "a" / "G07.png").write_bytes(np.random.default_rng(0).bytes(300))  # corrupt
    cv2.imwrite(str(data / "b" / "F05.png"), np.full((30, 60), 255, np.uint8))  # blank


def test_bad_files_stop_the_run_naming_all_of_them(tmp_path: Path) -> None:
    make_bad_tree(tmp_path / "data")
    out = tmp_path / "out"
    with pytest.raises(BadFilesError) as info:
        prepare_dataset(adapter(tmp_path / "data"), out / "x.npz", workers=0, progress=False)
    message = str(info.value)
    assert "2 file(s)" in message and "a/G07.png" in message and "b/F05.png" in message
    assert "no ink" in message and "skip_bad" in message
    assert not out.exists() or not any(out.iterdir()), "nothing written, not even a temporary file"


def test_skip_bad_lists_them_and_keeps_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_bad_tree(data)
    out = tmp_path / "x"

    report = prepare_dataset(adapter(data), out, workers=0, progress=False, skip_bad=True)

    assert sorted(b.path for b in report.bad_files) == ["a/G07.png", "b/F05.png"]
    ds = load_dataset(out)
    assert len(ds) == 7 and not {"a/G07.png", "b/F05.png"} & set(ds.filenames)
    assert ds.x.reshape(len(ds), -1).max(axis=1).min() > 0, "the kept images were compacted in place"
    bad_txt = (tmp_path / "x.bad.txt").read_text()
    assert "a/G07.png\tImageReadError" in bad_txt and "b/F05.png\tBlankImageError" in bad_txt
    assert json.loads((tmp_path / "x.stats.json").read_text())["bad_files"]["count"] == 2

    (data / "a" / "G07.png").unlink()
    (data / "b" / "F05.png").unlink()
    prepare_dataset(adapter(data), out, workers=0, progress=False, skip_bad=True)
    assert not (tmp_path / "x.bad.txt").exists(), "a stale bad-file list is removed"


@pytest.mark.parametrize("output", ["set.npz", "set"])
def test_interrupted_run_leaves_no_output_and_keeps_the_old_one(
    output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    make_writers(data, {"a": (4, 2), "b": (4, 2)})
    out = tmp_path / "out"
    prepare_dataset(adapter(data), out / output, workers=0, progress=False)
    scribble(data / "c" / "G00.png", seed=123)  # the new run would differ
    before = listing(out)

    calls = {"n": 0}
    real = prepare_mod._preprocess_one

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare_mod, "_preprocess_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(adapter(data), out / output, workers=0, progress=False)
    assert listing(out) == before, "old output and stats intact, no temporary leftovers"

    shutil.rmtree(out)
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(adapter(data), out / output, workers=0, progress=False)
    assert not out.exists() or not any(out.iterdir()), "an interrupted first run leaves nothing behind"


def test_output_of_the_wrong_kind_fails_before_any_work(tmp_path: Path) -> None:
    make_writers(tmp_path / "data", {"a": (1, 0)})
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(FileExistsError, match=r"folder of \.npy"):
        prepare_dataset(adapter(tmp_path / "data"), tmp_path / "taken", workers=0, progress=False)
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        prepare_dataset(adapter(tmp_path / "data"), tmp_path / "dir.npz", workers=0, progress=False)


def manifest_unique_counts() -> dict[str, collections.Counter]:
    """Per writer, the number of distinct md5 per label in BHSig's manifest."""
    unique: dict[str, dict[str, set[str]]] = collections.defaultdict(lambda: collections.defaultdict(set))
    with (BHSIG / "manifest.csv").open() as fh:
        for row in csv.DictReader(fh):
            unique[row["writer"]][row["label"]].add(row["md5"])
    return {w: collections.Counter({k: len(v) for k, v in labels.items()}) for w, labels in unique.items()}


@needs_bhsig
def test_bhsig_dedup_counts_match_manifest_all_writers() -> None:
    """Hashing only, all 100 writers: 931 duplicate groups and the manifest's unique counts per writer."""
    records = create_adapter("bhsig260_bengali", BHSIG).records()
    keep, groups = find_duplicates(records, hash_files([r.path for r in records], workers=0))
    assert len(groups) == 931 and sum(len(g.removed) for g in groups) == len(records) - len(keep)
    got: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for i in keep:
        got[records[i].writer_id]["genuine" if records[i].yforg == 0 else "forgery"] += 1
    assert got == manifest_unique_counts()


@needs_bhsig
def test_bhsig_subset_prepared_counts_match_manifest(tmp_path: Path) -> None:
    """Real preprocessing on the 5 writers with the most duplicates (linked, not copied)."""
    expected = manifest_unique_counts()
    writers = sorted(expected, key=lambda w: (expected[w].total(), int(w)))[:5]
    subset = tmp_path / "bhsig"
    subset.mkdir()
    for w in writers:
        (subset / w).symlink_to(BHSIG / w, target_is_directory=True)

    report = prepare_dataset(
        create_adapter("bhsig260_bengali", subset), tmp_path / "b.npz", workers=2, progress=False
    )

    ds = load_dataset(tmp_path / "b.npz")
    assert ds.user_mapping.tolist() == sorted(writers, key=int)
    for u, writer in enumerate(ds.user_mapping):
        counts = np.bincount(ds.yforg[ds.y == u], minlength=2)
        assert (counts[0], counts[1]) == (expected[writer]["genuine"], expected[writer]["forgery"]), writer
    assert report.samples == len(ds) and not report.bad_files and not report.larger_than_canvas
    assert ds.x.shape[1:] == (1, 170, 242) and ds.x.dtype == np.uint8


def run_cli(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "sigbench.cli.prepare", *overrides]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_cli_end_to_end(tmp_path: Path) -> None:
    names = ["full_org/original_1_1.png", "full_org/original_1_2.png", "full_org/original_2_1.png"]
    for i, name in enumerate([*names, "full_forg/forgeries_1_1.png", "full_forg/forgeries_2_1.png"]):
        scribble(tmp_path / "cedar" / name, seed=i)

    done = run_cli(
        "dataset=cedar", "dataset.path=cedar", "output=prepared/cedar.npz", "workers=1", cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    ds = load_dataset(tmp_path / "prepared" / "cedar.npz")
    assert len(ds) == 5 and ds.user_mapping.tolist() == ["1", "2"] and int(ds.yforg.sum()) == 2
    stats = json.loads((tmp_path / "prepared" / "cedar.npz.stats.json").read_text())
    assert stats["dataset"] == "cedar" and stats["canvas_size"] == [730, 1042]
    assert "samples written" in done.stdout, "the statistics table is printed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cedar", "prepared"], "no Hydra folders in the cwd"


def test_cli_names_missing_or_wrong_dataset_path(tmp_path: Path) -> None:
    missing = run_cli("dataset=cedar", "output=x.npz", cwd=tmp_path)
    assert missing.returncode != 0 and "dataset.path" in missing.stderr

    wrong = run_cli("dataset=mcyt", "dataset.path=no/such/dir", "output=x.npz", cwd=tmp_path)
    assert wrong.returncode != 0 and "dataset.path=no/such/dir does not exist" in wrong.stderr
    assert list(tmp_path.iterdir()) == []
