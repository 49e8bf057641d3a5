"""Dataset adapters: every naming scheme on a small generated tree, mixed image modes through prepare,
the registry and configs, and the real shared data where present."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from sigbench.data.datasets import (
    BrazilianAdapter,
    FolderAdapter,
    ManifestAdapter,
    UnmatchedFilesError,
    available_adapters,
    create_adapter,
    get_adapter,
    natural_key,
)
from sigbench.data.formats import load_dataset
from sigbench.data.prepare import prepare_dataset
from tests.helpers import CONF, SHARED_DATA

BHSIG = SHARED_DATA / "bhsig260_bengali"
NISDCC = SHARED_DATA / "sigcomp2009_nisdcc_preview"


def signature(seed: int, size: tuple[int, int] = (48, 110)) -> np.ndarray:
    """A distinct dark scribble on light paper (distinct so de-duplication keeps every file)."""
    rng = np.random.default_rng(seed)
    img = np.full(size, 250, np.uint8)
    points = np.stack([rng.integers(8, size[1] - 8, 6), rng.integers(8, size[0] - 8, 6)], axis=1)
    cv2.polylines(img, [points.astype(np.int32)], False, int(rng.integers(0, 60)), 2)
    return img


def write_image(path: Path, mode: str, seed: int) -> None:
    """Save a scribble in a PIL mode: L, 1 (bilevel), RGB, RGBA (transparent paper), P (palette)."""
    gray = signature(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "RGBA":
        rgba = np.zeros((*gray.shape, 4), np.uint8)
        rgba[..., :3] = gray[..., None]
        rgba[..., 3] = np.where(gray < 128, 255, 0)
        Image.fromarray(rgba, "RGBA").save(path)
        return
    im = Image.fromarray(gray, "L")
    if mode == "1":
        im = im.point(lambda v: 255 if v > 128 else 0).convert("1")
    elif mode == "RGB":
        im = Image.merge("RGB", (im, im, im))
    elif mode == "P":
        im = im.convert("P")
    im.save(path)


MODES = ("L", "1", "RGB", "RGBA", "P")


def mode_for(name: str, i: int) -> str:
    """Cycle through the modes the file format can hold."""
    suffix = Path(name).suffix.lower()
    allowed = {".jpg": ("L", "RGB"), ".jpeg": ("L", "RGB"), ".bmp": ("L", "1", "RGB", "P")}.get(suffix, MODES)
    return allowed[i % len(allowed)]


def make_tree(root: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        write_image(root / name, mode_for(name, i), seed=i)


# (adapter name, {file: (writer, yforg, forger)}, unmatched files, user order)
CASES = {
    "cedar": (
        {
            "full_org/original_2_1.png": ("2", 0, None),
            "full_org/original_2_2.tif": ("2", 0, None),
            "full_org/original_10_1.png": ("10", 0, None),
            "full_forg/forgeries_2_1.png": ("2", 1, None),
            "full_forg/forgeries_10_3.png": ("10", 1, None),
        },
        ["full_org/scan_2_1.png"],
        ["2", "10"],
    ),
    "mcyt": (
        {
            "0000/0000v00.bmp": ("0000", 0, None),
            "0000/0000v01.bmp": ("0000", 0, None),
            "0000/0000f00.bmp": ("0000", 1, None),
            "0012/0012v03.bmp": ("0012", 0, None),
            "0012/x0012f07.bmp": ("0012", 1, None),
        },
        ["0012/0012x01.bmp"],
        ["0000", "0012"],
    ),
    "gpds": (
        {
            "001/c-001-01.jpg": ("001", 0, None),
            "001/c-001-02.png": ("001", 0, None),
            "001/cf-001-01.jpg": ("001", 1, None),
            "881/c-881-24.tif": ("881", 0, None),
            "881/cf-881-30.png": ("881", 1, None),
        },
        ["881/x-881-01.png"],
        ["001", "881"],
    ),
    "gpds_synthetic": (
        {
            "001/c-001-01.jpg": ("001", 0, None),
            "001/cf-001-05.jpg": ("001", 1, None),
            "1000/c-1000-01.jpg": ("1000", 0, None),
            "1000/cf-1000-01.jpg": ("1000", 1, None),
        },
        [],
        ["001", "1000"],
    ),
    "brazilian": (
        {
            "a001_01.jpg": ("001", 0, None),
            "a001_40.png": ("001", 0, None),
            "a001_41.png": ("001", 2, None),
            "a001_55.tif": ("001", 1, None),
            "a100_02.png": ("100", 0, None),
        },
        ["a001_61.png"],
        ["001", "100"],
    ),
    "bhsig260_bengali": (
        {
            "1/B-S-1-G-01.tif": ("1", 0, None),
            "1/B-S-1-G-02.png": ("1", 0, None),
            "1/B-S-1-F-01.png": ("1", 1, None),
            "12/B-S-12-G-24.png": ("12", 0, None),
            "12/B-S-12-F-30.png": ("12", 1, None),
        },
        ["12/H-S-12-G-01.png"],
        ["1", "12"],
    ),
    "bhsig260_hindi": (
        {
            "001/H-S-1-G-01.tif": ("1", 0, None),
            "001/H-S-1-F-01.png": ("1", 1, None),
            "160/H-S-160-G-03.png": ("160", 0, None),
            "160/H-S-160-F-03.png": ("160", 1, None),
        },
        ["160/B-S-160-G-03.png"],
        ["1", "160"],
    ),
    "sigcomp2009_nisdcc": (
        {
            "data/001001_000.png": ("001", 0, None),
            "data/001001_001.png": ("001", 0, None),
            "data/002001_001.png": ("001", 1, "002"),
            "data/forged/021001_000.png": ("001", 1, "021"),
            "data/012012_004.png": ("012", 0, None),
            "data/forged/021012_004.png": ("012", 1, "021"),
        },
        ["data/forged/001001_003.png", "data/001-001_000.png"],
        ["001", "012"],
    ),
    "sigcomp2011": (
        {
            "train/049/01_049.png": ("049", 0, None),
            "train/049/049_02.PNG": ("049", 0, None),
            "train/049_forg/01_0114049.PNG": ("049", 1, "0114"),
            "train/049_forg/0114049_02.png": ("049", 1, "0114"),
            "test/050/03_050.png": ("050", 0, None),
        },
        ["train/050/01_049.png", "train/050_forg/01_0114049.png"],
        ["049", "050"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_adapter_parses_its_naming_scheme(name: str, tmp_path: Path) -> None:
    expected, unmatched, users = CASES[name]
    make_tree(tmp_path, [*expected, *unmatched])
    (tmp_path / "Thumbs.db").write_bytes(b"not an image")
    (tmp_path / "._hidden.png").write_bytes(b"macOS fork")

    scan = create_adapter(name, tmp_path).scan()

    got = {r.path.relative_to(tmp_path).as_posix(): (r.writer_id, r.yforg, r.forger_id) for r in scan.records}
    assert got == expected
    assert scan.unmatched == sorted(unmatched, key=natural_key)
    assert set(scan.ignored) == {"Thumbs.db", "._hidden.png"}
    assert scan.writers() == users


@pytest.mark.parametrize("name", sorted(CASES))
def test_adapter_prepares_mixed_image_modes(name: str, tmp_path: Path) -> None:
    expected, _, users = CASES[name]
    make_tree(tmp_path / "data", list(expected))
    adapter = create_adapter(name, tmp_path / "data")

    report = prepare_dataset(adapter, tmp_path / "out.npz", workers=0, progress=False)

    ds = load_dataset(tmp_path / "out.npz")
    assert ds.x.shape == (len(expected), 1, 170, 242) and ds.x.dtype == np.uint8
    assert ds.user_mapping.tolist() == users
    for filename, y, yforg in zip(ds.filenames, ds.y, ds.yforg, strict=True):
        writer, kind, _ = expected[filename]
        assert (ds.user_mapping[y], yforg) == (writer, kind)
    assert ds.x.reshape(len(ds), -1).max(axis=1).min() > 0, "every image holds (bright) ink"
    assert report.canvas_size == adapter.default_canvas and not report.bad_files


def test_strict_adapter_names_unmatched_files(tmp_path: Path) -> None:
    make_tree(tmp_path, ["full_org/original_1_1.png", "full_org/scan_1_1.png", "full_org/other.png"])
    assert len(create_adapter("cedar", tmp_path).records()) == 1
    with pytest.raises(UnmatchedFilesError, match=r"2 file\(s\).*other\.png.*scan_1_1\.png"):
        create_adapter("cedar", tmp_path, strict=True).scan()


def test_numeric_writer_ids_sort_by_value_and_others_naturally() -> None:
    assert sorted(["10", "2", "1"], key=natural_key) == ["1", "2", "10"]
    assert sorted(["u10", "u2", "b"], key=natural_key) == ["b", "u2", "u10"]


def test_brazilian_sample_ranges_map_to_kinds() -> None:
    kinds = {
        s: k for first, last, k in ((1, 40, 0), (41, 50, 2), (51, 60, 1)) for s in range(first, last + 1)
    }
    from sigbench.data.datasets.brazilian import SAMPLE_KINDS

    assert {s: k for first, last, k in SAMPLE_KINDS for s in range(first, last + 1)} == kinds
    assert BrazilianAdapter.default_canvas == (700, 1000)


def test_folder_adapter_globs(tmp_path: Path) -> None:
    make_tree(
        tmp_path, ["w1/G01.png", "w1/F01.png", "w1/S01.tif", "w2/g02.png", "w10/genuine/x.png", "loose.png"]
    )
    scan = FolderAdapter(tmp_path, genuine=["G*", "genuine/*"], forgery="F*", simple="S*").scan()
    got = {r.path.name: (r.writer_id, r.yforg) for r in scan.records}
    assert got == {
        "G01.png": ("w1", 0),
        "F01.png": ("w1", 1),
        "S01.tif": ("w1", 2),
        "g02.png": ("w2", 0),
        "x.png": ("w10", 0),
    }
    assert scan.unmatched == ["loose.png"]
    assert scan.writers() == ["w1", "w2", "w10"]
    case = FolderAdapter(tmp_path, genuine="G*", forgery="F*", case_sensitive=True).scan()
    assert "w2/g02.png" in case.unmatched


def test_folder_adapter_regex_with_writer_and_forger_groups(tmp_path: Path) -> None:
    make_tree(tmp_path, ["genuine/ann_1.png", "genuine/bob_2.png", "forged/bob-ann_1.png", "forged/x.png"])
    adapter = FolderAdapter(
        tmp_path,
        genuine=r"genuine/(?P<writer>[a-z]+)_\d+\.png",
        forgery=r"forged/(?P<forger>[a-z]+)-(?P<writer>[a-z]+)_\d+\.png",
        regex=True,
    )
    scan = adapter.scan()
    got = {r.path.relative_to(tmp_path).as_posix(): r[1:4] for r in scan.records}
    assert got == {
        "genuine/ann_1.png": ("ann", 0, None),
        "genuine/bob_2.png": ("bob", 0, None),
        "forged/bob-ann_1.png": ("ann", 1, "bob"),
    }
    assert scan.unmatched == ["forged/x.png"]
    with pytest.raises(Exception, match="missing"):
        FolderAdapter(tmp_path, genuine="(?P<writer>", regex=True)


def test_manifest_adapter(tmp_path: Path) -> None:
    make_tree(tmp_path, ["imgs/a.png", "imgs/b.tif", "imgs/c.png", "imgs/d.png"])
    outside = tmp_path.parent / f"{tmp_path.name}_abs.png"
    write_image(outside, "RGB", seed=99)
    rows = [
        ("imgs/a.png", "7", "genuine", ""),
        ("imgs/b.tif", "7", "skilled", "3"),
        ("imgs/c.png", "12", "2", ""),
        (str(outside), "12", "Forgery", "5"),
        ("imgs/d.png", "12", "maybe", ""),
    ]
    csv_path = tmp_path / "list.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Path", "writer", "label", "forger", "note"])
        writer.writerows([(*row, "x") for row in rows])

    scan = ManifestAdapter(csv_path).scan()

    got = [r[:4] for r in scan.records]
    assert got == [
        (tmp_path / "imgs/a.png", "7", 0, None),
        (tmp_path / "imgs/b.tif", "7", 1, "3"),
        (outside, "12", 1, "5"),
        (tmp_path / "imgs/c.png", "12", 2, None),
    ]
    assert len(scan.unmatched) == 1 and "imgs/d.png" in scan.unmatched[0] and "line 6" in scan.unmatched[0]
    report = prepare_dataset(ManifestAdapter(csv_path), tmp_path / "m.npz", workers=0, progress=False)
    assert report.samples == 4 and report.counts["simple_forgeries"] == 1
    names = set(load_dataset(tmp_path / "m.npz").filenames)
    assert names == {"imgs/a.png", "imgs/b.tif", "imgs/c.png", outside.as_posix()}


def test_manifest_adapter_requires_columns(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("file,person\na.png,1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['path', 'writer', 'label'\]"):
        ManifestAdapter(tmp_path).scan()


def test_registry_and_errors(tmp_path: Path) -> None:
    assert set(CASES) | {"folder", "manifest", "tobacco800"} == set(available_adapters())
    with pytest.raises(KeyError, match=r"available: .*cedar"):
        get_adapter("nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_adapter("cedar", tmp_path / "missing").scan()
    with pytest.raises(ValueError, match="canvas_size"):
        create_adapter("cedar", tmp_path, canvas_size=(0, 10))
    assert create_adapter("cedar", tmp_path, canvas_size=[100, 140]).canvas_size == (100, 140)


@pytest.mark.parametrize("name", [*sorted(CASES), "folder", "manifest", "tobacco800"])
def test_dataset_config_builds_its_adapter(name: str, tmp_path: Path) -> None:
    """conf/dataset/<name>.yaml targets the adapter registered as <name>, with the same canvas."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF / "dataset" / f"{name}.yaml")
    assert OmegaConf.is_missing(cfg, "path")
    cfg.path = str(tmp_path)
    adapter = instantiate(cfg, _convert_="all")
    assert type(adapter) is get_adapter(name)
    assert adapter.canvas_size == get_adapter(name).default_canvas


@pytest.mark.skipif(not BHSIG.is_dir(), reason=f"shared BHSig260 Bengali data not found at {BHSIG}")
def test_bhsig_bengali_adapter_matches_manifest() -> None:
    with (BHSIG / "manifest.csv").open() as fh:
        manifest = {r["path"]: (r["writer"], 0 if r["label"] == "genuine" else 1) for r in csv.DictReader(fh)}
    scan = create_adapter("bhsig260_bengali", BHSIG).scan()
    got = {r.path.relative_to(BHSIG).as_posix(): (r.writer_id, r.yforg) for r in scan.records}
    assert got == manifest
    assert scan.unmatched == [] and scan.ignored == ["manifest.csv"]
    assert scan.writers() == [str(i) for i in range(1, 101)]


@pytest.mark.skipif(not NISDCC.is_dir(), reason=f"shared SigComp2009 NISDCC preview not found at {NISDCC}")
def test_nisdcc_adapter_matches_manifest() -> None:
    with (NISDCC / "manifest.csv").open() as fh:
        manifest = {
            r["path"]: (int(r["writer"]), 0 if r["label"] == "genuine" else 1, r["forger"] or None)
            for r in csv.DictReader(fh)
        }
    scan = create_adapter("sigcomp2009_nisdcc", NISDCC).scan()
    got = {
        r.path.relative_to(NISDCC).as_posix(): (int(r.writer_id), r.yforg, r.forger_id) for r in scan.records
    }
    assert got == manifest and scan.unmatched == []
