"""The signature store's contract, run against every backend: ``store_factory`` is parametrised over SQLite
and PostgreSQL (a throw-away server started once per session, see ``tests/service_postgres.py``; skipped,
with the reason, only where none can run). Tests that read a backend's files or settings say which."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import numpy as np
import psycopg
import pytest

from sigbench.service.store import (
    DimensionMismatch,
    DuplicateIdentity,
    DuplicateReference,
    FingerprintMismatch,
    SearchHit,
    SQLiteStore,
    Store,
    StoreError,
    UnknownIdentity,
    UnknownRecord,
    open_store,
)
from sigbench.service.store.index import VectorIndex, saved_header
from sigbench.service.store.postgres import PostgresStore
from tests.service_postgres import postgres_databases  # noqa: F401 (a fixture, requested by name)

DIM = 16
FP = "model-a"
PNG = b"\x89PNG\r\n\x1a\n"
BACKENDS = ["sqlite", "postgres"]


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def png(tag: str, size: int = 64) -> bytes:
    """Bytes that pass the store's PNG check and carry a recognisable, unique payload."""
    return PNG + (tag.encode() * (size // len(tag) + 1))[:size]


def sha(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def add_ref(store, external_id: str, vector: np.ndarray, tag: str, **kwargs):
    return store.add_reference(
        external_id, vector, png(f"crop:{tag}:"), png(f"thumb:{tag}:"), {"source": tag}, sha(tag), **kwargs
    )


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def locate(backend, tmp_path, request):
    """``locate(name)``: where this test's store ``name`` lives (a file, or an empty PostgreSQL database)."""
    if backend == "sqlite":
        return lambda name="store": str(tmp_path / f"{name}.db")
    return request.getfixturevalue("postgres_databases").url


@pytest.fixture
def store_factory(locate):
    """``make(fingerprint, dim, name)`` opens (or creates) a store; all are closed at the end."""
    opened: list[Store] = []

    def make(fingerprint: str | None = FP, dim: int | None = DIM, name: str = "store") -> Store:
        store = open_store(locate(name), fingerprint, dim)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("reads SQLite's files directly")


def postgres_tables(url: str) -> set[str]:
    with psycopg.connect(url) as raw:
        rows = raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


# ----------------------------------------------------------------------------- opening and fingerprints


def test_open_refuses_other_fingerprint_and_dimension(store_factory, backend, locate, tmp_path):
    store = store_factory()
    assert isinstance(store, Store)
    assert (store.fingerprint, store.dim) == (FP, DIM)
    with pytest.raises(FingerprintMismatch, match=r"model-a.*model-b") as caught:
        store_factory("model-b")
    assert caught.value.store_fingerprint == FP and caught.value.other_fingerprint == "model-b"
    assert store.location in str(caught.value)
    with pytest.raises(DimensionMismatch, match="16-d embeddings, not 32-d"):
        store_factory(FP, 32)
    adopted = store_factory(None, None)  # tools that only list or delete adopt the store's model
    assert (adopted.fingerprint, adopted.dim) == (FP, DIM)
    with pytest.raises(StoreError, match="creating one needs a model fingerprint and dim"):
        store_factory(None, None, name="new")
    assert not list(tmp_path.glob("new*")), "a refused open left a file behind"
    if backend == "postgres":
        assert postgres_tables(locate("new")) == set(), "a refused open created tables"


def test_open_refuses_files_that_are_not_stores(tmp_path):
    (tmp_path / "text.db").write_text("not a database at all, just some text that is long enough " * 20)
    with pytest.raises(StoreError, match=r"text.db is not a usable SQLite store"):
        open_store(tmp_path / "text.db", FP, DIM)
    with sqlite3.connect(tmp_path / "other.db") as other:
        other.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="not a sigbench store"):
        open_store(tmp_path / "other.db", FP, DIM)
    with sqlite3.connect(tmp_path / "other.db") as other:  # left as it was
        assert [r[0] for r in other.execute("SELECT name FROM sqlite_master")] == ["invoices"]


def test_open_store_locations(tmp_path, monkeypatch):
    absolute = tmp_path / "abs.db"
    with open_store(f"sqlite:///{absolute}", FP, DIM) as store:  # sqlite:////abs/path
        assert Path(store.location) == absolute
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel.db", FP, DIM) as store:
        assert Path(store.location) == Path("rel.db")
    assert (tmp_path / "rel.db").exists()
    with pytest.raises(StoreError, match="unknown store scheme 'mysql'"):
        open_store("mysql://host/db", FP, DIM)
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "missing" / "x.db", FP, DIM)


def test_embedding_checks_name_the_problem(store_factory):
    store = store_factory()
    store.create_identity("alice")
    rng = np.random.default_rng(0)
    with pytest.raises(FingerprintMismatch, match="model-a.*model-b"):
        add_ref(store, "alice", unit(rng, 1)[0], "x", fingerprint="model-b")
    with pytest.raises(DimensionMismatch, match=r"\[n, 16\].*\[1, 8\]"):
        add_ref(store, "alice", unit(rng, 1, 8)[0], "x")
    with pytest.raises(ValueError, match="L2 norm 2.0"):
        add_ref(store, "alice", 2 * unit(rng, 1)[0], "x")
    with pytest.raises(ValueError, match="NaN"):
        add_ref(store, "alice", np.full(DIM, np.nan), "x")
    with pytest.raises(ValueError, match="crop_png must be PNG"):
        store.add_reference("alice", unit(rng, 1)[0], b"GIF89a", png("t"), {}, sha("x"))
    with pytest.raises(ValueError, match="pixel_sha256 must be 64"):
        store.add_reference("alice", unit(rng, 1)[0], png("c"), png("t"), {}, "abc")
    with pytest.raises(UnknownIdentity, match="'bob'"):
        add_ref(store, "bob", unit(rng, 1)[0], "x")
    assert store.count_references() == 0 and store.generation() == 0
    add_ref(store, "alice", unit(rng, 1)[0], "ok", fingerprint=FP)  # tagged with the store's model: fine
    assert store.count_references() == 1


# ----------------------------------------------------------------------------- identities, references


def test_identities_paging_status_rename(store_factory):
    store = store_factory()
    for i in range(7):
        store.create_identity(f"id{i}", f"Name {i}", {"dept": i % 2})
    with pytest.raises(DuplicateIdentity, match="'id3'"):
        store.create_identity("id3")
    pages = [store.list_identities(offset, 3) for offset in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i.external_id for p in pages for i in p] == [f"id{i}" for i in range(7)]
    assert store.list_identities(7, 3) == []
    store.set_status("id1", "enrolled")
    store.set_status("id4", "enrolled")
    assert [i.external_id for i in store.list_identities(0, 10, status="enrolled")] == ["id1", "id4"]
    assert store.count_identities() == 7 and store.count_identities("pending") == 5
    renamed = store.rename_identity("id2", "Carol")
    assert renamed.name == "Carol" and store.get_identity("id2").name == "Carol"
    assert store.get_identity("id5").metadata == {"dept": 1}
    with pytest.raises(ValueError, match="status must be one of"):
        store.set_status("id1", "approved")
    with pytest.raises(UnknownIdentity, match="'nobody'"):
        store.rename_identity("nobody", "x")
    with pytest.raises(ValueError, match="limit must be"):
        store.list_identities(0, 0)
    with pytest.raises(ValueError, match="offset must be"):
        store.list_identities(-1, 5)


def test_references_round_trip_and_duplicates(store_factory):
    store = store_factory()
    store.create_identity("alice")
    store.create_identity("bob")
    rng = np.random.default_rng(1)
    vectors = unit(rng, 3)
    refs = [add_ref(store, "alice", v, f"a{j}") for j, v in enumerate(vectors)]
    ids, matrix = store.references_embeddings("alice")
    assert ids.tolist() == [r.id for r in refs]
    np.testing.assert_array_equal(matrix, vectors)  # float32 stored bit-exactly
    assert store.reference_crop(refs[1].id) == png("crop:a1:")
    got = store.get_reference(refs[2].id)
    assert (got.external_id, got.provenance, got.thumbnail_png, got.fingerprint) == (
        "alice",
        {"source": "a2"},
        png("thumb:a2:"),
        FP,
    )
    assert store.get_identity("alice").n_references == 3
    with pytest.raises(DuplicateReference, match=rf"'alice' already has reference {refs[0].id}") as caught:
        add_ref(store, "alice", unit(rng, 1)[0], "a0")
    assert caught.value.existing_reference_id == refs[0].id
    add_ref(store, "bob", vectors[0], "a0")  # the same pixels for another identity is not a duplicate
    assert store.count_references() == 4
    with pytest.raises(UnknownRecord, match="no reference with id 999"):
        store.get_reference(999)


# ----------------------------------------------------------------------------- search


def test_search_agrees_with_numpy_brute_force(store_factory):
    store = store_factory()
    rng = np.random.default_rng(2)
    vectors = unit(rng, 600)
    owners = {}
    with store.transaction():
        for i in range(60):
            store.create_identity(f"w{i}")
        for j, v in enumerate(vectors):
            owners[add_ref(store, f"w{j % 60}", v, f"r{j}").id] = f"w{j % 60}"
    ref_ids = np.array(sorted(owners))
    queries = unit(rng, 25)
    hits = store.search(queries, 10)
    sims = queries.astype(np.float64) @ vectors.astype(np.float64).T
    for q, row in enumerate(hits):
        order = np.argsort(-sims[q])[:10]
        assert [h.reference_id for h in row] == ref_ids[order].tolist()
        np.testing.assert_allclose([h.similarity for h in row], sims[q, order], atol=1e-5)
        assert all(h.external_id == owners[h.reference_id] for h in row)
    single = store.search(queries[3], 1)  # one 1-D query: one list of one hit
    assert single == [[hits[3][0]]] and isinstance(single[0][0], SearchHit)
    assert len(store.search(queries[:2], 5000)[0]) == 600  # k beyond the store: every reference once
    with pytest.raises(ValueError, match="k must be"):
        store.search(queries, 0)
    with pytest.raises(DimensionMismatch):
        store.search(unit(rng, 2, 8), 3)


def test_generation_counts_reference_changes_only(store_factory):
    store = store_factory()
    rng = np.random.default_rng(3)
    assert store.generation() == 0
    store.create_identity("alice")
    store.log_event("note", "tester", {})
    assert store.generation() == 0
    ref = add_ref(store, "alice", unit(rng, 1)[0], "a")
    add_ref(store, "alice", unit(rng, 1)[0], "b")
    assert store.generation() == 2
    store.delete_reference(ref.id)
    assert store.generation() == 3
    with store.transaction():  # one transaction, several changes: one bump each, committed together
        add_ref(store, "alice", unit(rng, 1)[0], "c")
        add_ref(store, "alice", unit(rng, 1)[0], "d")
    assert store.generation() == 5


def test_other_connections_writes_are_searched(store_factory):
    """Two stores on one file behave like two processes: separate connections and separate indexes."""
    rng = np.random.default_rng(4)
    vectors = unit(rng, 40)
    reader, writer = store_factory(), store_factory()
    writer.create_identity("alice")
    first = [add_ref(writer, "alice", v, f"a{j}").id for j, v in enumerate(vectors[:20])]
    assert reader.search(vectors[0], 1)[0][0].reference_id == first[0]  # reader builds its index
    writer.create_identity("bob")
    second = [add_ref(writer, "bob", v, f"b{j}").id for j, v in enumerate(vectors[20:])]
    writer.delete_reference(first[0])
    hit = reader.search(vectors[25], 1)[0][0]
    assert (hit.reference_id, hit.external_id) == (second[5], "bob")
    assert first[0] not in [h.reference_id for h in reader.search(vectors[0], 40)[0]]
    assert len(reader.search(vectors[0], 100)[0]) == 39


def test_index_is_persisted_with_its_generation_and_rebuilt_when_bad(store_factory, backend, tmp_path):
    sqlite_only(backend)
    rng = np.random.default_rng(5)
    vectors = unit(rng, 30)
    store = store_factory()
    store.create_identity("alice")
    ids = [add_ref(store, "alice", v, f"a{j}").id for j, v in enumerate(vectors)]
    expected = store.search(vectors[:5], 3)
    store.close()
    index_file = Path(store.location + ".faiss")
    header = saved_header(index_file)
    assert header is not None and header["generation"] == 30 and header["ntotal"] == 30
    loaded = VectorIndex.load(index_file)
    assert sorted(loaded.ids().tolist()) == sorted(ids)

    reopened = store_factory(name="store")
    assert reopened._index is not None and reopened._index.generation == 30  # used as is, no rebuild
    assert reopened.search(vectors[:5], 3) == expected
    reopened.close()

    index_file.write_bytes(b"SIGBENCH-FAISS-INDEX 1\n{not json")  # a damaged cache is rebuilt, not trusted
    again = store_factory(name="store")
    assert again._index is None
    assert again.search(vectors[:5], 3) == expected


def test_index_file_of_another_store_is_not_used(store_factory, backend, tmp_path):
    sqlite_only(backend)
    rng = np.random.default_rng(6)
    first = store_factory(name="one")
    first.create_identity("alice")
    add_ref(first, "alice", unit(rng, 1)[0], "a")
    first.search(unit(rng, 1), 1)
    first.close()
    other = store_factory(name="two")  # same fingerprint, same generation after one reference
    other.create_identity("bob")
    own = add_ref(other, "bob", unit(rng, 1)[0], "b")
    other.close()
    os.replace(first.location + ".faiss", other.location + ".faiss")
    reopened = store_factory(name="two")
    assert reopened._index is None  # store ids differ: the foreign index is ignored
    assert [h.reference_id for h in reopened.search(unit(rng, 1), 5)[0]] == [own.id]


# ----------------------------------------------------------------------------- transactions


def test_transaction_rolls_back_everything(store_factory):
    store = store_factory()
    rng = np.random.default_rng(7)
    store.create_identity("keep")
    kept = add_ref(store, "keep", unit(rng, 1)[0], "k")
    store.search(unit(rng, 1), 1)  # index current
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.create_identity("half")
        add_ref(store, "half", unit(rng, 1)[0], "h1")
        assert store.count_references() == 2  # visible inside the transaction
        raise RuntimeError("boom")
    with pytest.raises(UnknownIdentity):
        store.get_identity("half")
    assert store.count_references() == 1 and store.generation() == 1
    assert [h.reference_id for h in store.search(unit(rng, 1), 5)[0]] == [kept.id]


def test_nested_failure_rolls_back_only_the_inner_block(store_factory):
    store = store_factory()
    rng = np.random.default_rng(8)
    vectors = unit(rng, 3)
    with store.transaction():
        store.create_identity("alice")
        add_ref(store, "alice", vectors[0], "a")
        with pytest.raises(DuplicateReference):
            add_ref(store, "alice", vectors[1], "a")
        try:
            with store.transaction():
                add_ref(store, "alice", vectors[1], "b")
                raise KeyError("inner")
        except KeyError:
            pass
        add_ref(store, "alice", vectors[2], "c")
    ids, matrix = store.references_embeddings("alice")
    np.testing.assert_array_equal(matrix, vectors[[0, 2]])
    assert store.generation() == 2
    hits = store.search(vectors, 2)
    assert hits[0][0].reference_id == ids[0] and hits[2][0].reference_id == ids[1]
    assert {h.reference_id for h in hits[1]} == set(ids.tolist())


def test_search_inside_transaction_then_rollback_leaves_index_consistent(store_factory):
    store = store_factory()
    rng = np.random.default_rng(9)
    vectors = unit(rng, 2)
    store.create_identity("alice")
    with pytest.raises(RuntimeError), store.transaction():
        ghost = add_ref(store, "alice", vectors[0], "ghost")
        assert store.search(vectors[0], 1)[0][0].reference_id == ghost.id  # own uncommitted write seen
        raise RuntimeError
    assert store.search(vectors[0], 1) == [[]]
    real = add_ref(store, "alice", vectors[1], "real")  # may reuse the rolled-back id: must not inherit it
    hit = store.search(vectors[1], 1)[0][0]
    assert hit.reference_id == real.id and hit.similarity == pytest.approx(1.0, abs=1e-5)


def _enrol_and_hang(path: str, ready, seed: int) -> None:
    """Child process: start an enrolment, report, then wait to be killed inside the transaction."""
    store = open_store(path, FP, DIM)
    rng = np.random.default_rng(seed)
    with store.transaction():
        store.create_identity("victim")
        for j, v in enumerate(unit(rng, 3)):
            add_ref(store, "victim", v, f"v{j}")
        ready.set()
        signal.pause()


def test_process_killed_mid_enrolment_leaves_nothing(store_factory, locate):
    store = store_factory()
    store.create_identity("before")
    add_ref(store, "before", unit(np.random.default_rng(10), 1)[0], "b")
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_enrol_and_hang, args=(locate(), ready, 11))
    child.start()
    try:
        assert ready.wait(60), "the child did not reach the middle of its transaction"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(30)
    assert child.exitcode == -signal.SIGKILL
    fresh = store_factory(name="store")
    with pytest.raises(UnknownIdentity):
        fresh.get_identity("victim")
    assert fresh.count_references() == 1 and fresh.count_identities() == 1 and fresh.generation() == 1
    fresh.create_identity("after")  # the dead writer's lock is gone
    assert [h.external_id for h in fresh.search(unit(np.random.default_rng(11), 3), 5)[0]] == ["before"]


def _enrol_many(path: str, worker: int, identities: int, references: int) -> None:
    store = open_store(path, FP, DIM)
    for i in range(identities):
        rng = np.random.default_rng([worker, i])
        with store.transaction():
            store.create_identity(f"p{worker}-{i}")
            for j, v in enumerate(unit(rng, references)):
                add_ref(store, f"p{worker}-{i}", v, f"p{worker}-{i}-{j}")
            store.set_status(f"p{worker}-{i}", "enrolled")
    store.close()


def test_four_processes_enrolling_at_once_lose_nothing(store_factory, locate):
    workers, identities, references = 4, 25, 3
    watcher = store_factory()  # open before, with an index: must see the others' writes afterwards
    assert watcher.search(unit(np.random.default_rng(0), 1), 1) == [[]]
    context = multiprocessing.get_context("spawn")
    path = locate()
    procs = [
        context.Process(target=_enrol_many, args=(path, w, identities, references)) for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * workers
    fresh = store_factory(name="store")
    assert fresh.count_identities("enrolled") == workers * identities
    assert fresh.count_references() == workers * identities * references
    assert fresh.generation() == workers * identities * references
    expected, queries = [], []
    for w in range(workers):
        for i in range(identities):
            queries.append(unit(np.random.default_rng([w, i]), references))
            expected += [f"p{w}-{i}"] * references
    queries = np.concatenate(queries)
    for store in (fresh, watcher):
        hits = store.search(queries, 1)
        assert [row[0].external_id for row in hits] == expected
        assert min(row[0].similarity for row in hits) > 1 - 1e-5


# ----------------------------------------------------------------------------- deletion


def files_of(store) -> dict[str, bytes]:
    base = store.location
    return {p: Path(p).read_bytes() for p in (base, base + "-wal", base + ".faiss") if Path(p).exists()}


def test_delete_identity_erases_its_bytes_from_disk(store_factory, backend):
    sqlite_only(backend)
    store = store_factory()
    rng = np.random.default_rng(12)
    vectors = unit(rng, 4)
    secret, public = b"SECRET-SIGNATURE-", b"PUBLIC-SIGNATURE-"
    with store.transaction():
        for who, pattern in (("gone", secret), ("kept", public)):
            store.create_identity(who, f"{who} name")
            for j in range(2):
                blob = PNG + pattern * 300 + bytes([j])  # several pages long: overflow pages too
                thumb = PNG + pattern.lower() * 20 + bytes([j])
                store.add_reference(who, vectors[2 * (who == "kept") + j], blob, thumb, {}, sha(f"{who}{j}"))
    document = store.add_document(sha("doc"), "contract.pdf", 2)
    detection = store.add_detection(
        document.id, 2, (1, 2, 30, 40), 0.9, PNG + secret * 50 + b"det", vectors[0], external_id="gone"
    )
    store.log_event("verify", "clerk", {"external_id": "gone", "score": 0.8})
    store.search(vectors, 1)
    store.close()  # persists the index: it holds the embeddings too
    store = store_factory(name="store")
    bystander = store_factory(name="store")  # another open connection: the WAL is not removed on close
    bystander.search(vectors, 1)
    store.search(vectors, 1)
    add_ref(store, "kept", unit(rng, 1)[0], "late")  # leaves WAL frames behind

    before = files_of(store)
    assert {Path(p).suffix for p in before} == {".db", ".db-wal", ".faiss"}
    gone_embedding = vectors[0].tobytes()
    for needle in (secret, secret.lower(), public, public.lower(), gone_embedding):
        assert needle in b"".join(before.values())  # the scan can see each pattern while it is stored

    assert store.delete_identity("gone") == 2
    for moment in ("after the deletion", "after closing"):
        after = files_of(store)
        assert Path(store.location) in map(Path, after), "the database file vanished"
        for path, data in after.items():
            for needle in (secret, secret.lower(), gone_embedding, vectors[1].tobytes()):
                assert needle not in data, f"{needle[:20]!r} still in {path} {moment}"
        assert public in b"".join(after.values())  # what was kept is still there
        store.close()
        bystander.close()

    store = store_factory(name="store")
    assert [row[0].external_id for row in store.search(vectors, 1)] == ["kept"] * 4
    assert store.count_references() == 3
    kept_detection = store.get_detection(detection.id)  # the document keeps its box, unattributed
    assert (kept_detection.external_id, kept_detection.reference_id, kept_detection.has_embedding) == (
        None,
        None,
        False,
    )
    with pytest.raises(StoreError, match="erased"):
        store.detection_crop(detection.id)
    assert store.list_audit(0, 10)[0].payload == {"external_id": "gone", "score": 0.8}
    with pytest.raises(UnknownIdentity):
        store.delete_identity("gone")


def test_delete_reference_removes_it_from_search(store_factory):
    store = store_factory()
    rng = np.random.default_rng(13)
    vectors = unit(rng, 3)
    store.create_identity("alice")
    refs = [add_ref(store, "alice", v, f"a{j}") for j, v in enumerate(vectors)]
    document = store.add_document(sha("doc"), "form.png", 1)
    detection = store.add_detection(
        document.id, 1, (0, 0, 10, 10), 0.5, png("d"), vectors[1], reference_id=refs[1].id
    )
    assert detection.external_id == "alice" and detection.reference_id == refs[1].id
    store.search(vectors, 1)
    store.delete_reference(refs[1].id)
    assert [r.id for r in store.list_references("alice")] == [refs[0].id, refs[2].id]
    assert refs[1].id not in [h.reference_id for h in store.search(vectors[1], 3)[0]]
    assert store.get_detection(detection.id).reference_id is None
    with pytest.raises(UnknownRecord, match=f"no reference with id {refs[1].id}"):
        store.delete_reference(refs[1].id)


# ----------------------------------------------------------------------------- documents and detections


def test_documents_and_detections(store_factory):
    store = store_factory()
    rng = np.random.default_rng(14)
    vectors = unit(rng, 3)
    doc = store.add_document(sha("a"), "a.pdf", 3, {"kind": "page"})
    assert store.add_document(sha("a"), "renamed.pdf", 9).id == doc.id  # idempotent by content hash
    assert store.get_document(sha("a")).name == "a.pdf"
    other = store.add_document(sha("b"), "b.png", 1)
    dets = [
        store.add_detection(doc.id, 3, (0, 0, 5, 5), 0.7, png("d0"), vectors[0]),
        store.add_detection(doc.id, 1, (1.5, 2, 8, 9), 0.9, png("d1"), vectors[1]),
        store.add_detection(other.id, 1, (0, 0, 3, 3), 0.8, png("d2"), vectors[2]),
    ]
    assert [d.page for d in store.list_detections(doc.id)] == [1, 3]
    assert store.get_detection(dets[1].id).box == (1.5, 2.0, 8.0, 9.0)
    assert store.detection_crop(dets[2].id) == png("d2")
    ids, matrix = store.detections_embeddings(doc.id)
    assert ids.tolist() == [dets[0].id, dets[1].id]
    np.testing.assert_array_equal(matrix, vectors[:2])
    assert store.detections_embeddings()[0].tolist() == [d.id for d in dets]
    with pytest.raises(ValueError, match="page 4 is out of range for 'a.pdf'"):
        store.add_detection(doc.id, 4, (0, 0, 5, 5), 0.7, png("x"), vectors[0])
    with pytest.raises(ValueError, match="pages count from 1"):
        store.add_detection(doc.id, 0, (0, 0, 5, 5), 0.7, png("x"), vectors[0])
    with pytest.raises(ValueError, match="x1 > x0"):
        store.add_detection(doc.id, 1, (5, 0, 5, 5), 0.7, png("x"), vectors[0])
    with pytest.raises(ValueError, match="score must be a finite number"):
        store.add_detection(doc.id, 1, (0, 0, 5, 5), None, png("x"), vectors[0])
    with pytest.raises(UnknownRecord, match="no document with id 99"):
        store.add_detection(99, 1, (0, 0, 5, 5), 0.7, png("x"), vectors[0])
    store.create_identity("alice")
    assert store.link_detection(dets[2].id, "alice").external_id == "alice"
    assert [d.id for d in store.list_documents(0, 1)] == [doc.id]
    store.delete_document(sha("a"))
    with pytest.raises(UnknownRecord):
        store.get_detection(dets[0].id)
    assert store.detections_embeddings()[0].tolist() == [dets[2].id]


# ----------------------------------------------------------------------------- re-embedding


def test_re_embedding_switches_the_whole_store(store_factory):
    store = store_factory()
    rng = np.random.default_rng(15)
    store.create_identity("alice")
    refs = [add_ref(store, "alice", v, f"a{j}") for j, v in enumerate(unit(rng, 3))]
    document = store.add_document(sha("d"), "d.png", 1)
    kept, dropped = (
        store.add_detection(document.id, 1, (0, 0, 4, 4), 0.9, png(f"det{j}"), unit(rng, 1)[0])
        for j in range(2)
    )
    stale = store_factory()  # another opener still on the old model
    store.search(unit(rng, 1), 1)

    crops = dict(store.iter_reference_crops())
    assert crops == {r.id: png(f"crop:a{j}:") for j, r in enumerate(refs)}
    assert dict(store.iter_detection_crops()).keys() == {kept.id, dropped.id}
    new = dict(zip(crops, unit(rng, 3, 8), strict=True))  # the new model is 8-d
    with pytest.raises(StoreError, match="1 references lack a new embedding"):
        store.replace_fingerprint("model-b", dict(list(new.items())[:2]))
    assert store.fingerprint == FP and store.generation() == 3  # refused as a whole

    store.replace_fingerprint("model-b", new, {kept.id: unit(rng, 1, 8)[0]})
    assert (store.fingerprint, store.dim) == ("model-b", 8)
    for ref_id, vector in new.items():
        hit = store.search(vector, 1)[0][0]
        assert hit.reference_id == ref_id and hit.similarity == pytest.approx(1.0, abs=1e-5)
    assert {r.fingerprint for r in store.list_references("alice")} == {"model-b"}
    assert store.get_detection(kept.id).has_embedding and not store.get_detection(dropped.id).has_embedding
    assert store.detections_embeddings()[1].shape == (1, 8)

    with pytest.raises(FingerprintMismatch, match="model-b.*model-a"):
        store_factory(FP, DIM)
    with pytest.raises(FingerprintMismatch, match="model-b.*model-a"):
        add_ref(stale, "alice", unit(rng, 1)[0], "late")  # the old model's writer is refused
    with pytest.raises(FingerprintMismatch):
        stale.search(unit(rng, 1), 1)
    assert store_factory("model-b", 8).count_references() == 3


# ----------------------------------------------------------------------------- audit


def test_audit_log_pages_filters_and_is_append_only(store_factory, backend):
    store = store_factory()
    for i in range(12):
        store.log_event("verify" if i % 3 else "identify", f"user{i}", {"i": i, "score": np.float32(0.5)})
    assert store.count_audit() == 12 and store.count_audit("identify") == 4
    pages = [store.list_audit(offset, 5) for offset in (0, 5, 10)]
    assert [e.payload["i"] for p in pages for e in p] == list(range(12))
    assert [e.payload["i"] for e in store.list_audit(1, 2, kind="identify")] == [3, 6]
    assert pages[0][0].payload["score"] == 0.5 and pages[0][0].actor == "user0"
    with pytest.raises(ValueError, match="finite numbers"):
        store.log_event("verify", "x", {"score": float("nan")})
    with pytest.raises(ValueError, match="ndarray is not JSON"):
        store.log_event("verify", "x", {"embedding": np.zeros(3)})
    with pytest.raises(ValueError, match="audit actor"):
        store.log_event("verify", "", {})
    tampering = ["UPDATE audit SET actor = 'forger'", "DELETE FROM audit"]
    if backend == "sqlite":
        with sqlite3.connect(store.location) as raw:
            for statement in tampering:
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    raw.execute(statement)
    else:
        with psycopg.connect(store.url, autocommit=True) as raw:
            for statement in [*tampering, "TRUNCATE audit"]:
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    raw.execute(statement)
    assert store.count_audit() == 12


def test_closed_store_and_sqlite_settings(store_factory, backend):
    sqlite_only(backend)
    store = store_factory()
    assert isinstance(store, SQLiteStore)
    pragmas = {
        name: store._conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in (
            "journal_mode",
            "foreign_keys",
            "secure_delete",
            "auto_vacuum",
            "synchronous",
            "busy_timeout",
        )
    }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "secure_delete": 1,
        "auto_vacuum": 2,  # incremental
        "synchronous": 2,  # full
        "busy_timeout": 60000,
    }
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.create_identity("x")


# ----------------------------------------------------------------------------- concurrency (both backends)


def test_writers_queue_and_readers_do_not_wait(backend, locate, store_factory):
    """A write transaction holds the store-wide write lock: another writer times out, a reader does not."""
    holder = store_factory()
    holder.create_identity("alice")
    store_class = SQLiteStore if backend == "sqlite" else PostgresStore
    other = store_class(locate(), timeout=0.5)
    try:
        with holder.transaction():
            holder.create_identity("bob")
            assert other.count_identities() == 1  # reads the committed state, at once
            assert [i.external_id for i in other.list_identities()] == ["alice"]
            with pytest.raises(other.DATABASE_ERRORS, match=r"(?i)locked|lock timeout"):
                other.create_identity("carol")
        other.create_identity("carol")  # the lock is free again
        assert holder.count_identities() == 3
    finally:
        other.close()


# ----------------------------------------------------------------------------- PostgreSQL specifics


def test_postgres_urls_and_databases_that_are_not_stores(postgres_databases):  # noqa: F811 (fixture)
    with pytest.raises(
        StoreError, match=r"cannot connect to postgresql://clerk:\*\*\*@127.0.0.1:1/x"
    ) as caught:
        open_store("postgresql://clerk:hunter2@127.0.0.1:1/x", FP, DIM)
    assert "hunter2" not in str(caught.value)
    missing = postgres_databases.server.url("no_such_database")
    with pytest.raises(StoreError, match="no_such_database"):
        open_store(missing, FP, DIM)
    invoices = postgres_databases.url("invoices")
    with psycopg.connect(invoices, autocommit=True) as raw:
        raw.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="a PostgreSQL database but not a sigbench store"):
        open_store(invoices, FP, DIM)
    assert postgres_tables(invoices) == {"invoices"}  # left as it was
    with pytest.raises(ValueError, match="erase must be one of"):
        PostgresStore(postgres_databases.url(), FP, DIM, erase="shred")
    with open_store(postgres_databases.url("empty"), FP, DIM) as store:
        assert isinstance(store, PostgresStore) and store.erase == "full"
        assert postgres_tables(store.url) >= {"meta", "identities", "signature_references", "audit"}


def test_postgres_delete_identity_erases_its_bytes_from_the_data_files(postgres_databases):  # noqa: F811 (fixture)
    """Crops, thumbnails and embeddings are random (incompressible, like real PNGs, so PostgreSQL stores them
    as they are, in the table or out of line in its TOAST table); after the deletion none of their bytes is
    in the database's files, while a kept person's still are."""
    server = postgres_databases.server
    store = open_store(postgres_databases.url(), FP, DIM)
    rng = np.random.default_rng(16)
    vectors = unit(rng, 8)
    payloads: dict[str, list[bytes]] = {"gone": [], "kept": []}
    with store.transaction():
        for who in ("gone", "kept"):
            store.create_identity(who)
            for j, size in enumerate((300, 4000, 9000)):  # inline, and TOASTed out of line
                crop, thumb = PNG + rng.bytes(size), PNG + rng.bytes(200)
                ref = store.add_reference(
                    who, vectors[4 * (who == "kept") + j], crop, thumb, {}, sha(f"{who}{j}")
                )
                payloads[who] += [crop[8:72], thumb[8:72], vectors[4 * (who == "kept") + j].tobytes()]
        assert ref.external_id == "kept"
    document = store.add_document(sha("doc"), "cheque.png", 1)
    detection_crop = PNG + rng.bytes(5000)
    store.add_detection(document.id, 1, (0, 0, 9, 9), 0.8, detection_crop, vectors[3], external_id="gone")
    payloads["gone"] += [detection_crop[8:72], vectors[3].tobytes()]
    store.search(vectors, 1)
    folder = (
        server.data_dir
        / "base"
        / str(store._execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0])
    )

    def stored_bytes() -> bytes:
        store._execute("CHECKPOINT")  # flush shared buffers to the files (the test connects as superuser)
        return b"".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())

    before = stored_bytes()
    assert all(needle in before for needles in payloads.values() for needle in needles)
    assert store.delete_identity("gone") == 3
    after = stored_bytes()
    for needle in payloads["gone"]:
        assert needle not in after, f"{needle[:8]!r}... of a deleted reference is still in {folder}"
    assert all(needle in after for needle in payloads["kept"])
    assert [row[0].external_id for row in store.search(vectors, 1)] == ["kept"] * 8
    store.close()


def test_postgres_store_reconnects_after_its_connection_is_dropped(postgres_databases):  # noqa: F811 (fixture)
    """A database restart or a dropped connection fails the call that meets it; the next calls reconnect."""
    rng = np.random.default_rng(17)
    store = open_store(postgres_databases.url(), FP, DIM)
    store.create_identity("alice")
    vector = unit(rng, 1)[0]
    kept = add_ref(store, "alice", vector, "a")
    with psycopg.connect(postgres_databases.url(), autocommit=True) as admin:
        pid = store._conn.info.backend_pid
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    with pytest.raises(psycopg.OperationalError):
        store.count_identities()
    assert store.count_identities() == 1 and store._conn.info.backend_pid != pid
    with store.transaction():  # writes (and their lock) work again
        add_ref(store, "alice", unit(rng, 1)[0], "b")
    assert store.search(vector, 1)[0][0].reference_id == kept.id
    assert store.count_references() == 2
    store.close()


def test_sqlite_store_copied_into_postgres_keeps_everything(tmp_path, postgres_databases):  # noqa: F811 (fixture)
    from sigbench.service.store.copy import main as copy_main

    rng = np.random.default_rng(18)
    vectors = unit(rng, 6)
    source = open_store(tmp_path / "old.db", FP, DIM)
    with source.transaction():
        for who in ("alice", "bob"):
            source.create_identity(who, who.title(), {"team": who[0]})
            for j in range(3):
                add_ref(source, who, vectors[3 * (who == "bob") + j], f"{who}{j}")
        source.set_status("alice", "enrolled")
    source.delete_reference(source.list_references("bob")[0].id)  # a gap in the ids
    document = source.add_document(sha("doc"), "form.pdf", 2)
    detection = source.add_detection(
        document.id, 2, (1, 2, 3, 4), 0.75, png("d"), vectors[0], external_id="alice"
    )
    source.log_event("verify", "clerk", {"external_id": "alice", "score": 0.9})
    source.close()
    target_url = postgres_databases.url("moved")

    assert copy_main([str(tmp_path / "old.db"), target_url]) == 0
    old, new = open_store(tmp_path / "old.db"), open_store(target_url)
    try:
        assert isinstance(new, PostgresStore) and (new.fingerprint, new.dim) == (FP, DIM)
        assert new.list_identities() == old.list_identities()  # ids, names, metadata, status, times
        for who in ("alice", "bob"):
            assert new.list_references(who) == old.list_references(who)
            old_ids, old_matrix = old.references_embeddings(who)
            new_ids, new_matrix = new.references_embeddings(who)
            np.testing.assert_array_equal(new_ids, old_ids)
            np.testing.assert_array_equal(new_matrix, old_matrix)
            assert all(new.reference_crop(i) == old.reference_crop(i) for i in old_ids)
        assert new.get_detection(detection.id) == old.get_detection(detection.id)
        assert new.detection_crop(detection.id) == png("d")
        assert new.list_audit() == old.list_audit()
        assert new.search(vectors, 2) == old.search(vectors, 2)
        later = add_ref(new, "bob", unit(rng, 1)[0], "later")  # ids continue after the copied ones
        assert later.id == max(r.id for who in ("alice", "bob") for r in old.list_references(who)) + 1
        with pytest.raises(StoreError, match="not empty"):
            old.copy_into(new)
    finally:
        old.close()
        new.close()
