"""End to end on synthesised pages whose writers are known: enrol, verify, identify, search, delete.

The extractor is a small SigNet-thin trained SigNet-F style on another synthetic population (cached, see
``tests/service_helpers.py``); enrolled writers (60..67), calibration writers (40..60) and strangers (70..)
are all unseen in training. Pages are synthesised documents with one form signature, and detection uses
the synthesiser's boxes (:class:`tests.service_helpers.AnnotatedDetector`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sigbench.service.enrol import enrol, select
from sigbench.service.identify import UNKNOWN, documents_signed_by, identify, store_document
from sigbench.service.store import open_store
from sigbench.service.store.base import FingerprintMismatch, UnknownIdentity
from sigbench.service.synthetic import Signed
from sigbench.service.verify import verify
from tests.helpers import REPO
from tests.service_helpers import DIFFICULTY, calibrated_bundle, page_pipeline, write_signed_page

WRITERS = (60, 61, 62, 63, 64, 65, 66, 67)
STRANGERS = (70, 71)
ENROL_PAGES = 5  # genuine samples 0..4 on enrolment pages
QUESTIONED = 4  # questioned pages per writer and kind: genuine samples 8..11, skilled forgeries 0..3


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store with WRITERS enrolled from pages, plus the questioned pages (not yet in the store)."""
    folder = tmp_path_factory.mktemp("service")
    bundle, pipeline, detector = page_pipeline(calibrated_bundle())
    store = open_store(folder / "store.db", bundle.fingerprint, bundle.embedding_dim)
    index = 0
    enrolment, questioned = {}, {}
    for writer in WRITERS:
        paths = []
        for sample in range(ENROL_PAGES):
            paths.append(
                write_signed_page(
                    folder, f"enrol_{writer}_{sample}", [Signed(writer, sample)], index, detector
                )
            )
            index += 1
        documents = [pipeline.read_file(p, kind="page") for p in paths]
        enrolment[writer] = enrol(
            store, bundle, f"W{writer}", select(documents, None), actor="test", documents=documents
        )
        for k in range(QUESTIONED):
            for kind, signed in (("genuine", Signed(writer, 8 + k)), ("forgery", Signed(writer, k, True))):
                questioned[(writer, kind, k)] = write_signed_page(
                    folder, f"{kind}{k}_{writer}", [signed], index, detector
                )
                index += 1
    for writer in STRANGERS:
        questioned[(writer, "stranger", 0)] = write_signed_page(
            folder, f"stranger_{writer}", [Signed(writer, 0)], index, detector
        )
        index += 1
    yield {
        "bundle": bundle,
        "pipeline": pipeline,
        "detector": detector,
        "store": store,
        "folder": folder,
        "enrolment": enrolment,
        "questioned": questioned,
    }
    store.close()


def test_writers_enrolled_from_pages_with_provenance(world):
    store = world["store"]
    for writer in WRITERS:
        result = world["enrolment"][writer]
        assert result.status == "enrolled", result.reason
        assert result.n_references == ENROL_PAGES and not result.refused
        refs = store.list_references(f"W{writer}")
        names = sorted(r.provenance["document_name"] for r in refs)
        assert names == [f"enrol_{writer}_{s}.png" for s in range(ENROL_PAGES)]
        assert all(r.provenance["page"] == 1 and len(r.provenance["box"]) == 4 for r in refs)
        assert all(0.9 <= r.provenance["detector_score"] <= 0.99 for r in refs)


def auc(higher: np.ndarray, lower: np.ndarray) -> float:
    """P(a score of ``higher`` > one of ``lower``), ties counted half: 0.5 is chance."""
    return float((higher[:, None] > lower[None, :]).mean() + 0.5 * (higher[:, None] == lower[None, :]).mean())


# Lowest skilled-forgery AUC (32 genuine against 32 skilled forgeries, pooled over writers) each mode must
# reach: below what seven test extractors gave (0.69-0.76 and 0.77-0.92; see tests/service_helpers.py),
# well above chance (0.5). The WD-SVM, trained against other writers at enrolment, is the stronger mode, as
# published.
SKILLED_AUC = {"distance": 0.6, "wd_svm": 0.68}


@pytest.mark.parametrize("mode", ["distance", "wd_svm"])
def test_verification_separates_genuine_from_forgeries(world, mode):
    """Held-out genuine signatures against skilled forgeries of the same writer and against other
    writers' signatures (random forgeries), in both modes, for eight enrolled writers (4 + 4 + 2 each).

    The test extractor is small (6 CPU epochs on 70 writers): per writer its genuine scores are mostly
    above the skilled forgeries', but pooled over writers (one global threshold) skilled forgeries are only
    partly separated; random forgeries are separated almost perfectly. Both are asserted as measured on
    seven extractors, with margin; 16 queries per kind (as before) left the pooled AUC too noisy for that.
    """
    store, bundle, pipeline = world["store"], world["bundle"], world["pipeline"]
    genuine, skilled, random = [], [], []
    for position, writer in enumerate(WRITERS):
        other = WRITERS[(position + 1) % len(WRITERS)]
        for key, into in (
            *(((writer, "genuine", k), genuine) for k in range(QUESTIONED)),
            *(((writer, "forgery", k), skilled) for k in range(QUESTIONED)),
            *(((other, "genuine", k), random) for k in range(2)),
        ):
            document = pipeline.read_file(world["questioned"][key], kind="page")
            (decision,) = verify(store, bundle, f"W{writer}", document.signatures, mode, actor="test")
            into.append(decision)
    g, f, r = (np.array([d.score for d in group]) for group in (genuine, skilled, random))
    n = QUESTIONED
    per_writer = np.mean([auc(g[n * i : n * i + n], f[n * i : n * i + n]) for i in range(len(WRITERS))])
    assert per_writer >= 0.7, (mode, g, f)  # 0.77-0.93 measured
    assert auc(g, f) >= SKILLED_AUC[mode], (mode, g, f)
    assert auc(g, r) >= 0.9, (mode, g, r)  # 0.94-1.0 measured
    assert not any(d.outcome == "accept" for d in random), (mode, r, bundle.thresholds(mode))
    # the reject threshold targets FRR <= 1 % on the 14 development writers (42 genuine queries: the
    # threshold is their lowest score); on these held-out writers the small extractor misses that target,
    # by 0-9 % of 32 measured, and a threshold that rejected a fifth of genuine queries would be broken
    assert np.mean([d.outcome == "reject" for d in genuine]) <= 0.2, (mode, g, bundle.thresholds(mode))
    d = genuine[0]
    assert set(d.reference_scores) == {r.id for r in store.list_references(d.external_id)}
    assert d.best_reference_id == max(d.reference_scores, key=d.reference_scores.get)
    assert d.fingerprint == bundle.fingerprint and d.audit_id is not None
    events = store.list_audit(0, 1000, kind="verify")
    assert len(events) >= (2 * QUESTIONED + 2) * len(WRITERS)
    assert {"score", "accept_threshold", "reject_threshold", "fingerprint", "outcome"} <= set(
        events[0].payload
    )


def test_identify_names_the_writer_and_unknown_for_strangers(world):
    """The right writer ranks first; at the calibrated accept threshold (1 % skilled FAR) a weak model
    attributes few queries but never a wrong one; at the reject threshold most are attributed."""
    store, bundle, pipeline = world["store"], world["bundle"], world["pipeline"]
    lenient = bundle.thresholds("distance").reject
    first = right = 0
    for writer in WRITERS:
        document = pipeline.read_file(world["questioned"][(writer, "genuine", 0)], kind="page")
        (strict,) = identify(store, bundle, document.signatures, k=3, actor="test")
        first += strict.candidates[0].external_id == f"W{writer}"
        assert strict.answer in (f"W{writer}", UNKNOWN), strict
        (result,) = identify(store, bundle, document.signatures, k=3, threshold=lenient, audit=False)
        right += result.answer == f"W{writer}"
    assert first >= len(WRITERS) - 1  # three training seeds: all eight first
    assert right >= len(WRITERS) - 1
    for writer in STRANGERS:
        document = pipeline.read_file(world["questioned"][(writer, "stranger", 0)], kind="page")
        (result,) = identify(store, bundle, document.signatures, k=3, actor="test")
        assert result.answer == UNKNOWN, result
        assert "threshold" in result.reason or "margin" in result.reason


def test_documents_signed_by_finds_the_right_pages(world, tmp_path):
    """The search is checked exactly against scores computed here from the stored embeddings; what it
    finds is checked by rank (a single genuine signature may fall under the reject threshold: see the
    verification test), with the mixed page's two signatures told apart by their boxes."""
    store, bundle, pipeline = world["store"], world["bundle"], world["pipeline"]
    target = WRITERS[1]
    mixed = write_signed_page(
        world["folder"], "mixed", [Signed(WRITERS[2], 8), Signed(target, 9)], 500, world["detector"]
    )
    for path in (
        world["questioned"][(target, "genuine", 0)],
        world["questioned"][(WRITERS[3], "genuine", 0)],
        mixed,
    ):
        store_document(store, bundle, pipeline.read_file(path, kind="page"))
    own_box = pipeline.read_file(mixed, kind="page").signatures[1].provenance.box

    def signed_by_target(hit) -> bool:  # the mixed page also carries WRITERS[2]'s signature
        if hit.document_name == "mixed.png":
            return np.allclose(hit.box, own_box, atol=0.01)
        return hit.document_name in {
            f"genuine0_{target}.png",
            *(f"enrol_{target}_{s}.png" for s in range(ENROL_PAGES)),
        }

    everything = documents_signed_by(store, bundle, f"W{target}", threshold=-np.inf)
    # every stored detection once, scored as the mean cosine similarity to the writer's references
    det_ids, dets = store.detections_embeddings()
    _, refs = store.references_embeddings(f"W{target}")
    expected = dict(zip(map(int, det_ids), (dets @ refs.T).mean(axis=1), strict=True))
    assert sorted(h.detection_id for h in everything) == sorted(expected)
    assert [h.score for h in everything] == pytest.approx([expected[h.detection_id] for h in everything])
    assert [h.score for h in everything] == sorted((h.score for h in everything), reverse=True)
    accept, reject = bundle.thresholds("distance").accept, bundle.thresholds("distance").reject
    assert all(
        h.outcome == ("accept" if h.score >= accept else "reject" if h.score < reject else "refer")
        for h in everything
    )
    # by default: exactly those at or above the reject threshold
    hits = documents_signed_by(store, bundle, f"W{target}")
    assert [h.detection_id for h in hits] == [h.detection_id for h in everything if h.score >= reject]
    assert {h.document_name for h in hits} >= {f"enrol_{target}_{s}.png" for s in range(ENROL_PAGES)}
    assert not any(h.outcome == "accept" for h in hits if not signed_by_target(h))
    # the mixed page holds two signatures with their own boxes; the writer's own ones rank high
    assert sum(h.document_name == "mixed.png" for h in everything) == 2
    assert sum(h.document_name == "mixed.png" and signed_by_target(h) for h in everything) == 1
    own = np.array([h.score for h in everything if signed_by_target(h)])
    others = np.array([h.score for h in everything if not signed_by_target(h)])
    assert len(own) == ENROL_PAGES + 2 and len(others) == len(everything) - len(own)
    assert auc(own, others) >= 0.9, (own, others)


def test_page_proposals_keep_only_the_chosen_signature(world, tmp_path):
    store, bundle, pipeline = world["store"], world["bundle"], world["pipeline"]
    path = write_signed_page(tmp_path, "two", [Signed(80, 0), Signed(81, 0)], 600, world["detector"])
    document = pipeline.read_file(path, kind="page")
    assert len(document.signatures) == 2
    result = enrol(store, bundle, "W81", select([document], [1]), actor="test", documents=[document])
    (reference,) = store.list_references("W81")
    assert reference.id == result.added[0]
    assert reference.provenance["box"] == document.signatures[1].provenance.to_dict()["box"]
    assert result.status == "pending" and "3 needed" in result.reason
    with pytest.raises(ValueError, match=r"indices \[5\] out of range.*2 signatures"):
        select([document], [5])


def test_duplicates_refused_and_enrolment_completes_at_n(world):
    store, bundle, pipeline = world["store"], world["bundle"], world["pipeline"]
    from sigbench.data.synthetic import render_raw_scan

    crops = [render_raw_scan(90, s, difficulty=DIFFICULTY) for s in range(3)]
    docs = [pipeline.read_array(c, f"w90_{s}.png") for s, c in enumerate(crops)]
    first = enrol(store, bundle, "W90", docs[0].signatures + docs[1].signatures, actor="test")
    assert first.status == "pending" and first.n_references == 2
    again = enrol(store, bundle, "W90", docs[1].signatures + docs[2].signatures, actor="test")
    assert len(again.refused) == 1 and "w90_1.png" in again.refused[0]
    assert again.n_references == 3 and again.status == "enrolled"


def test_someone_elses_signature_is_named_as_outlier(world):
    """Writer 94's signature among five of writer 93's: z -6.6 to -12.1 on seven test extractors (the
    bound is -3.5). Not every pair is that clear to a small extractor: 91 / 92 gave -4.2 to -7.5, and 96
    among 95's is never named (z -1.0 to -1.9)."""
    store, bundle, pipeline = world["store"], world["bundle"], world["pipeline"]
    from sigbench.data.synthetic import render_raw_scan

    own = [pipeline.read_array(render_raw_scan(93, s, difficulty=DIFFICULTY), f"a{s}.png") for s in range(5)]
    other = pipeline.read_array(render_raw_scan(94, 0, difficulty=DIFFICULTY), "b0.png")
    result = enrol(store, bundle, "W93", [d.signatures[0] for d in [*own, other]], actor="test")
    intruder = next(r.id for r in store.list_references("W93") if r.provenance["document_name"] == "b0.png")
    assert result.consistency.outliers == [intruder]
    assert result.status == "pending" and str(intruder) in result.reason
    scores = dict(zip(result.consistency.reference_ids, result.consistency.z_scores, strict=True))
    assert min(scores, key=scores.get) == intruder


def test_deletion_removes_from_search_and_disk(world):
    store, bundle, pipeline = world["store"], world["bundle"], world["pipeline"]
    victim = f"W{WRITERS[0]}"
    crops = [store.reference_crop(r.id) for r in store.list_references(victim)]
    document = pipeline.read_file(world["questioned"][(WRITERS[0], "genuine", 0)], kind="page")
    before = identify(store, bundle, document.signatures, k=5, audit=False)[0]
    assert victim in [c.external_id for c in before.candidates]
    store.delete_identity(victim)
    after = identify(store, bundle, document.signatures, k=5, audit=False)[0]
    assert victim not in [c.external_id for c in after.candidates]
    assert all(
        h.external_id != victim
        for hits in store.search(document.signatures[0].embedding[None], 100)
        for h in hits
    )
    with pytest.raises(UnknownIdentity):
        store.get_identity(victim)
    store.checkpoint()
    on_disk = b"".join(p.read_bytes() for p in Path(world["folder"]).glob("store.db*") if p.is_file())
    assert all(crop not in on_disk for crop in crops)


def test_fingerprint_mismatch_is_refused(world, tmp_path):
    from sigbench.service.bundle import Preprocessing, build_bundle, load_bundle

    bundle = world["bundle"]
    prep = bundle.preprocessing
    other = load_bundle(
        build_bundle(
            tmp_path / "other",
            bundle.model_files["extractor"],
            preprocessing=Preprocessing(prep.canvas_size, prep.img_size, prep.input_size, 300),
        )
    )
    assert other.fingerprint != bundle.fingerprint
    doc = world["pipeline"].read_array(
        np.full((60, 200), 255, np.uint8) - np.eye(60, 200, dtype=np.uint8) * 200, "x.png"
    )
    with pytest.raises(FingerprintMismatch, match=other.fingerprint[:12]):
        enrol(world["store"], other, "W99", doc.signatures, actor="test")
    with pytest.raises(FingerprintMismatch):
        open_store(Path(world["folder"]) / "store.db", other.fingerprint, other.embedding_dim)


KILLED_ENROLMENT = """
import os, signal, sys
from sigbench.service.bundle import load_bundle
from sigbench.service.enrol import enrol
from sigbench.service.pipeline import Pipeline
from sigbench.service.store import open_store
from sigbench.data.synthetic import render_raw_scan

bundle = load_bundle(sys.argv[1])
pipeline = Pipeline.from_bundle(bundle)
store = open_store(sys.argv[2], bundle.fingerprint, bundle.embedding_dim)
signatures = [pipeline.read_array(render_raw_scan(95, s), f"k{s}.png").signatures[0] for s in range(4)]
add = store.add_reference
calls = []

def add_then_die(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:  # two references written inside the transaction: the process is killed
        os.kill(os.getpid(), signal.SIGKILL)
    return add(*args, **kwargs)

store.add_reference = add_then_die
enrol(store, bundle, "W95", signatures, actor="test")
"""


def test_process_killed_mid_enrolment_leaves_no_identity(world):
    path = Path(world["folder"]) / "store.db"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_ENROLMENT), str(world["bundle"].path), str(path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    with open_store(path) as fresh:
        with pytest.raises(UnknownIdentity):
            fresh.get_identity("W95")
        assert all(i.external_id != "W95" for i in fresh.list_identities(0, 1000))
