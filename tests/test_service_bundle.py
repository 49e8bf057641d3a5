"""Bundle, pipeline inputs, decision rule, threshold choice and the command line of sigbench.service."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from sigbench.data.synthetic import render_raw_scan
from sigbench.service import cli
from sigbench.service.bundle import (
    BundleError,
    Preprocessing,
    build_bundle,
    file_sha256,
    fingerprint,
    load_bundle,
)
from sigbench.service.calibrate import ScoreSets, choose_thresholds, rates
from sigbench.service.decisions import decide
from sigbench.service.pipeline import Pipeline, decode_png, pixel_sha256
from tests.service_helpers import calibrated_bundle


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(calibrated_bundle())


# --------------------------------------------------------------------------------------------- decisions


def test_decide_boundaries():
    assert decide(0.8, accept=0.8, reject=0.5) == "accept"  # accept is inclusive
    assert decide(np.nextafter(0.8, 0), accept=0.8, reject=0.5) == "refer"
    assert decide(0.5, accept=0.8, reject=0.5) == "refer"  # reject is strict
    assert decide(np.nextafter(0.5, 0), accept=0.8, reject=0.5) == "reject"
    assert decide(0.6, accept=0.6, reject=0.6) == "accept"
    with pytest.raises(ValueError, match="reject .* must be <= accept"):
        decide(0.1, accept=0.2, reject=0.3)


def test_thresholds_meet_the_targets_exactly_at_the_boundary():
    genuine = np.arange(100, 200, dtype=float)  # 100 genuine scores 100..199
    skilled = np.arange(0, 200, 2, dtype=float)  # 100 forgeries 0, 2, .., 198
    accept, reject, note = choose_thresholds(genuine, skilled, target_far=0.01, target_frr=0.01)
    # 1 % of 100 forgeries may be accepted: only 198 is >= accept, 196 is not
    assert np.mean(skilled >= accept) == 0.01 and accept > 196 and accept <= 198
    # 1 % of 100 genuine may be rejected: only 100 is < reject
    assert reject == 101.0 and np.mean(genuine < reject) == 0.01
    assert note == ""
    # well separated scores: the two thresholds cross and meet at their midpoint
    accept, reject, note = choose_thresholds(np.array([5.0, 6, 7]), np.array([0.0, 1, 2]), 0.0, 0.0)
    assert accept == reject == pytest.approx((np.nextafter(2.0, 3) + 5.0) / 2) and "no refer band" in note


def test_rates_count_each_outcome():
    scores = ScoreSets([np.array([0.9, 0.5, 0.1])], [np.array([0.0])], [np.array([0.95, 0.4, 0.2, 0.0])])
    out = rates(scores, accept=0.8, reject=0.3)
    assert out["FAR_skilled"] == 0.25 and out["FRR"] == pytest.approx(1 / 3)
    assert out["genuine_referred"] == pytest.approx(1 / 3) and out["skilled_referred"] == 0.25
    assert out["skilled_rejected"] == 0.5 and out["FAR_random"] == 0.0


# --------------------------------------------------------------------------------------------- bundle


def test_bundle_describes_itself(bundle):
    m = bundle.manifest
    assert m["format_version"] == 1 and m["embedding_dim"] == 1024
    assert m["preprocessing"] == {
        "canvas_size": [450, 640],
        "img_size": [170, 242],
        "input_size": [150, 220],
        "ink_long_side": 400,
        "stretch_contrast": True,
    }
    ckpt = bundle.model_files["extractor"]
    assert m["models"]["extractor"]["sha256"] == file_sha256(ckpt)
    assert bundle.fingerprint == fingerprint({"extractor": ckpt}, bundle.preprocessing)
    for mode in ("distance", "wd_svm"):
        t = bundle.thresholds(mode)
        assert t.reject <= t.accept and t.targets == {"far_skilled": 0.01, "frr": 0.01}
        assert {"development", "held_out"} <= set(t.report)
        assert (bundle.path / m["det_plots"][mode]).read_bytes()[:4] == b"\x89PNG"
    assert bundle.negatives.shape == (20, 1024) and bundle.negatives.dtype == np.float32
    assert not bundle.has_detector and bundle.detector is None


def test_fingerprint_follows_model_bytes_not_calibration(bundle, tmp_path):
    copy = build_bundle(tmp_path / "b", bundle.model_files["extractor"])
    assert load_bundle(copy).fingerprint == bundle.fingerprint  # same model, same preprocessing
    changed = tmp_path / "changed.ckpt"
    shutil.copyfile(bundle.model_files["extractor"], changed)
    with open(changed, "ab") as handle:
        handle.write(b"\0")  # still loadable by torch (trailing bytes of a zip are ignored)
    assert fingerprint({"extractor": changed}, bundle.preprocessing) != bundle.fingerprint


def test_bundle_errors_name_the_file(bundle, tmp_path):
    with pytest.raises(BundleError, match=r"extractor: .*missing.ckpt does not exist"):
        build_bundle(tmp_path / "x", tmp_path / "missing.ckpt")
    with pytest.raises(BundleError, match="has no manifest.json"):
        load_bundle(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(bundle.path, copy)
    with open(copy / "extractor.ckpt", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(BundleError, match=r"extractor.ckpt \(extractor\) changed since the bundle was built"):
        load_bundle(copy)
    with pytest.raises(BundleError, match="not a sigbench-service-bundle"):
        (tmp_path / "y").mkdir()
        (tmp_path / "y" / "manifest.json").write_text("{}")
        load_bundle(tmp_path / "y")
    assert not any(p.name.startswith(".x") for p in tmp_path.iterdir())  # no half-written bundle left


# --------------------------------------------------------------------------------------------- pipeline


class WholePage:
    """A detector stand-in that finds one signature covering each page (torchvision interface)."""

    classes = ("signature",)

    def eval(self):
        return self

    def __call__(self, images):
        import torch

        return [
            {
                "boxes": torch.tensor([[0.0, 0.0, float(im.shape[2]), float(im.shape[1])]]),
                "scores": torch.tensor([0.8]),
                "labels": torch.tensor([0]),
            }
            for im in images
        ]


def test_signature_folder_and_pdf_inputs_keep_provenance(bundle, tmp_path):
    pipeline = Pipeline.from_bundle(bundle)
    scans = [render_raw_scan(100, s) for s in range(2)]
    for s, scan in enumerate(scans):
        cv2.imwrite(str(tmp_path / f"s{s}.png"), scan)
    docs = pipeline.read(tmp_path, kind="auto")  # no detector: images are signatures
    assert [d.name for d in docs] == ["s0.png", "s1.png"] and all(d.kind == "signature" for d in docs)
    assert docs[0].sha256 == file_sha256(tmp_path / "s0.png")
    sig = docs[0].signatures[0]
    assert sig.provenance.box is None and sig.provenance.page == 1
    assert sig.embedding.dtype == np.float32 and np.linalg.norm(sig.embedding) == pytest.approx(1.0, abs=1e-5)
    assert sig.model_input.shape == (170, 242)
    assert np.array_equal(decode_png(sig.crop_png()), sig.crop) and sig.pixel_sha256 == pixel_sha256(scans[0])
    batch = pipeline.embed_crops(scans)
    assert np.allclose(batch[0], sig.embedding, atol=1e-5)  # batched = one by one

    pdf = tmp_path / "doc.pdf"
    pages = [Image.fromarray(np.stack([s] * 3, axis=2)) for s in scans]
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=200)
    with pytest.raises(ValueError, match="page input needs a detector"):
        pipeline.read_file(pdf)
    pipeline.detector = WholePage()
    doc = pipeline.read_file(pdf)
    assert doc.kind == "page" and doc.n_pages == 2 and doc.sha256 == file_sha256(pdf)
    assert [s.provenance.page for s in doc.signatures] == [1, 2]
    assert all(s.provenance.detector_score == pytest.approx(0.8) for s in doc.signatures)
    same = float(doc.signatures[0].embedding @ sig.embedding)
    assert same > 0.9  # the rasterised page holds the same signature
    with pytest.raises(ValueError, match="a PDF is a document"):
        pipeline.read_file(pdf, kind="signature")
    with pytest.raises(ValueError, match="kind='crop'"):
        pipeline.read_file(tmp_path / "s0.png", kind="crop")


def test_blank_signature_is_an_error_naming_it(bundle, tmp_path):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((50, 80), 255, np.uint8))
    with pytest.raises(ValueError, match="blank.png.*no ink"):
        Pipeline.from_bundle(bundle).read_file(tmp_path / "blank.png", kind="signature")


# --------------------------------------------------------------------------------------------- CLI


def run(capsys, *args):
    code = cli.main(["--json", *map(str, args)])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 and captured.out.strip() else None), captured.err


def test_command_line_round_trip(bundle, tmp_path, capsys):
    for s in range(4):
        cv2.imwrite(str(tmp_path / f"r{s}.png"), render_raw_scan(101, s))
    cv2.imwrite(str(tmp_path / "q.png"), render_raw_scan(101, 9))
    common = ["--bundle", bundle.path, "--store", tmp_path / "s.db"]
    refs = [tmp_path / f"r{s}.png" for s in range(3)]
    code, out, err = run(capsys, "enrol", *common, "alice", *refs, "--name", "Alice")
    assert code == 0, err
    assert out["status"] == "enrolled" and len(out["added"]) == 3
    code, out, _ = run(capsys, "enrol", *common, "alice", tmp_path / "r0.png")
    assert out["refused"] and out["n_references"] == 3
    code, out, err = run(capsys, "verify", *common, "alice", tmp_path / "q.png", "--mode", "wd_svm")
    assert code == 0, err
    assert out[0]["outcome"] in ("accept", "refer", "reject") and out[0]["mode"] == "wd_svm"
    assert out[0]["query"]["document_name"] == "q.png"
    code, out, err = run(capsys, "identify", *common, tmp_path / "q.png", "-k", "1")
    assert code == 0, err
    assert out[0]["candidates"][0]["external_id"] == "alice"
    code, out, _ = run(capsys, "list", "--store", tmp_path / "s.db")
    assert out["total"] == 1 and out["identities"][0]["external_id"] == "alice"
    code, _, _ = run(capsys, "export", "--store", tmp_path / "s.db", "--out", tmp_path / "e.json")
    exported = json.loads((tmp_path / "e.json").read_text())
    assert [len(i["references"]) for i in exported["identities"]] == [3]
    prep = bundle.preprocessing
    other = build_bundle(
        tmp_path / "other",
        bundle.model_files["extractor"],
        preprocessing=Preprocessing(prep.canvas_size, prep.img_size, prep.input_size, 300, True),
    )
    code, out, err = run(capsys, "re-embed", "--bundle", other, "--store", tmp_path / "s.db")
    assert code == 0, err
    assert out["old"] == bundle.fingerprint and out["new"] == load_bundle(other).fingerprint
    assert out["references"] == 3 and out["detections"] == 1  # the questioned crop was stored as a document
    code, _, err = run(capsys, "verify", *common, "alice", tmp_path / "q.png")
    assert code == 2 and "holds embeddings of model" in err  # the old bundle no longer fits the store
    moved = ["--bundle", other, "--store", tmp_path / "s.db"]
    code, out, err = run(capsys, "verify", *moved, "alice", tmp_path / "q.png")
    assert code == 2 and "no calibrated thresholds for mode 'distance'" in err
    code, out, err = run(capsys, "identify", *moved, tmp_path / "q.png", "--threshold", "0.5")
    assert code == 0, err
    assert out[0]["candidates"][0]["external_id"] == "alice"
    code, out, _ = run(capsys, "delete", "--store", tmp_path / "s.db", "--id", "alice")
    assert out == {"deleted": "alice", "references": 3}
    code, out, _ = run(capsys, "list", "--store", tmp_path / "s.db")
    assert out["total"] == 0


def test_command_line_errors_name_the_problem(bundle, tmp_path, capsys):
    common = ["--bundle", bundle.path, "--store", tmp_path / "s.db"]
    code, _, err = run(capsys, "verify", *common, "nobody", tmp_path / "missing.png")
    assert code == 2 and "missing.png does not exist" in err
    cv2.imwrite(str(tmp_path / "q.png"), render_raw_scan(101, 9))
    code, _, err = run(capsys, "verify", *common, "nobody", tmp_path / "q.png")
    assert code == 2 and "nobody" in err
    code, _, err = run(capsys, "list", "--store", tmp_path / "none.db")
    assert code == 2 and "none.db does not exist" in err
    code, _, err = run(
        capsys, "enrol", "--bundle", tmp_path, "--store", tmp_path / "s.db", "x", tmp_path / "q.png"
    )
    assert code == 2 and "manifest.json" in err
