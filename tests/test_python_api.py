"""The Python front door: docs/python_api.md's example runs as written, every way of loading an extractor
gives the same features as the model it wraps, and ``eer`` agrees with hand-computed and independently
computed values."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sigbench
from sigbench.runner.build import load_task
from sigbench.runner.train import train
from tests.helpers import REPO
from tests.train_helpers import TINY_SYNTHETIC, compose_train

PLACEHOLDER = "outputs/smoke/runs/<time>/checkpoints/last.ckpt"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smoke run on the tiny synthetic population (seconds): a real config-carrying checkpoint."""
    out = tmp_path_factory.mktemp("smoke")
    train(compose_train(["experiment=smoke", *TINY_SYNTHETIC, "logger=csv"], out, out / "cache"))
    return out / "checkpoints" / "last.ckpt"


def reference_features(ckpt: Path, images: np.ndarray) -> np.ndarray:
    """The task's backbone applied by hand to the centre 150 x 220 crop in [0, 1]."""
    task, _ = load_task(ckpt)
    x = torch.as_tensor(images).float().div(255.0)
    if x.ndim == 3:
        x = x[:, None]
    top, left = (x.shape[2] - 150) // 2, (x.shape[3] - 220) // 2
    with torch.no_grad():
        return task.backbone(x[:, :, top : top + 150, left : left + 220]).numpy()


# ---- the documented example ------------------------------------------------------------------------------
def test_docs_example_runs_as_written(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "docs" / "python_api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1 and blocks[0].count(PLACEHOLDER) == 1
    namespace: dict = {}
    exec(compile(blocks[0].replace(PLACEHOLDER, str(checkpoint)), "docs/python_api.md", "exec"), namespace)

    printed = capsys.readouterr().out
    assert re.search(r"writer 12: EER \d+\.\d %", printed)
    assert re.search(r"distance protocol: EER \d+\.\d % over 2 folds", printed)
    features, images = namespace["features"], namespace["images"]
    assert images.shape == (12, 150, 220) and images.dtype == np.uint8
    assert features.shape == (12, namespace["extractor"].model.feature_dim) and features.dtype == np.float32
    np.testing.assert_allclose(features, reference_features(checkpoint, images), rtol=1e-4, atol=1e-5)
    assert namespace["summary"]["n_folds"] == 2


# ---- load_extractor --------------------------------------------------------------------------------------
def test_a_checkpoint_carries_its_preprocessing(checkpoint: Path) -> None:
    from sigbench.data.synthetic.dataset import CANVAS_SIZE

    extractor = sigbench.load_extractor(checkpoint)
    assert extractor.canvas_size == CANVAS_SIZE  # trained on the synthetic writers: their canvas
    assert (extractor.img_size, extractor.input_size) == ((170, 242), (150, 220))
    assert not extractor.model.training


def test_a_bundle_folder_is_read_through_its_manifest(checkpoint: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copyfile(checkpoint, bundle / "extractor.ckpt")
    manifest = {
        "format": "sigbench-service-bundle",
        "models": {"extractor": {"file": "extractor.ckpt"}},
        "preprocessing": {"canvas_size": [500, 700], "img_size": [170, 242], "input_size": [150, 220]},
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    extractor = sigbench.load_extractor(bundle)
    assert extractor.canvas_size == (500, 700) and extractor.source == str(bundle)

    images = np.random.default_rng(0).integers(0, 256, (3, 170, 242), dtype=np.uint8)
    np.testing.assert_allclose(
        sigbench.embed(images, extractor=extractor), reference_features(checkpoint, images), atol=1e-5
    )


def test_a_bundle_without_its_extractor_entry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"without manifest\.json"):
        sigbench.load_extractor(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"models": {"detector": {"file": "d.ckpt"}}}))
    with pytest.raises(ValueError, match=r"models\.extractor\.file"):
        sigbench.load_extractor(tmp_path)


def test_sigver_weights_load_with_their_variant(tmp_path: Path) -> None:
    from sigbench.features.models.signet import SigNet
    from sigbench.features.weights import write_sigver_weights

    torch.manual_seed(0)
    model = SigNet("thin").eval()
    path = write_sigver_weights(tmp_path / "thin.pth", model)
    extractor = sigbench.load_extractor(path, variant="thin")
    assert (extractor.canvas_size, extractor.input_size) == ((840, 1360), (150, 220))  # sigver's defaults

    images = np.random.default_rng(1).integers(0, 256, (4, 150, 220), dtype=np.uint8)
    with torch.no_grad():
        expected = model(torch.as_tensor(images)[:, None].float() / 255.0).numpy()
    np.testing.assert_allclose(sigbench.embed(images, extractor=extractor), expected, atol=1e-5)
    with pytest.raises(ValueError, match="backbone does not match"):
        sigbench.load_extractor(path, variant="signet")  # a wrong variant names the mismatch


def test_a_file_that_is_neither_format_names_both_attempts(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="neither sigver weights .* nor a sigbench checkpoint"):
        sigbench.load_extractor(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sigbench.load_extractor(tmp_path / "missing.ckpt")


# ---- embed and preprocess --------------------------------------------------------------------------------
def test_embed_gives_the_same_features_in_any_batch_size(checkpoint: Path) -> None:
    extractor = sigbench.load_extractor(checkpoint)
    images = np.random.default_rng(2).integers(0, 256, (5, 1, 150, 220), dtype=np.uint8)
    whole = sigbench.embed(images, extractor=str(checkpoint), batch_size=64)  # a path is loaded first
    np.testing.assert_allclose(extractor.embed(list(images[:, 0]), batch_size=2), whole, atol=1e-5)


def test_embed_refuses_what_preprocess_does_not_return(checkpoint: Path) -> None:
    extractor = sigbench.load_extractor(checkpoint)
    with pytest.raises(ValueError, match="expected uint8"):
        sigbench.embed(np.zeros((2, 150, 220), np.float32), extractor=extractor)
    with pytest.raises(ValueError, match="differ in size"):
        sigbench.embed([np.zeros((150, 220), np.uint8), np.zeros((160, 230), np.uint8)], extractor=extractor)
    with pytest.raises(ValueError, match="grayscale"):
        sigbench.embed(np.zeros((2, 150, 220, 3), np.uint8), extractor=extractor)
    with pytest.raises(ValueError, match=r"100 x 100, smaller than the extractor's input 150 x 220"):
        sigbench.embed(np.zeros((2, 100, 100), np.uint8), extractor=extractor)


def test_preprocess_equals_the_sigver_pipeline_on_arrays_and_files(tmp_path: Path) -> None:
    from PIL import Image

    from sigbench.data.preprocess import preprocess_signature

    scan = np.full((300, 500), 255, np.uint8)
    scan[120:180, 100:400] = 20  # a dark stroke on white paper
    Image.fromarray(scan).save(tmp_path / "scan.png")
    expected = preprocess_signature(scan)
    assert expected.shape == (150, 220)
    np.testing.assert_array_equal(sigbench.preprocess(scan), expected)
    np.testing.assert_array_equal(sigbench.preprocess(tmp_path / "scan.png"), expected)
    assert sigbench.preprocess(scan, input_size=None).shape == (170, 242)


# ---- eer -------------------------------------------------------------------------------------------------
def test_eer_on_hand_computed_cases() -> None:
    from sigbench.verification import eer

    assert eer([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]) == 0.0  # separable
    assert eer([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 1.0  # every forgery above every genuine
    # genuine 0.7, 0.5; forgeries 0.5 (a tie), 0.1. The ROC points at 0.7 and 0.5 are equally far from
    # FPR = 1 - TPR (0.5 each); the first, t = 0.7, is chosen: FRR 1/2, FAR 0/2 -> EER 1/4.
    assert eer(np.array([0.7, 0.5, 0.5, 0.1]), np.array([True, True, False, False])) == 0.25


def test_eer_agrees_with_an_independent_sklearn_computation() -> None:
    from sklearn.metrics import roc_curve

    from sigbench.verification import eer

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    scores = rng.normal(labels * 1.2, 1.0)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    t = thresholds[np.argmin(np.abs(fpr - (1 - tpr)))]
    expected = (np.mean(scores[labels == 1] < t) + np.mean(scores[labels == 0] >= t)) / 2
    assert eer(scores, labels) == pytest.approx(expected, abs=1e-12)
    assert 0.2 < expected < 0.4  # overlapping classes: the case is not trivial


def test_eer_refuses_inputs_it_cannot_score() -> None:
    from sigbench.verification import eer

    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        eer([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="labels must be 1"):
        eer([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="both classes"):
        eer([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        eer([0.1, float("nan")], [0, 1])


# ---- exports ---------------------------------------------------------------------------------------------
def test_the_protocol_runners_are_reexported() -> None:
    from sigbench.verification import distance, metrics, protocol, wd, wi

    v = sigbench.verification
    assert (v.run_wd, v.run_wi, v.run_distance) == (wd.run_wd, wi.run_wi, distance.run_distance)
    assert (v.run_protocol, v.eer, v.compute_eer) == (protocol.run_protocol, metrics.eer, metrics.compute_eer)
    assert {"load_extractor", "preprocess", "embed", "__version__"} <= set(dir(sigbench))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sigbench.nope


def test_import_sigbench_stays_light() -> None:
    code = "import sys, sigbench; "
    code += "print(sigbench.__version__); print(sorted({'torch', 'hydra'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    version, loaded = out.splitlines()
    assert re.match(r"\d+\.\d+", version) and loaded == "[]"
