"""Calibration on a labelled signature set (``sigbench-service calibrate --data``): the stored images reach
the extractor as a deployed crop would, the thresholds are those of ``calibrate()`` on independently
computed embeddings, and bad selections fail before anything is embedded."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from sigbench.data.formats import SignatureDataset, load_dataset, save_npz
from sigbench.data.preprocess import preprocess_signature
from sigbench.service import cli
from sigbench.service.bundle import Preprocessing, build_bundle, load_bundle
from sigbench.service.calibrate import Labelled, calibrate, report_lines, synthetic_scans
from sigbench.service.labelled import CalibrationDataError, WriterRanges, embed_stored, select, stored_as_crop
from sigbench.service.pipeline import Pipeline
from tests.helpers import SHARED_DATA
from tests.service_helpers import DIFFICULTY, calibrated_bundle

IMG_SIZE = (170, 242)
# writers of the test population the extractor never trained on (it trained on 0..29)
DEVELOPMENT, HELD_OUT, NEGATIVES = range(40, 46), range(46, 50), range(50, 53)
N_REF = 3


def prepared_set(canvas: tuple[int, int], writers: range, genuine: int, forgeries: int) -> SignatureDataset:
    """Synthetic scans preprocessed as ``sigbench-prepare`` stores them (canvas, invert, cover img_size)."""
    scans, y, yforg = synthetic_scans(writers, genuine, forgeries, difficulty=DIFFICULTY)
    x = np.stack([preprocess_signature(s, canvas, IMG_SIZE, None)[None] for s in scans])
    return SignatureDataset(
        x, y, yforg, [f"w{u}" for u in range(writers.stop)], [f"{i}.png" for i in range(len(y))]
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """An uncalibrated bundle of the test extractor (calibrating rewrites it, so never the cached one)."""
    extractor = load_bundle(calibrated_bundle()).model_files["extractor"]
    return build_bundle(tmp_path_factory.mktemp("bundle") / "b", extractor)


@pytest.fixture(scope="module")
def dataset(bundle, tmp_path_factory):
    canvas = load_bundle(bundle).preprocessing.canvas_size
    path = tmp_path_factory.mktemp("data") / "set.npz"
    save_npz(prepared_set(canvas, range(DEVELOPMENT.start, NEGATIVES.stop), 5, 2), path)
    return path


def by_hand_crop(stored: np.ndarray) -> np.ndarray:
    """The test bundle normalises the ink size, so a stored image is a crop once inverted."""
    return 255 - stored


def embedded_by_hand(pipeline: Pipeline, x: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            pipeline.read_array(by_hand_crop(image[0]), f"s{i}").signatures[0].embedding
            for i, image in enumerate(x)
        ]
    )


# --------------------------------------------------------------------------------------------- images


def test_stored_image_becomes_the_stored_image_again_for_a_bench_extractor():
    """Without ink-size normalisation the pipeline's preprocessing of the restored crop rebuilds the stored
    model input (up to resampling); the stored image merely inverted would be shrunk onto the canvas."""
    canvas = (840, 1360)  # the bench's default canvas: another aspect than img_size, sides cut by cover
    pipeline = Pipeline(None, Preprocessing(canvas, IMG_SIZE, (150, 220), None, False))
    data = prepared_set(canvas, range(40, 43), 1, 0)
    for stored in data.x[:, 0]:
        crop = stored_as_crop(stored, canvas)
        assert crop.shape == (840, 1196)  # 170 / 840 is the cover factor: 242 * 840 / 170 = 1195.8
        # white paper, and the ink as dark as the stored ink is bright (the canvas shrink left it grey)
        assert np.median(crop) == 255 and abs(255 - int(crop.min()) - int(stored.max())) <= 8
        restored = pipeline.model_inputs([crop], ["restored"])[0]
        naive = pipeline.model_inputs([255 - stored], ["inverted only"])[0]
        assert restored.shape == stored.shape
        assert np.corrcoef(restored.ravel(), stored.ravel())[0, 1] > 0.9
        assert np.corrcoef(naive.ravel(), stored.ravel())[0, 1] < 0.3
    # embed_stored takes this route for a bundle without ink-size normalisation (model inputs as features)
    pipeline.embed_inputs = lambda images: np.stack([image.ravel() for image in images]).astype(np.float32)
    inputs = embed_stored(pipeline, data.x, chunk=2)
    assert inputs.shape == (3, IMG_SIZE[0] * IMG_SIZE[1])
    for got, stored in zip(inputs, data.x[:, 0], strict=True):
        assert np.corrcoef(got, stored.ravel())[0, 1] > 0.9


def test_stored_images_reach_the_extractor_as_a_read_crop(bundle, dataset):
    pipeline = Pipeline.from_bundle(load_bundle(bundle))
    data = load_dataset(dataset)
    rows = np.flatnonzero(np.isin(data.y, list(HELD_OUT)))
    sets = select(pipeline, dataset, WriterRanges(DEVELOPMENT, HELD_OUT), N_REF)
    np.testing.assert_array_equal(sets.held_out.y, data.y[rows])
    np.testing.assert_array_equal(sets.held_out.yforg, data.yforg[rows])
    np.testing.assert_allclose(sets.held_out.embeddings, embedded_by_hand(pipeline, data.x[rows]), atol=1e-5)
    assert sets.negatives is None


def test_stored_image_embeds_near_its_original_scan(bundle):
    """The stored image and the raw scan it was prepared from are the same signature to the extractor."""
    pipeline = Pipeline.from_bundle(load_bundle(bundle))
    assert pipeline.preprocessing.ink_long_side == 400  # the branch of embed_stored this test takes
    canvas = pipeline.preprocessing.canvas_size
    scans, _, _ = synthetic_scans(range(46, 50), 1, 0, difficulty=DIFFICULTY)
    stored = np.stack([preprocess_signature(s, canvas, IMG_SIZE, None)[None] for s in scans])
    from_scans = pipeline.embed_crops(scans)
    similarity = from_scans @ embed_stored(pipeline, stored).T  # cosine: unit vectors
    assert np.all(np.diag(similarity) > 0.95)
    assert np.all(np.argmax(similarity, axis=1) == np.arange(len(scans)))  # each nearest its own scan
    uninverted = pipeline.embed_crops([s[0] for s in stored])
    # left bright-on-dark, the same signatures are much farther (0.47-0.94, mean 0.64, measured)
    wrong = np.diag(from_scans @ uninverted.T)
    assert np.all(wrong < np.diag(similarity)) and wrong.mean() < 0.8, wrong


# --------------------------------------------------------------------------------------------- calibration


def test_calibrate_command_on_a_labelled_set(bundle, dataset, capsys):
    argv = ["--json", "calibrate", "--bundle", str(bundle), "--data", str(dataset), "--n-ref", str(N_REF)]
    ranges = ["--development", "40:46", "--held-out", "46:50", "--negatives", "50:53"]
    assert cli.main(argv + ranges) == 0
    printed = json.loads(capsys.readouterr().out)

    pipeline = Pipeline.from_bundle(load_bundle(bundle))
    data = load_dataset(dataset)

    def labelled(writers: range, kinds: tuple[int, ...]) -> Labelled:
        rows = np.flatnonzero(np.isin(data.y, list(writers)) & np.isin(data.yforg, kinds))
        return Labelled(embedded_by_hand(pipeline, data.x[rows]), data.y[rows], data.yforg[rows])

    negatives = labelled(NEGATIVES, (0,)).embeddings
    assert negatives.shape[0] == 3 * 5
    expected = calibrate(labelled(DEVELOPMENT, (0, 1)), labelled(HELD_OUT, (0, 1)), negatives, n_ref=N_REF)

    calibrated = load_bundle(bundle)
    # the command embeds in batches, the test one crop at a time: float32 rounding differs by ~1e-6, and
    # the WD-SVMs fitted on the embeddings move their scores by a few 1e-5
    close = {"rel": 1e-4, "abs": 1e-4}
    for mode, thresholds in expected.thresholds.items():
        stored = calibrated.thresholds(mode)
        assert stored.accept == pytest.approx(thresholds.accept, **close)
        assert stored.reject == pytest.approx(thresholds.reject, **close)
        assert printed["thresholds"][mode]["accept"] == pytest.approx(thresholds.accept, **close)
        assert stored.report["development"]["writers"] == 6 and stored.report["held_out"]["writers"] == 4
    assert report_lines(calibrated.manifest["calibration"]) == report_lines(expected)
    np.testing.assert_allclose(calibrated.negatives, negatives, atol=1e-5)
    assert printed["notes"] == []


def test_without_negatives_only_the_distance_mode_is_calibrated(bundle, dataset, tmp_path, capsys):
    copy = build_bundle(tmp_path / "b", load_bundle(bundle).model_files["extractor"])
    argv = ["calibrate", "--bundle", str(copy), "--data", str(dataset), "--n-ref", str(N_REF)]
    assert cli.main([*argv, "--development", "40:46", "--held-out", "46:50"]) == 0
    assert "wd_svm: not calibrated" in capsys.readouterr().out
    calibrated = load_bundle(copy)
    assert set(calibrated.manifest["thresholds"]) == {"distance"} and calibrated.negatives is None


# --------------------------------------------------------------------------------------------- errors


class NoEmbedding:
    """A pipeline that fails the test if anything is embedded: errors must come first."""

    preprocessing = Preprocessing((450, 640), IMG_SIZE, (150, 220))

    def embed_crops(self, crops):
        raise AssertionError("embedded before the selection was checked")


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "toy.npz"
    save_npz(prepared_set((450, 640), range(0, 6), 4, 1), path)  # writers 0..5, 4 genuine + 1 forgery each
    return path


@pytest.mark.parametrize(
    ("ranges", "n_ref", "message"),
    [
        (
            WriterRanges(range(0, 3), range(2, 5)),
            3,
            r"--development 0:3 and --held-out 2:5 overlap \(writers 2..2\)",
        ),
        (
            WriterRanges(range(0, 2), range(2, 4), range(3, 6)),
            3,
            r"--held-out 2:4 and --negatives 3:6 overlap",
        ),
        (
            WriterRanges(range(0, 3), range(10, 12)),
            3,
            r"--held-out 10:12 selects no writers of .*toy.npz; it holds writers 0..5 \(6\)",
        ),
        (
            WriterRanges(range(0, 3), range(3, 5), range(20, 30)),
            3,
            r"--negatives 20:30 selects no writers with",
        ),
        # 4 genuine each and 4 references: no genuine query left
        (
            WriterRanges(range(0, 3), range(3, 5)),
            4,
            r"--development 0:3: writers \[0, 1, 2\] .* have <= 4 genuine",
        ),
    ],
)
def test_bad_selections_fail_before_embedding(toy_path, ranges, n_ref, message):
    with pytest.raises(CalibrationDataError, match=message):
        select(NoEmbedding(), toy_path, ranges, n_ref)


def test_an_empty_range_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(
            ["calibrate", "--bundle", "b", "--data", "d.npz", "--development", "5:5"]
        )
    assert "expected 0 <= FIRST < LAST, got '5:5'" in capsys.readouterr().err


def test_a_set_without_skilled_forgeries_cannot_calibrate(tmp_path):
    path = save_npz(prepared_set((450, 640), range(0, 6), 4, 0), tmp_path / "genuine_only.npz")
    with pytest.raises(CalibrationDataError, match=r"--development 0:3: .* holds no skilled forgeries"):
        select(NoEmbedding(), path, WriterRanges(range(0, 3), range(3, 6)), 3)


def test_command_errors_name_the_option(toy_path, bundle, capsys):
    base = ["calibrate", "--bundle", str(bundle)]
    assert cli.main([*base, "--development", "0:3", "--held-out", "3:6"]) == cli.EXIT_ERROR
    assert (
        "--development, --held-out select writers of a labelled set: give it with --data"
        in capsys.readouterr().err
    )
    assert cli.main([*base, "--data", str(toy_path), "--held-out", "3:6"]) == cli.EXIT_ERROR
    assert "--data needs --development" in capsys.readouterr().err
    argv = [*base, "--data", str(toy_path), "--development", "0:3", "--held-out", "2:6"]
    assert cli.main(argv) == cli.EXIT_ERROR
    assert "--development 0:3 and --held-out 2:6 overlap" in capsys.readouterr().err
    argv = [*base, "--data", str(toy_path), "--development", "0:3", "--held-out", "3:6", "--genuine", "10"]
    assert cli.main(argv) == cli.EXIT_ERROR  # the default value, given: still refused, not ignored
    assert "--genuine choose synthetic writers: not used with --data" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- real data

KAGGLE = SHARED_DATA / "kaggle_sign_data"


@pytest.mark.skipif(not (KAGGLE / "manifest.csv").is_file(), reason=f"{KAGGLE} is absent (real data)")
def test_real_scans_prepared_by_sigbench_prepare_embed_next_to_their_scans(bundle, tmp_path):
    """Kaggle sign_data signatures (first genuine of 8 writers) through sigbench-prepare's own code, then
    through calibration's path, land nearest the embedding of the scan each was prepared from."""
    from sigbench.data.datasets import ManifestAdapter
    from sigbench.data.prepare import prepare_dataset
    from sigbench.images import read_grey

    with open(KAGGLE / "manifest.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] == "genuine" and r["sample"] == "1"][:8]
    subset = tmp_path / "manifest.csv"
    with open(subset, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    prepared = tmp_path / "kaggle.npz"
    prepare_dataset(ManifestAdapter(subset, root=KAGGLE), prepared, workers=0, progress=False)
    data = load_dataset(prepared)
    assert len(data) == 8
    pipeline = Pipeline.from_bundle(load_bundle(bundle))
    scans = [read_grey(KAGGLE / name) for name in data.filenames]
    similarity = pipeline.embed_crops(scans) @ embed_stored(pipeline, data.x).T
    assert np.all(np.argmax(similarity, axis=1) == np.arange(8))
    assert np.all(np.diag(similarity) > 0.7)
