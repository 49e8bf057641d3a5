"""The pairs protocol (every pair of signatures, genuine = same writer) checked against hand-counted
values, the Tobacco800 adapter (signature boxes cut from document pages) on generated pages and on the shared
tobacco800_dev pages, and the eval / train configs that join them.

The real-data tests are skipped, saying why, when ``../shared/data/tobacco800_dev`` is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

from sigbench.data.datasets import Box, Tobacco800Adapter, UnmatchedFilesError, create_adapter
from sigbench.data.datasets.tobacco800 import Tobacco800FormatError
from sigbench.data.formats import load_dataset
from sigbench.data.prepare import BadFilesError, prepare_dataset, read_signature
from sigbench.runner.conf import conf_dir
from sigbench.runner.evaluate import check_protocol
from sigbench.runner.schema import register_schemas
from sigbench.verification.metrics import METRIC_KEYS
from sigbench.verification.pairs import bootstrap_weights, count_pairs, pair_indices, run_pairs
from sigbench.verification.protocol import PROTOCOLS, format_table, protocol_options, run_protocol, summarize
from tests.helpers import REPO, SHARED_DATA
from tests.train_helpers import compose_train

TOBACCO = SHARED_DATA / "tobacco800_dev"
needs_tobacco = pytest.mark.skipif(
    not TOBACCO.is_dir(), reason=f"shared Tobacco800 pages not found at {TOBACCO} (tobacco800_dev)"
)

# ------------------------------------------------------------------------------------ pairs, by hand
#
# Three writers, two signatures each, unit vectors at these angles (degrees). The cosine distance is
# 1 - cos(delta), so every ranking below is a ranking of angle differences delta:
#   genuine pairs  (3): A 20, B 10, C 75
#   impostor pairs (12): A-B 90 100 70 80, A-C 180 105 160 125, B-C 90 165 80 155
# Sorted: 10g 20g 70i 75g 80i 80i 90i 90i 100i 105i 125i 155i 160i 165i 180i.
# Only the impostor at 70 beats a genuine pair (C's 75):
#   AUC = (12 + 12 + 11) / 36 = 35/36;
#   EER: the ROC point closest to FPR = FNR accepts delta <= 75: FRR 0, FAR 1/12, EER = 1/24.
ANGLES = np.array([0.0, 20.0, 90.0, 100.0, 180.0, 255.0])
WRITERS = np.array([0, 0, 1, 1, 2, 2])
FEATURES = np.stack([np.cos(np.radians(ANGLES)), np.sin(np.radians(ANGLES))], axis=1)
GENUINE_ONLY = np.zeros(6, dtype=int)


def hand_run(**options):
    return run_protocol(FEATURES, WRITERS, GENUINE_ONLY, "pairs", range(3), folds=1, **options)


def test_pairs_eer_and_auc_match_the_hand_count() -> None:
    (fold,) = hand_run()
    m = fold["all_metrics"]
    assert list(m) == list(METRIC_KEYS)
    preds = fold["predictions"]
    assert [len(p) for p in preds["genuinePreds"]] == [3]
    assert [len(p) for p in preds["randomPreds"]] == [12]
    assert [len(p) for p in preds["skilledPreds"]] == [0]
    np.testing.assert_allclose(np.sort(-preds["genuinePreds"][0]), 1 - np.cos(np.radians([10, 20, 75])))
    assert m["EER"] == pytest.approx(1 / 24)
    assert m["mean_AUC"] == pytest.approx(35 / 36) and m["auc_list"] == [m["mean_AUC"]]
    assert m["global_threshold"] == pytest.approx(np.cos(np.radians(75)) - 1)
    # default threshold: the EER threshold, so (FRR + FAR_random) / 2 is the EER
    assert m["FRR"] == 0.0 and m["FAR_random"] == pytest.approx(1 / 12)
    # no forgeries, no per-writer threshold: NaN, as compute_metrics gives a user without skilled scores
    assert math.isnan(m["FAR_skilled"]) and math.isnan(m["EER_userthresholds"])


def test_pairs_fixed_threshold_and_euclidean() -> None:
    # accept delta <= 72 degrees: C's genuine 75 is rejected, the impostor at 70 accepted
    (fold,) = hand_run(threshold=float(np.cos(np.radians(72)) - 1))
    assert fold["all_metrics"]["FRR"] == pytest.approx(1 / 3)
    assert fold["all_metrics"]["FAR_random"] == pytest.approx(1 / 12)
    # on unit vectors the euclidean distance 2 sin(delta / 2) ranks pairs as the angle does
    (euclid,) = hand_run(metric="euclidean")
    assert euclid["all_metrics"]["EER"] == pytest.approx(1 / 24)
    assert euclid["all_metrics"]["mean_AUC"] == pytest.approx(35 / 36)
    assert euclid["all_metrics"]["global_threshold"] == pytest.approx(-2 * np.sin(np.radians(37.5)))


def test_pair_counts() -> None:
    assert count_pairs(WRITERS) == (3, 12)
    assert count_pairs([0, 0, 0, 1, 2]) == (3, 7)  # C(5, 2) = 10 pairs, writer 0 holds 3 of them
    i, j = pair_indices(4)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    # writers outside exp_users and forgeries are not paired
    y = np.r_[WRITERS, 3, 3]
    yforg = np.r_[GENUINE_ONLY, 0, 0]
    yforg[1] = 1
    features = np.r_[FEATURES, FEATURES[:2]]
    (fold,) = run_pairs(features, y, yforg, [0, 1, 2], folds=1)
    assert len(fold["predictions"]["genuinePreds"][0]) == 2  # writer 0 lost its pair
    assert len(fold["predictions"]["randomPreds"][0]) == 8  # 5 signatures: 10 pairs, 2 genuine


class Draws:
    """A stand-in generator whose writer draw is fixed."""

    def __init__(self, draws: list[int]) -> None:
        self.draws = np.asarray(draws)

    def randint(self, low: int, high: int, size: int) -> np.ndarray:
        assert (low, high, size) == (0, 3, 3)
        return self.draws


def test_bootstrap_weights_count_pairs_of_drawn_writers() -> None:
    i, j = pair_indices(6)
    # writer B drawn once, C twice, A never: B's pair once, C's twice, B-C pairs 1 * 2 times, A's none
    weights = bootstrap_weights(WRITERS, i, j, 3, Draws([2, 1, 2]))
    by_pair = {(int(a), int(b)): int(w) for a, b, w in zip(i, j, weights, strict=True)}
    assert by_pair[(2, 3)] == 1 and by_pair[(4, 5)] == 2 and by_pair[(0, 1)] == 0
    assert all(by_pair[(a, b)] == 2 for a in (2, 3) for b in (4, 5))
    assert all(by_pair[(a, b)] == 0 for a in (0, 1) for b in (2, 3, 4, 5))
    assert weights.sum() == 1 + 2 + 8


def test_bootstrap_folds_are_seeded_and_fold_zero_is_the_pair_set() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(12), 3)
    feats = rng.normal(size=(12, 8))[y] + 0.9 * rng.normal(size=(36, 8))
    a = run_protocol(feats, y, np.zeros(36, int), "pairs", range(12), folds=6, seed=3)
    b = run_protocol(feats, y, np.zeros(36, int), "pairs", range(12), folds=6, seed=3)
    (single,) = run_protocol(feats, y, np.zeros(36, int), "pairs", range(12), folds=1)
    assert len(a) == 6
    assert [f["all_metrics"]["EER"] for f in a] == [f["all_metrics"]["EER"] for f in b]
    assert a[0]["all_metrics"]["EER"] == single["all_metrics"]["EER"]
    assert len({f["all_metrics"]["EER"] for f in a}) > 1  # the writer bootstrap moves the figure
    summary = summarize(a)
    assert summary["metrics"]["EER"]["std"] > 0 and summary["metrics"]["FAR_skilled"]["ci"] is None
    assert "FAR_skilled" in format_table(summary)


def test_pairs_errors_and_options() -> None:
    assert PROTOCOLS["pairs"] is run_pairs
    assert protocol_options("pairs") == {"metric": "cosine", "threshold": None, "expected_dim": None}
    with pytest.raises(ValueError, match="0 genuine and 3 impostor pairs"):
        run_pairs(FEATURES[::2], WRITERS[::2], GENUINE_ONLY[::2], range(3))
    with pytest.raises(ValueError, match="unknown distance metric"):
        hand_run(metric="manhattan")
    with pytest.raises(ValueError, match="unknown option"):
        hand_run(fusion="mean")
    with pytest.raises(ValueError, match="must not overlap"):
        run_pairs(FEATURES, WRITERS, GENUINE_ONLY, [0, 1], dev_users=[1, 2])


# -------------------------------------------------------------------------- the adapter, generated pages


def write_page(path: Path, size: tuple[int, int], strokes: list[tuple[int, int, int, int]]) -> None:
    """A bilevel Group-4 TIFF page (as Tobacco800's) with black rectangles ``(x, y, w, h)``."""
    width, height = size
    pixels = np.full((height, width), 255, np.uint8)
    for x, y, w, h in strokes:
        pixels[y : y + h, x : x + w] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "L").convert("1").save(path, compression="group4")


HEADER = "page,tobacco800_name,page_w,page_h,x,y,w,h,author\n"


def make_set(root: Path, rows: list[str]) -> Path:
    write_page(root / "pages" / "p1.tif", (200, 120), [(20, 30, 40, 6), (30, 20, 5, 25), (120, 70, 50, 4)])
    write_page(root / "pages" / "p2.tif", (200, 120), [(50, 50, 60, 5)])
    (root / "signature_boxes.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return root


GOOD_ROWS = [
    'pages/p1.tif,a.tif,200,120,10,10,70,50,"Smith, J."',
    'pages/p1.tif,a.tif,200,120,110,60,80,30,"Brown, K."',
    'pages/p2.tif,b.tif,200,120,40,40,90,30,"Smith, J."',
]


def test_adapter_cuts_boxes_of_generated_pages(tmp_path: Path) -> None:
    root = make_set(tmp_path / "t800", GOOD_ROWS)
    (root / "pages" / "blank.tif").write_bytes((root / "pages" / "p2.tif").read_bytes())
    rows = [*GOOD_ROWS, "pages/blank.tif,c.tif,200,120,,,,,", "pages/p2.tif,b.tif,200,120,1,1,10,10,"]
    (root / "signature_boxes.csv").write_text(HEADER + "\n".join(rows) + "\n")

    scan = Tobacco800Adapter(root).scan()
    assert [(r.path.name, r.writer_id, r.yforg, r.box) for r in scan.records] == [
        ("p1.tif", "Brown, K.", 0, Box(110, 60, 80, 30)),
        ("p1.tif", "Smith, J.", 0, Box(10, 10, 70, 50)),
        ("p2.tif", "Smith, J.", 0, Box(40, 40, 90, 30)),
    ]
    assert len(scan.unmatched) == 1 and "line 6: no author" in scan.unmatched[0]
    assert scan.ignored == ["pages/blank.tif (line 5: no signature on the page)"]
    with pytest.raises(UnmatchedFilesError, match="no author"):
        Tobacco800Adapter(root, strict=True).scan()

    crop = read_signature(scan.records[1].path, scan.records[1].box)
    assert crop.shape == (50, 70) and crop.dtype == np.uint8
    assert set(np.unique(crop).tolist()) == {0, 255}  # bilevel page: dark ink on white, 8 bits
    assert (crop == 0).sum() == 40 * 6 + 5 * 25 - 5 * 6  # the two strokes inside the box

    report = prepare_dataset(Tobacco800Adapter(root), tmp_path / "t.npz", workers=0, progress=False)
    ds = load_dataset(tmp_path / "t.npz")
    assert report.samples == 3 and report.duplicates_removed == 0  # two boxes of one page are two signatures
    assert ds.user_mapping.tolist() == ["Brown, K.", "Smith, J."] and ds.y.tolist() == [0, 1, 1]
    assert ds.filenames.tolist() == [
        "pages/p1.tif#110,60,80,30",
        "pages/p1.tif#10,10,70,50",
        "pages/p2.tif#40,40,90,30",
    ]
    assert (ds.yforg == 0).all()


def test_adapter_lists_pages_the_csv_does_not_name(tmp_path: Path) -> None:
    root = make_set(tmp_path / "t800", GOOD_ROWS)
    write_page(root / "pages" / "extra.tif", (50, 50), [])
    scan = Tobacco800Adapter(root).scan()
    assert scan.unmatched == ["pages/extra.tif (not in signature_boxes.csv)"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('pages/p1.tif,a.tif,200,120,150,10,70,50,"Smith, J."', r"line 2 \(pages/p1.tif\): box x=150.*page_"),
        ('pages/p1.tif,a.tif,200,120,10,10,0,50,"Smith, J."', r"line 2 .*w, h > 0"),
        ('pages/p1.tif,a.tif,200,120,10,ten,70,50,"Smith, J."', r"line 2 .*y='ten'; expected an integer"),
        ('pages/p1.tif,a.tif,200,120,10,10,,50,"Smith, J."', r"line 2 .*w=''; expected an integer"),
        (',a.tif,200,120,10,10,70,50,"Smith, J."', r"line 2: empty 'page'"),
    ],
)
def test_adapter_errors_name_the_row_and_what_was_expected(tmp_path: Path, row: str, message: str) -> None:
    root = make_set(tmp_path / "t800", [row])
    with pytest.raises(Tobacco800FormatError, match=message):
        Tobacco800Adapter(root).scan()


def test_adapter_errors_on_columns_files_and_decoded_size(tmp_path: Path) -> None:
    root = make_set(tmp_path / "t800", GOOD_ROWS)
    (root / "signature_boxes.csv").write_text("page,x,y,w,h\npages/p1.tif,1,1,5,5\n")
    with pytest.raises(Tobacco800FormatError, match=r"missing column\(s\) \['page_w', 'page_h', 'author'\]"):
        Tobacco800Adapter(root).scan()
    make_set(root, ['pages/gone.tif,g.tif,200,120,1,1,5,5,"Smith, J."'])
    with pytest.raises(FileNotFoundError, match=r"line 2: page .*gone.tif does not exist"):
        Tobacco800Adapter(root).scan()
    with pytest.raises(FileNotFoundError, match="nothing.csv does not exist"):
        Tobacco800Adapter(tmp_path / "nothing.csv").scan()
    # the CSV claims a larger page than the file holds: prepare names the file and the box
    make_set(root, ['pages/p2.tif,b.tif,400,400,150,100,100,50,"Smith, J."'])
    with pytest.raises(BadFilesError, match=r"p2.tif#150,100,100,50.*not lie inside the image \(200 x 120"):
        prepare_dataset(Tobacco800Adapter(root), tmp_path / "t.npz", workers=0, progress=False)


def test_a_scan_source_refuses_signatures_that_are_boxes_of_pages(tmp_path: Path) -> None:
    from sigbench.documents.sources import ScanSource

    root = make_set(tmp_path / "letters", GOOD_ROWS)  # a folder name that does not say Tobacco800
    with pytest.raises(ValueError, match="boxes on pages .*one signature per file"):
        ScanSource(root, adapter="tobacco800")


# ------------------------------------------------------------------------------- the shared pages


@pytest.fixture(scope="module")
def tobacco_scan():
    return create_adapter("tobacco800", TOBACCO).scan()


@needs_tobacco
def test_tobacco800_dev_signatures(tobacco_scan) -> None:
    scan = tobacco_scan
    # 135 signature boxes: 117 with an author (54 authors), 18 without (left out, listed with their line)
    assert len(scan.records) == 117 and len(scan.writers()) == 54
    assert len(scan.unmatched) == 18 and all("no author" in u for u in scan.unmatched)
    assert len(scan.records) + len(scan.unmatched) == 135
    assert all(r.yforg == 0 and r.forger_id is None and r.box is not None for r in scan.records)
    labels = [r.writer_id for r in scan.records]
    counts = np.unique(labels, return_counts=True)[1]
    assert (counts >= 2).sum() == 37 and counts[counts >= 2].sum() == 100
    assert count_pairs(labels) == (98, 6688)
    again = create_adapter("tobacco800", TOBACCO).scan()
    assert again.records == scan.records  # one deterministic order
    for record in scan.records:
        crop = read_signature(record.path, record.box)
        assert crop.shape == (record.box.h, record.box.w) and crop.dtype == np.uint8
        dark = (crop < 128).mean()
        assert 0 < dark < 0.5, f"{record}: {dark:.3f} of the crop is ink"  # ink on white paper
    path, box = scan.records[0].path, scan.records[0].box
    np.testing.assert_array_equal(read_signature(path, box), read_signature(path, box))


@needs_tobacco
def test_tobacco800_source_config_prepares_the_pair_set(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    overrides = ["data=tobacco800_signatures", "data.dataset.workers=0"]
    cfg = compose_train(overrides, tmp_path, tmp_path / "cache")
    ds = instantiate(cfg.data.dataset)()
    assert len(ds) == 117 and ds.users.size == 54 and (ds.yforg == 0).all()
    assert ds.user_mapping.tolist() == sorted(ds.user_mapping.tolist())  # authors numbered in sorted order
    assert ds.user_mapping[0] == "Austern, H.T." and ds.filenames[0].startswith("pages/")
    assert not list((tmp_path / "cache" / "prepared").glob("*.bad.txt"))  # nothing skipped
    # the 150 dpi crop whose 1-px strokes vanish under the reference's blur is kept, with its ink
    thin = ds.filenames.tolist().index("pages/f45310532af2ee1b6a8f333dc0a954e2.tif#876,999,170,90")
    assert 0 < np.count_nonzero(ds.x[thin]) < ds.x[thin].size // 10
    assert count_pairs(ds.y) == (98, 6688)  # the counts conf/protocol/tobacco800_pairs.yaml states


# ------------------------------------------------------------------------------------------- configs


def test_eval_composes_with_the_tobacco800_pairs_protocol(tmp_path: Path) -> None:
    import sigbench.cli.evaluate  # noqa: F401  (registers the eval schema)

    register_schemas()
    paths = [f"paths.root_dir={REPO}", f"paths.output_dir={tmp_path}"]
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("eval", overrides=["ckpt=model.ckpt", "protocol=tobacco800_pairs", *paths])
    protocol = OmegaConf.to_container(cfg.protocol, resolve=True)
    check_protocol(protocol)
    assert protocol["name"] == "pairs" and protocol["folds"] == 100 and protocol["exp_users"] is None
    assert protocol["options"] == {"metric": "cosine", "threshold": None}
    adapter = protocol["data"]["dataset"]["adapter"]
    assert adapter["_target_"] == "sigbench.data.datasets.Tobacco800Adapter"
    assert Path(adapter["path"]).resolve() == (REPO.parent / "shared" / "data" / "tobacco800_dev").resolve()
    # the post-training evaluation of an experiment takes it the same way
    train = compose_train(["experiment=smoke", "+protocol@evaluation.t800_pairs=tobacco800_pairs"], tmp_path)
    check_protocol(OmegaConf.to_container(train.evaluation.t800_pairs, resolve=True))
    assert train.evaluation.t800_pairs.data.dataset.adapter.path.endswith("tobacco800_dev")
