"""Tests of the built-in synthetic signature generator (tiny sets, so the file runs in seconds)."""

from __future__ import annotations

import csv
import os

import cv2
import numpy as np
import pytest

from sigbench.cli import synthetic as cli
from sigbench.data.formats import load_dataset
from sigbench.data.synthetic import (
    CANVAS_SIZE,
    FORGERS_PER_WRITER,
    SCAN_SIZE,
    cache_config,
    cache_key,
    generate_dataset,
    load_or_generate,
    render_raw_scan,
    resolve_difficulty,
    writer_scans,
)
from sigbench.data.synthetic import dataset as synth_dataset

WRITERS, GENUINE, FORGERIES = 6, 3, 2


@pytest.fixture(scope="module")
def small():
    return generate_dataset(WRITERS, GENUINE, FORGERIES, seed=0)


def _descriptor(img: np.ndarray) -> np.ndarray:
    """Blurred, downsampled, centred and normalised pixels: a crude shape descriptor."""
    small = cv2.resize(
        cv2.GaussianBlur(img.astype(np.float32), (0, 0), 3), (48, 34), interpolation=cv2.INTER_AREA
    )
    vec = small.ravel() - small.mean()
    return vec / np.linalg.norm(vec)


def _distances(ds):
    feats = np.stack([_descriptor(x[0]) for x in ds.x])
    return 1.0 - feats @ feats.T


# --- format, labels, determinism ---


def test_shapes_dtypes_and_labels(small):
    n = WRITERS * (GENUINE + FORGERIES)
    assert small.x.shape == (n, 1, 170, 242)
    assert small.x.dtype == np.uint8
    assert small.y.dtype == np.int64 and small.yforg.dtype == np.int64
    assert np.bincount(small.y).tolist() == [GENUINE + FORGERIES] * WRITERS
    assert int((small.yforg == 1).sum()) == WRITERS * FORGERIES
    assert set(np.unique(small.yforg)) == {0, 1}
    assert small.user_mapping.tolist() == [f"synth_{k:04d}" for k in range(WRITERS)]
    assert len(set(small.filenames)) == n
    assert small.filenames[0] == "synth_0000/genuine_00.png"
    assert small.filenames[GENUINE] == "synth_0000/forgery_00.png"
    assert small.source is not None and set(small.source) == {"synthetic"}
    # Preprocessed like real scans: background exactly 0, ink bright.
    assert (small.x[:, 0, 0, 0] == 0).all()
    assert (small.x.reshape(n, -1).max(axis=1) > 100).all()


def test_same_seed_is_identical_and_other_seed_differs(small):
    again = generate_dataset(WRITERS, GENUINE, FORGERIES, seed=0)
    assert np.array_equal(again.x, small.x)
    assert np.array_equal(again.y, small.y) and np.array_equal(again.yforg, small.yforg)
    assert np.array_equal(again.filenames, small.filenames)
    other = generate_dataset(WRITERS, GENUINE, FORGERIES, seed=1)
    assert not np.array_equal(other.x, small.x)


def test_parallel_generation_matches_serial(small):
    parallel = generate_dataset(2, GENUINE, FORGERIES, seed=0, num_workers=2)
    assert np.array_equal(parallel.x, small.x[small.y < 2])


def test_writer_slices_are_the_same_writers(small):
    tail = generate_dataset(3, GENUINE, FORGERIES, seed=0, first_writer=3)
    assert np.array_equal(tail.x, small.x[small.y >= 3])
    assert tail.user_mapping.tolist() == ["synth_0003", "synth_0004", "synth_0005"]
    assert tail.y.min() == 0 and tail.y.max() == 2
    assert np.array_equal(tail.filenames, small.filenames[small.y >= 3])


def test_more_samples_extend_without_changing_earlier_ones(small):
    more = generate_dataset(2, GENUINE + 1, FORGERIES, seed=0)
    genuine = more.x[(more.yforg == 0) & (more.y == 0)]
    assert np.array_equal(genuine[:GENUINE], small.x[(small.yforg == 0) & (small.y == 0)])


def test_raw_scan_looks_like_a_scan_and_matches_the_set():
    raw = render_raw_scan(4, sample=1, forgery=True, seed=0)
    assert raw.shape == SCAN_SIZE and raw.dtype == np.uint8
    assert 195 <= np.median(raw) <= 250  # light paper
    assert raw.min() <= 130  # dark ink
    inside = writer_scans(0, 4, 1, 2, resolve_difficulty("default"))
    assert np.array_equal(inside[-1].image, raw)
    assert inside[-1].info.forger == 1 % FORGERS_PER_WRITER


# --- a real (but not trivial) verification task ---


def test_genuine_samples_vary_but_stay_closer_within_writer(small):
    dist = _distances(small)
    genuine = small.yforg == 0
    same = small.y[:, None] == small.y[None, :]
    off_diag = ~np.eye(len(small), dtype=bool)
    within = dist[np.ix_(genuine, genuine)][(same & off_diag)[np.ix_(genuine, genuine)]]
    between = dist[np.ix_(genuine, genuine)][~same[np.ix_(genuine, genuine)]]
    for u in range(WRITERS):
        imgs = small.x[(small.y == u) & genuine]
        assert not any(np.array_equal(imgs[i], imgs[j]) for i in range(len(imgs)) for j in range(i))
    assert within.min() > 0.005  # not near-copies
    assert within.mean() < 0.6 * between.mean()


def test_forgeries_are_closer_to_their_writer_than_random_writers(small):
    dist = _distances(small)
    forged, genuine = small.yforg == 1, small.yforg == 0
    same = (small.y[:, None] == small.y[None, :])[np.ix_(forged, genuine)]
    to_writer = dist[np.ix_(forged, genuine)][same].mean()
    to_others = dist[np.ix_(forged, genuine)][~same].mean()
    assert to_writer < 0.6 * to_others


def test_difficulty_raises_variability_and_forger_skill():
    easy, default, hard = (resolve_difficulty(d) for d in ("easy", "default", "hard"))
    assert easy.genuine_variability < default.genuine_variability < hard.genuine_variability
    assert easy.forger_skill < default.forger_skill < hard.forger_skill
    assert resolve_difficulty(0.5) == default
    sets = [generate_dataset(3, 3, 0, difficulty=d, seed=0) for d in ("easy", "hard")]
    spreads = []
    for ds in sets:
        dist = _distances(ds)
        same = (ds.y[:, None] == ds.y[None, :]) & ~np.eye(len(ds), dtype=bool)
        spreads.append(dist[same].mean())
    assert spreads[0] < spreads[1]


# --- argument checking ---


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"num_writers": 0}, ValueError, "num_writers"),
        ({"genuine_per_writer": -1}, ValueError, "genuine_per_writer"),
        ({"forgeries_per_writer": -2}, ValueError, "forgeries_per_writer"),
        ({"num_writers": 2.5}, TypeError, "num_writers"),
        ({"difficulty": "extreme"}, ValueError, "difficulty"),
        ({"difficulty": 1.5}, ValueError, "difficulty"),
        ({"seed": -1}, ValueError, "seed"),
        ({"first_writer": -3}, ValueError, "first_writer"),
        ({"canvas_size": (100, 100)}, ValueError, "canvas_size"),
        ({"img_size": (170,)}, ValueError, "img_size"),
        ({"num_workers": -5}, ValueError, "num_workers"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, name):
    args = {"num_writers": 1, "genuine_per_writer": 1, "forgeries_per_writer": 1, **kwargs}
    with pytest.raises(error, match=name):
        generate_dataset(**args)


# --- cache ---


def test_cache_hit_returns_equal_data_without_regenerating(tmp_path, monkeypatch):
    first = load_or_generate(tmp_path, 2, 2, 1, seed=3)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("cache hit must not regenerate")

    monkeypatch.setattr(synth_dataset, "generate_dataset", fail)
    second = load_or_generate(tmp_path, 2, 2, 1, seed=3, num_workers=2)  # workers do not change the data
    assert np.array_equal(first.x, second.x) and np.array_equal(first.y, second.y)
    assert np.array_equal(first.filenames, second.filenames)
    assert files[0].stat().st_mtime_ns == mtime
    with pytest.raises(AssertionError, match="must not regenerate"):
        load_or_generate(tmp_path, 2, 2, 1, seed=4)  # another config is a miss


def test_cache_key_depends_on_what_changes_the_output():
    base = cache_key(cache_config(2, 2, 1))
    assert base == cache_key(cache_config(2, 2, 1, difficulty=0.5))  # "default" is level 0.5
    for change in ({"seed": 1}, {"difficulty": "hard"}, {"first_writer": 1}, {"img_size": (150, 220)}):
        assert cache_key(cache_config(2, 2, 1, **change)) != base
    assert cache_key(cache_config(3, 2, 1)) != base
    assert cache_config(2, 2, 1)["generator_version"] == synth_dataset.GENERATOR_VERSION


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    def broken_savez(fh, **arrays):
        fh.write(b"partial npz")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        load_or_generate(tmp_path, 1, 1, 0)
    assert os.listdir(tmp_path) == []


def test_unreadable_cache_file_is_regenerated(tmp_path):
    path = tmp_path / f"{cache_key(cache_config(1, 2, 1))}.npz"
    path.write_bytes(b"not an npz")
    ds = load_or_generate(tmp_path, 1, 2, 1)
    assert len(ds) == 3
    assert np.array_equal(load_dataset(path).x, ds.x)


# --- CLI ---


def test_cli_writes_pngs_manifest_and_npz(tmp_path, capsys):
    out, npz = tmp_path / "set", tmp_path / "set.npz"
    argv = [str(out), "--writers", "2", "--genuine", "2", "--forgeries", "2", "--images", "both"]
    assert cli.main([*argv, "--npz", str(npz), "--seed", "5"]) == 0
    assert "8 signatures of 2 writers" in capsys.readouterr().out
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "writer", "label", "sample", "forger"]
    assert len(rows) == 2 * 4 * 2  # writers x samples x (raw + preprocessed)
    assert {r["writer"] for r in rows} == {"synth_0000", "synth_0001"}
    forged = [r for r in rows if r["label"] == "forgery"]
    assert len(forged) == 8 and {r["forger"] for r in forged} == {"0", "1"}
    assert all(r["forger"] == "" for r in rows if r["label"] == "genuine")
    for row in rows:
        img = cv2.imread(str(out / row["path"]), cv2.IMREAD_UNCHANGED)
        expected = SCAN_SIZE if row["path"].startswith("raw/") else (170, 242)
        assert img is not None and img.shape == expected
    ds = load_dataset(npz)
    assert len(ds) == 8
    same = generate_dataset(2, 2, 2, seed=5)
    assert np.array_equal(ds.x, same.x)
    raw_file = out / "raw" / "synth_0001" / "forgery_01.png"
    assert np.array_equal(
        cv2.imread(str(raw_file), cv2.IMREAD_UNCHANGED), render_raw_scan(1, 1, True, seed=5)
    )


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--writers", "0"], "--writers"),
        (["--genuine", "-1"], "--genuine"),
        (["--difficulty", "extreme"], "--difficulty"),
        (["--canvas", "10", "10"], "canvas_size"),
        (["--images", "none"], "--npz"),
    ],
)
def test_cli_bad_arguments_exit_with_a_clear_message(tmp_path, capsys, extra, flag):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(tmp_path / "out"), *extra])
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_refuses_to_overwrite_without_flag(tmp_path, capsys):
    argv = [str(tmp_path), "--writers", "1", "--genuine", "1", "--forgeries", "0"]
    assert cli.main(argv) == 0
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0


def test_default_canvas_holds_the_raw_scan():
    assert all(c >= s for c, s in zip(CANVAS_SIZE, SCAN_SIZE, strict=True))
