"""The logic every SQL store shares: schema, records, transactions, the index kept in step, erasure.

A backend (``sqlite``, ``postgres``) subclasses :class:`SQLStore` and supplies only its dialect: how to
connect, the column types of the schema, how a write transaction takes the store-wide write lock, how a
read gets one consistent snapshot, which exceptions mean "constraint violated", and how deleted bytes are
reclaimed. Every statement below is written once, with ``?`` parameters, in SQL both databases accept
(``ON CONFLICT``, ``RETURNING``, ``SAVEPOINT``); a backend rewrites the parameter markers if it needs to.

Why writes are serialised store-wide (one writer at a time, readers never blocked): an enrolment reads
before it writes (is this pixel hash enrolled already? is the store still on this model?), and the
generation counter that keeps every process's vector index in step must be bumped in commit order. One
lock at the start of every write transaction makes both trivially right on every backend.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sigbench.service.store.base import (
    AuditEvent,
    Detection,
    DimensionMismatch,
    Document,
    DuplicateIdentity,
    DuplicateReference,
    FingerprintMismatch,
    Identity,
    Reference,
    SearchHit,
    StoreError,
    UnknownIdentity,
    UnknownRecord,
    as_embedding_matrix,
    check_box,
    check_paging,
    check_status,
)
from sigbench.service.store.index import VectorIndex, saved_header

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHA256 = re.compile(r"[0-9a-f]{64}")
IN_CHUNK = 500
"""Ids per ``IN (...)`` list: far below SQLite's bound-parameter limit."""
SAVE_EVERY = 1000
"""The persisted index is rewritten on close once it is this many vectors (or 1 %) behind the database."""

TABLES = ("meta", "identities", "signature_references", "documents", "detections", "audit")
COPIED_TABLES = TABLES[1:]
"""In an order that satisfies the foreign keys (``meta`` is the target's own)."""

SCHEMA = [
    """CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        schema_version INTEGER NOT NULL,
        store_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0),
        generation {key} NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE identities (
        id {serial},
        external_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        metadata TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'enrolled')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE signature_references (
        id {serial},
        identity_id {key} NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
        embedding {blob} NOT NULL,
        fingerprint TEXT NOT NULL,
        crop_png {blob} NOT NULL,
        thumbnail_png {blob} NOT NULL,
        provenance TEXT NOT NULL,
        pixel_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (identity_id, pixel_sha256))""",
    """CREATE TABLE documents (
        id {serial},
        sha256 TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        n_pages INTEGER NOT NULL CHECK (n_pages >= 0),
        metadata TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE detections (
        id {serial},
        document_id {key} NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        page INTEGER NOT NULL CHECK (page >= 1),
        x0 {real} NOT NULL, y0 {real} NOT NULL, x1 {real} NOT NULL, y1 {real} NOT NULL,
        score {real} NOT NULL,
        crop_png {blob},
        embedding {blob},
        fingerprint TEXT,
        reference_id {key} REFERENCES signature_references (id) ON DELETE SET NULL,
        identity_id {key} REFERENCES identities (id) ON DELETE SET NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE audit (
        id {serial},
        time TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        payload TEXT NOT NULL)""",
    "CREATE INDEX references_by_identity ON signature_references (identity_id)",
    "CREATE INDEX detections_by_document ON detections (document_id, page)",
    "CREATE INDEX detections_by_identity ON detections (identity_id)",
    "CREATE INDEX detections_by_reference ON detections (reference_id)",
    "CREATE INDEX audit_by_kind ON audit (kind, id)",
]
"""The tables, with the dialect's types as ``{serial}`` (a never-reused id key), ``{key}`` (a reference to
one), ``{blob}`` and ``{real}`` (a 64-bit float). The audit log's append-only triggers are per dialect."""

IDENTITY_COLUMNS = (
    "i.id, i.external_id, i.name, i.metadata, i.status, i.created_at, i.updated_at, "
    "(SELECT COUNT(*) FROM signature_references r WHERE r.identity_id = i.id)"
)
REFERENCE_COLUMNS = (
    "r.id, i.external_id, r.fingerprint, r.pixel_sha256, r.provenance, r.created_at, r.thumbnail_png"
)
DOCUMENT_COLUMNS = "id, sha256, name, n_pages, metadata, created_at"
DETECTION_COLUMNS = (
    "d.id, d.document_id, d.page, d.x0, d.y0, d.x1, d.y1, d.score, d.created_at, d.reference_id, "
    "i.external_id, d.embedding IS NOT NULL"
)
DETECTION_FROM = "detections d LEFT JOIN identities i ON i.id = d.identity_id"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_json(value: Mapping[str, Any] | None, what: str) -> str:
    """Strict JSON (no NaN, numpy scalars as numbers); arrays are refused so no embedding slips into a log."""

    def plain(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")

    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping, got {type(value).__name__}")
    try:
        return json.dumps(dict(value), allow_nan=False, default=plain)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{what} must be plain JSON (strings, finite numbers, lists, dicts): {error}"
        ) from None


def check_png(data: bytes, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview) or not bytes(data[:8]) == PNG_MAGIC:
        raise ValueError(f"{what} must be PNG-encoded bytes (starting with the PNG signature)")
    return bytes(data)


def check_text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def chunks(ids: np.ndarray | list[int], size: int = IN_CHUNK) -> Iterator[list[int]]:
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def placeholders(n: int) -> str:
    return ",".join("?" * n)


class SQLStore:
    """A store in one SQL database, with its vector index as a cache in this process.

    Subclasses connect (``self._conn``, a DB-API connection in autocommit mode, plus ``self.location``
    and ``self.index_path``: where the index is persisted, or None), set up the common state with
    ``_init_state`` and then call ``_open``. ``fingerprint`` / ``dim`` are required to create a store; when
    opening an existing one they are checked (``None`` adopts the store's, for tools that list or delete
    without loading a model). One instance may be shared by threads (calls are serialised); processes each
    open their own.
    """

    SCHEMA_TYPES: ClassVar[dict[str, str]]
    """The dialect's column types for ``SCHEMA``'s ``{serial}``, ``{key}``, ``{blob}``, ``{real}``."""
    APPEND_ONLY_AUDIT: ClassVar[Sequence[str]]
    """Statements that make the database itself refuse updates and deletions of audit rows."""
    INTEGRITY_ERRORS: ClassVar[tuple[type[Exception], ...]]
    """What the driver raises on a violated UNIQUE constraint."""
    DATABASE_ERRORS: ClassVar[tuple[type[Exception], ...]]
    """The driver's base error class(es)."""
    KIND: ClassVar[str] = "SQL"
    EXPLICIT_IDS: ClassVar[str] = ""
    """What an INSERT needs to write given ids into an id column (PostgreSQL: OVERRIDING SYSTEM VALUE)."""

    location: str
    index_path: Path | None
    _conn: Any

    # ------------------------------------------------------------------ dialect hooks

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor (``fetchone`` / ``fetchall`` / ``rowcount``, iterable)."""
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _begin_write(self) -> None:
        """Begin a transaction holding the store-wide write lock (other writers wait, readers do not)."""
        raise NotImplementedError

    def _begin_read(self) -> None:
        """Begin a read-only transaction that sees one consistent snapshot."""
        raise NotImplementedError

    def _in_transaction(self) -> bool:
        raise NotImplementedError

    def _table_names(self) -> set[str]:
        """Names of the tables in the database (or schema) the store lives in."""
        raise NotImplementedError

    def _reclaim(self) -> bool:
        """After a committed deletion: make the deleted bytes unreadable as far as the backend allows."""
        raise NotImplementedError

    def _ids_copied(self, table: str) -> None:
        """After rows were inserted with explicit ids: make the next generated id follow the largest."""
        raise NotImplementedError

    # ------------------------------------------------------------------ opening

    def _init_state(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._tx: dict[str, Any] = {}
        self._closed = False
        self._index: VectorIndex | None = None

    def _open(self, fingerprint: str | None, dim: int | None) -> None:
        """Create the schema or read the store's model, then take the persisted index if it fits."""
        meta = self._create_or_read_meta(fingerprint, dim)
        self.store_id: str = meta["store_id"]
        self.fingerprint: str = meta["fingerprint"]
        self.dim: int = meta["dim"]
        index = VectorIndex.load(self.index_path) if self.index_path is not None else None
        self._index = (
            index if index is not None and index.matches(self.store_id, self.fingerprint, self.dim) else None
        )

    @classmethod
    def schema(cls) -> list[str]:
        return [statement.format(**cls.SCHEMA_TYPES) for statement in SCHEMA] + list(cls.APPEND_ONLY_AUDIT)

    def _create_or_read_meta(self, fingerprint: str | None, dim: int | None) -> dict[str, Any]:
        self._begin_write()  # concurrent first opens: exactly one creates the schema
        try:
            tables = self._table_names()
            if tables and "meta" not in tables:
                raise StoreError(
                    f"{self.location} is a {self.KIND} database but not a sigbench store (no meta table)"
                )
            if not tables:
                if fingerprint is None or dim is None:
                    raise StoreError(
                        f"no store at {self.location} (creating one needs a model fingerprint and dim)"
                    )
                if not isinstance(dim, int) or dim < 1:
                    raise ValueError(f"dim must be a positive integer, got {dim!r}")
                check_text(fingerprint, "fingerprint")
                for statement in self.schema():
                    self._execute(statement)
                self._execute(
                    "INSERT INTO meta (id, schema_version, store_id, fingerprint, dim, generation, "
                    "created_at) VALUES (1, ?, ?, ?, ?, 0, ?)",
                    (SCHEMA_VERSION, uuid.uuid4().hex, fingerprint, dim, utc_now()),
                )
            meta = self._meta()
            self._execute("COMMIT")
        except BaseException:
            if self._in_transaction():
                self._execute("ROLLBACK")
            raise
        if meta["schema_version"] != SCHEMA_VERSION:
            raise StoreError(
                f"{self.location} has store schema version {meta['schema_version']}; this sigbench reads "
                f"version {SCHEMA_VERSION}"
            )
        if fingerprint is not None and fingerprint != meta["fingerprint"]:
            raise FingerprintMismatch(self.location, meta["fingerprint"], fingerprint)
        if dim is not None and dim != meta["dim"]:
            raise DimensionMismatch(f"{self.location} holds {meta['dim']}-d embeddings, not {dim}-d")
        return meta

    def _meta(self) -> dict[str, Any]:
        row = self._execute(
            "SELECT schema_version, store_id, fingerprint, dim, generation FROM meta WHERE id = 1"
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.location}: the meta table is empty (not a sigbench store?)")
        keys = ("schema_version", "store_id", "fingerprint", "dim", "generation")
        return dict(zip(keys, row, strict=True))

    def close(self) -> None:
        """Save the index if it lags far behind, then close. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            if self._depth:
                raise StoreError(f"{self.location}: close() inside a transaction")
            try:
                self._save_index_if_behind()
            except (*self.DATABASE_ERRORS, OSError, StoreError) as error:  # a cache: rebuilt when needed
                log.warning("%s: vector index not saved (%s)", self.location, error)
            finally:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r}, fingerprint={self.fingerprint!r}, dim={self.dim})"

    def generation(self) -> int:
        """The database's change counter of references (bumped by every commit that changes them)."""
        with self._lock:
            return int(self._meta()["generation"])

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them commit together or none does (nested uses become savepoints).

        Takes the store's write lock at once (``_begin_write``); other writers wait up to the lock
        timeout. Searches inside see the transaction's own uncommitted references.
        """
        with self._lock:
            self._check_open()
            if self._depth:
                name = f"level{self._depth}"
                self._execute(f"SAVEPOINT {name}")
                self._depth += 1
                ops_before = len(self._tx["ops"])
                try:
                    yield
                except BaseException:
                    self._execute(f"ROLLBACK TO {name}")
                    self._execute(f"RELEASE {name}")
                    del self._tx["ops"][ops_before:]
                    self._tx["ops_valid"] = False  # generation bumps were undone too
                    raise
                else:
                    self._execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            self._begin_write()
            self._depth = 1
            self._tx = {"ops": [], "ops_valid": True, "before": None, "after": None, "touched": False}
            self._tx.update(reset=False, reclaim=False)
            try:
                yield
                self._commit()
            except BaseException:
                self._depth = 0
                if self._in_transaction():
                    self._execute("ROLLBACK")
                if self._tx["touched"]:  # the index saw uncommitted rows whose ids may be reused
                    self._index = None
                raise
            self._depth = 0
            self._after_commit()

    def _commit(self) -> None:
        self._execute("COMMIT")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.location} is closed")

    def _bump_generation(self) -> None:
        generation = self._execute(
            "UPDATE meta SET generation = generation + 1 WHERE id = 1 RETURNING generation"
        ).fetchall()[0][0]
        if self._tx["before"] is None:
            self._tx["before"] = generation - 1  # the committed value: we hold the write lock
        self._tx["after"] = generation

    def _checked_meta(self, fingerprint: str | None = None) -> dict[str, Any]:
        """The database's meta, refusing writes from a model other than the store's (even if another
        process re-embedded the store since this one opened it)."""
        meta = self._meta()
        for other in (self.fingerprint, fingerprint):
            if other is not None and other != meta["fingerprint"]:
                raise FingerprintMismatch(self.location, meta["fingerprint"], other)
        return meta

    def _after_commit(self) -> None:
        tx = self._tx
        index = self._index
        if index is not None:
            if tx["reset"]:
                self._index = None
            elif tx["touched"]:
                index.generation = -1  # consistent by ids, but not known to match any generation
            elif tx["ops"] and tx["ops_valid"] and index.generation == tx["before"]:
                for op, ids, vectors in tx["ops"]:
                    if op == "add":
                        index.add(ids, vectors)
                    else:
                        index.remove(ids)
                index.generation = tx["after"]
        if tx["reclaim"]:
            try:
                self.checkpoint()
            except self.DATABASE_ERRORS as error:  # committed; the next deletion or checkpoint() retries
                log.warning("%s: reclaiming space after a deletion failed (%s)", self.location, error)

    def _forget_index_file(self) -> None:
        """Remove the persisted index (it holds embeddings being erased); called under the write lock."""
        if self.index_path is not None:
            self.index_path.unlink(missing_ok=True)
        self._tx["reclaim"] = True

    def checkpoint(self) -> bool:
        """Make deleted rows' bytes unreadable as far as the backend allows (see ``_reclaim``); False when
        another connection kept it from finishing (the next deletion or ``checkpoint()`` retries).

        Runs after every committed deletion.
        """
        with self._lock:
            self._check_open()
            if self._depth:
                raise StoreError("checkpoint() inside a transaction")
            return self._reclaim()

    # ------------------------------------------------------------------ identities

    def create_identity(
        self, external_id: str, name: str = "", metadata: Mapping[str, Any] | None = None
    ) -> Identity:
        check_text(external_id, "external_id")
        metadata_json = to_json(metadata, "identity metadata")
        now = utc_now()
        with self.transaction():
            try:
                self._execute(
                    "INSERT INTO identities (external_id, name, metadata, status, created_at, updated_at) "
                    "VALUES (?, ?, ?, 'pending', ?, ?)",
                    (external_id, str(name), metadata_json, now, now),
                )
            except self.INTEGRITY_ERRORS:
                raise DuplicateIdentity(external_id) from None
            return self.get_identity(external_id)

    def get_identity(self, external_id: str) -> Identity:
        with self._lock:
            row = self._execute(
                f"SELECT {IDENTITY_COLUMNS} FROM identities i WHERE i.external_id = ?", (external_id,)
            ).fetchone()
        if row is None:
            raise UnknownIdentity(external_id)
        return identity_from_row(row)

    def list_identities(self, offset: int = 0, limit: int = 100, status: str | None = None) -> list[Identity]:
        check_paging(offset, limit)
        where, params = self._status_filter(status)
        with self._lock:
            rows = self._execute(
                f"SELECT {IDENTITY_COLUMNS} FROM identities i {where} ORDER BY i.id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return [identity_from_row(row) for row in rows]

    def count_identities(self, status: str | None = None) -> int:
        where, params = self._status_filter(status)
        with self._lock:
            return int(self._execute(f"SELECT COUNT(*) FROM identities i {where}", params).fetchone()[0])

    @staticmethod
    def _status_filter(status: str | None) -> tuple[str, tuple]:
        if status is None:
            return "", ()
        check_status(status)
        return "WHERE i.status = ?", (status,)

    def rename_identity(self, external_id: str, name: str) -> Identity:
        return self._update_identity(external_id, "name", str(name))

    def set_status(self, external_id: str, status: str) -> Identity:
        check_status(status)
        return self._update_identity(external_id, "status", status)

    def _update_identity(self, external_id: str, column: str, value: str) -> Identity:
        with self.transaction():
            updated = self._execute(
                f"UPDATE identities SET {column} = ?, updated_at = ? WHERE external_id = ?",
                (value, utc_now(), external_id),
            ).rowcount
            if not updated:
                raise UnknownIdentity(external_id)
            return self.get_identity(external_id)

    def _identity_id(self, external_id: str) -> int:
        row = self._execute("SELECT id FROM identities WHERE external_id = ?", (external_id,)).fetchone()
        if row is None:
            raise UnknownIdentity(external_id)
        return int(row[0])

    def delete_identity(self, external_id: str) -> int:
        """Erase an identity: its references (embeddings, crops, thumbnails), index entries, and the crops
        and embeddings of detections attributed to it (the documents and boxes stay, unattributed).

        Returns the number of references erased. Audit rows are kept (they hold ids, no biometric data).
        """
        with self.transaction():
            identity_id = self._identity_id(external_id)
            ref_ids = [
                row[0]
                for row in self._execute(
                    "SELECT id FROM signature_references WHERE identity_id = ?", (identity_id,)
                )
            ]
            self._execute(
                "UPDATE detections SET crop_png = NULL, embedding = NULL, fingerprint = NULL, "
                "reference_id = NULL, identity_id = NULL WHERE identity_id = ? OR reference_id IN "
                "(SELECT id FROM signature_references WHERE identity_id = ?)",
                (identity_id, identity_id),
            )
            self._execute("DELETE FROM identities WHERE id = ?", (identity_id,))  # cascades
            if ref_ids:
                self._bump_generation()
                self._tx["ops"].append(("remove", np.asarray(ref_ids, np.int64), None))
            self._forget_index_file()
        return len(ref_ids)

    # ------------------------------------------------------------------ references

    def add_reference(
        self,
        external_id: str,
        embedding: np.ndarray,
        crop_png: bytes,
        thumbnail_png: bytes,
        provenance: Mapping[str, Any],
        pixel_sha256: str,
        fingerprint: str | None = None,
    ) -> Reference:
        """Add one reference signature to an identity; ``fingerprint`` (when given) must be the store's."""
        crop_png = check_png(crop_png, "crop_png")
        thumbnail_png = check_png(thumbnail_png, "thumbnail_png")
        provenance_json = to_json(provenance, "provenance")
        if not isinstance(pixel_sha256, str) or not SHA256.fullmatch(pixel_sha256):
            raise ValueError(f"pixel_sha256 must be 64 lowercase hex digits, got {pixel_sha256!r}")
        with self.transaction():
            meta = self._checked_meta(fingerprint)
            vector = as_embedding_matrix(embedding, meta["dim"], f"embedding of {external_id!r}")
            if len(vector) != 1:
                raise ValueError(f"add_reference takes one embedding, got {len(vector)}")
            identity_id = self._identity_id(external_id)
            existing = self._execute(
                "SELECT id FROM signature_references WHERE identity_id = ? AND pixel_sha256 = ?",
                (identity_id, pixel_sha256),
            ).fetchone()
            if existing:
                raise DuplicateReference(external_id, pixel_sha256, int(existing[0]))
            ref_id = self._execute(
                "INSERT INTO signature_references (identity_id, embedding, fingerprint, crop_png, "
                "thumbnail_png, provenance, pixel_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (
                    identity_id,
                    vector[0].tobytes(),
                    meta["fingerprint"],
                    crop_png,
                    thumbnail_png,
                    provenance_json,
                    pixel_sha256,
                    utc_now(),
                ),
            ).fetchall()[0][0]
            self._execute("UPDATE identities SET updated_at = ? WHERE id = ?", (utc_now(), identity_id))
            self._bump_generation()
            self._tx["ops"].append(("add", np.asarray([ref_id], np.int64), vector))
            return self.get_reference(ref_id)

    def get_reference(self, reference_id: int) -> Reference:
        with self._lock:
            row = self._execute(
                f"SELECT {REFERENCE_COLUMNS} FROM signature_references r JOIN identities i "
                "ON i.id = r.identity_id WHERE r.id = ?",
                (int(reference_id),),
            ).fetchone()
        if row is None:
            raise UnknownRecord("reference", reference_id)
        return reference_from_row(row)

    def list_references(self, external_id: str) -> list[Reference]:
        with self._lock:
            identity_id = self._identity_id(external_id)
            rows = self._execute(
                f"SELECT {REFERENCE_COLUMNS} FROM signature_references r JOIN identities i "
                "ON i.id = r.identity_id WHERE r.identity_id = ? ORDER BY r.id",
                (identity_id,),
            ).fetchall()
        return [reference_from_row(row) for row in rows]

    def count_references(self) -> int:
        with self._lock:
            return int(self._execute("SELECT COUNT(*) FROM signature_references").fetchone()[0])

    def reference_crop(self, reference_id: int) -> bytes:
        return self._blob("signature_references", "crop_png", reference_id, "reference")

    def references_embeddings(self, external_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(reference ids [m], embeddings [m, dim]) of one identity, in id order."""
        with self._lock:
            identity_id = self._identity_id(external_id)
            rows = self._execute(
                "SELECT id, embedding FROM signature_references WHERE identity_id = ? ORDER BY id",
                (identity_id,),
            ).fetchall()
        return self._decode(rows, "signature_references")

    def delete_reference(self, reference_id: int) -> None:
        """Erase one reference (its detection, if any, stays on its document, unlinked)."""
        with self.transaction():
            deleted = self._execute(
                "DELETE FROM signature_references WHERE id = ? RETURNING identity_id", (int(reference_id),)
            ).fetchall()
            if not deleted:
                raise UnknownRecord("reference", reference_id)
            self._execute("UPDATE identities SET updated_at = ? WHERE id = ?", (utc_now(), deleted[0][0]))
            self._bump_generation()
            self._tx["ops"].append(("remove", np.asarray([reference_id], np.int64), None))
            self._forget_index_file()

    def _blob(self, table: str, column: str, row_id: int, kind: str) -> bytes:
        with self._lock:
            row = self._execute(f"SELECT {column} FROM {table} WHERE id = ?", (int(row_id),)).fetchone()
        if row is None:
            raise UnknownRecord(kind, row_id)
        if row[0] is None:
            raise StoreError(f"{kind} {row_id} has no {column} (erased with its identity)")
        return bytes(row[0])

    def _decode(self, rows: list[tuple[int, bytes]], table: str, dim: int | None = None) -> tuple:
        dim = self.dim if dim is None else dim
        ids = np.asarray([row[0] for row in rows], dtype=np.int64)
        blobs = [row[1] for row in rows]
        bad = [row[0] for row in rows if len(row[1]) != 4 * dim]
        if bad:
            raise StoreError(
                f"{self.location}: {table} row {bad[0]} holds an embedding that is not {dim} float32s"
            )
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(rows), dim).astype(np.float32)
        return ids, matrix

    # ------------------------------------------------------------------ documents and detections

    def add_document(
        self, sha256: str, name: str, n_pages: int, metadata: Mapping[str, Any] | None = None
    ) -> Document:
        """Record a document once per content hash; adding it again returns the existing record."""
        if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
            raise ValueError(f"document sha256 must be 64 lowercase hex digits, got {sha256!r}")
        if not isinstance(n_pages, int) or n_pages < 0:
            raise ValueError(f"n_pages must be an integer >= 0, got {n_pages!r}")
        metadata_json = to_json(metadata, "document metadata")
        with self.transaction():
            self._execute(
                "INSERT INTO documents (sha256, name, n_pages, metadata, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (sha256) DO NOTHING",
                (sha256, str(name), n_pages, metadata_json, utc_now()),
            )
            return self.get_document(sha256)

    def get_document(self, sha256: str) -> Document:
        with self._lock:
            row = self._execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE sha256 = ?", (sha256,)
            ).fetchone()
        if row is None:
            raise UnknownRecord("document", sha256)
        return document_from_row(row)

    def get_document_by_id(self, document_id: int) -> Document:
        with self._lock:
            row = self._execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = ?", (int(document_id),)
            ).fetchone()
        if row is None:
            raise UnknownRecord("document", document_id)
        return document_from_row(row)

    def list_documents(self, offset: int = 0, limit: int = 100) -> list[Document]:
        check_paging(offset, limit)
        with self._lock:
            rows = self._execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM documents ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [document_from_row(row) for row in rows]

    def delete_document(self, sha256: str) -> None:
        """Erase a document with its detections (crops and embeddings)."""
        with self.transaction():
            if self._execute("DELETE FROM documents WHERE sha256 = ?", (sha256,)).rowcount == 0:
                raise UnknownRecord("document", sha256)
            self._tx["reclaim"] = True

    def add_detection(
        self,
        document_id: int,
        page: int,
        box: tuple[float, float, float, float],
        score: float,
        crop_png: bytes,
        embedding: np.ndarray,
        fingerprint: str | None = None,
        external_id: str | None = None,
        reference_id: int | None = None,
    ) -> Detection:
        """Record a signature found on a page (``page`` counts from 1), optionally attributed already."""
        box = check_box(box)
        crop_png = check_png(crop_png, "detection crop_png")
        if not isinstance(page, int | np.integer) or page < 1:
            raise ValueError(f"page must be an integer >= 1 (pages count from 1), got {page!r}")
        page = int(page)
        if not isinstance(score, int | float | np.number) or not np.isfinite(score):
            raise ValueError(f"detection score must be a finite number, got {score!r}")
        with self.transaction():
            meta = self._checked_meta(fingerprint)
            vector = as_embedding_matrix(embedding, meta["dim"], "detection embedding")
            document = self.get_document_by_id(document_id)
            if page > document.n_pages:
                raise ValueError(
                    f"page {page} is out of range for {document.name!r} ({document.n_pages} pages)"
                )
            detection_id = self._execute(
                "INSERT INTO detections (document_id, page, x0, y0, x1, y1, score, crop_png, embedding, "
                "fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    document.id,
                    page,
                    *box,
                    float(score),
                    crop_png,
                    vector[0].tobytes(),
                    meta["fingerprint"],
                    utc_now(),
                ),
            ).fetchall()[0][0]
            if external_id is not None or reference_id is not None:
                return self.link_detection(detection_id, external_id, reference_id)
            return self.get_detection(detection_id)

    def link_detection(
        self, detection_id: int, external_id: str | None, reference_id: int | None = None
    ) -> Detection:
        """Attribute a detection to an identity (and the reference made from it), or unlink with None."""
        with self.transaction():
            identity_id = None if external_id is None else self._identity_id(external_id)
            if reference_id is not None:
                owner = self.get_reference(reference_id).external_id
                if external_id is not None and owner != external_id:
                    raise ValueError(f"reference {reference_id} belongs to {owner!r}, not {external_id!r}")
                identity_id = self._identity_id(owner)
            updated = self._execute(
                "UPDATE detections SET identity_id = ?, reference_id = ? WHERE id = ?",
                (identity_id, reference_id, int(detection_id)),
            ).rowcount
            if not updated:
                raise UnknownRecord("detection", detection_id)
            return self.get_detection(detection_id)

    def get_detection(self, detection_id: int) -> Detection:
        with self._lock:
            row = self._execute(
                f"SELECT {DETECTION_COLUMNS} FROM {DETECTION_FROM} WHERE d.id = ?", (int(detection_id),)
            ).fetchone()
        if row is None:
            raise UnknownRecord("detection", detection_id)
        return detection_from_row(row)

    def list_detections(self, document_id: int) -> list[Detection]:
        with self._lock:
            rows = self._execute(
                f"SELECT {DETECTION_COLUMNS} FROM {DETECTION_FROM} WHERE d.document_id = ? "
                "ORDER BY d.page, d.id",
                (int(document_id),),
            ).fetchall()
        return [detection_from_row(row) for row in rows]

    def detection_crop(self, detection_id: int) -> bytes:
        return self._blob("detections", "crop_png", detection_id, "detection")

    def detections_embeddings(self, document_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(detection ids, embeddings) of one document or of all, skipping erased ones, in id order."""
        where, params = ("AND document_id = ?", (int(document_id),)) if document_id is not None else ("", ())
        with self._lock:
            rows = self._execute(
                f"SELECT id, embedding FROM detections WHERE embedding IS NOT NULL {where} ORDER BY id",
                params,
            ).fetchall()
        return self._decode(rows, "detections")

    # ------------------------------------------------------------------ search

    def search(self, embeddings: np.ndarray, k: int) -> list[list[SearchHit]]:
        """The ``k`` most similar references of each query ([d] or [n, d]), best first.

        Exact (a flat inner-product scan). The index first catches up with the database if another
        process (or a transaction of this one) changed the references since it was last brought up to date.
        """
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        with self._lock:
            self._check_open()
            queries = as_embedding_matrix(embeddings, self.dim, "query embeddings")
            with self._snapshot():
                meta = self._checked_meta()
                index = self._caught_up(meta)
                sims, ids = index.search(queries, k)
                owners = self._owners(np.unique(ids))
        return [
            [SearchHit(int(i), owners[int(i)], float(s)) for s, i in zip(row_s, row_i, strict=True)]
            for row_s, row_i in zip(sims, ids, strict=True)
        ]

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """A read transaction (one consistent view for several SELECTs), or the open write transaction."""
        if self._depth:
            self._tx["touched"] = True
            yield
            return
        self._begin_read()
        try:
            yield
        finally:
            self._execute("COMMIT")

    def _caught_up(self, meta: dict[str, Any]) -> VectorIndex:
        index = self._index
        if index is None or not index.matches(self.store_id, meta["fingerprint"], meta["dim"]):
            index = self._index = VectorIndex(self.store_id, meta["dim"], meta["fingerprint"])
        if index.generation != meta["generation"]:
            all_ids = np.fromiter(
                (row[0] for row in self._execute("SELECT id FROM signature_references ORDER BY id")),
                dtype=np.int64,
            )
            added, removed = index.catch_up(
                meta["generation"], all_ids, lambda ids: self._fetch_embeddings(ids, index.dim)
            )
            log.debug("%s: index caught up (+%d, -%d)", self.location, added, removed)
        return index

    def _fetch_embeddings(self, ids: np.ndarray, dim: int) -> np.ndarray:
        """Embeddings of sorted reference ids: a range scan when they are dense (a rebuild), else IN lists."""
        lo, hi = int(ids[0]), int(ids[-1])
        if hi - lo + 1 <= 2 * len(ids):
            rows = self._execute(
                "SELECT id, embedding FROM signature_references WHERE id BETWEEN ? AND ? ORDER BY id",
                (lo, hi),
            ).fetchall()
            wanted = set(ids.tolist())
            rows = [row for row in rows if row[0] in wanted]
        else:
            rows = []
            for part in chunks(ids):
                rows += self._execute(
                    f"SELECT id, embedding FROM signature_references WHERE id IN ({placeholders(len(part))}) "
                    "ORDER BY id",
                    part,
                ).fetchall()
        found, matrix = self._decode(rows, "signature_references", dim)
        if not np.array_equal(found, ids):
            raise StoreError(f"{self.location}: references vanished while the index was read")
        return matrix

    def _owners(self, ids: Iterable[int]) -> dict[int, str]:
        owners: dict[int, str] = {}
        for part in chunks([i for i in ids if i >= 0]):
            owners.update(
                self._execute(
                    "SELECT r.id, i.external_id FROM signature_references r JOIN identities i "
                    f"ON i.id = r.identity_id WHERE r.id IN ({placeholders(len(part))})",
                    part,
                ).fetchall()
            )
        return owners

    def _save_index_if_behind(self) -> None:
        """Persist the index when the saved copy is missing or lags: under the write lock, so a deletion
        (which removes the file) can never be followed by a save of the pre-deletion index."""
        index = self._index
        if self.index_path is None:
            return
        header = saved_header(self.index_path)
        fresh = (
            header is not None
            and index is not None
            and (header["store_id"], header["fingerprint"], header["dim"])
            == (index.store_id, index.fingerprint, index.dim)
            and index.changes < max(SAVE_EVERY, index.ntotal // 100)
        )
        if index is None or fresh:
            return
        with self.transaction():
            self._caught_up(self._checked_meta()).save(self.index_path)

    # ------------------------------------------------------------------ re-embedding

    def iter_reference_crops(self) -> Iterator[tuple[int, bytes]]:
        """(reference id, crop PNG) in id order, fetched in pages (no cursor held open between items)."""
        yield from self._iter_crops("signature_references", "")

    def iter_detection_crops(self) -> Iterator[tuple[int, bytes]]:
        """(detection id, crop PNG) of detections not erased, in id order."""
        yield from self._iter_crops("detections", "AND crop_png IS NOT NULL")

    def _iter_crops(self, table: str, condition: str, page: int = 256) -> Iterator[tuple[int, bytes]]:
        last = 0
        while True:
            with self._lock:
                rows = self._execute(
                    f"SELECT id, crop_png FROM {table} WHERE id > ? {condition} ORDER BY id LIMIT ?",
                    (last, page),
                ).fetchall()
            if not rows:
                return
            for row_id, crop in rows:
                yield int(row_id), bytes(crop)
            last = rows[-1][0]

    def replace_fingerprint(
        self,
        new_fingerprint: str,
        embeddings: Mapping[int, np.ndarray],
        detection_embeddings: Mapping[int, np.ndarray] | None = None,
        dim: int | None = None,
    ) -> None:
        """Switch the store to another model in one transaction: every reference gets its new embedding.

        ``embeddings`` must cover every reference (a store never mixes models). Detections missing from
        ``detection_embeddings`` lose their embedding (it belongs to the old model). ``dim`` is only needed
        when the store has no references; else it is the embeddings' width. The index is rebuilt.
        """
        check_text(new_fingerprint, "new fingerprint")
        if self._depth:
            raise StoreError("replace_fingerprint() commits on its own: call it outside a transaction")
        detection_embeddings = detection_embeddings or {}
        widths = {
            np.asarray(v).reshape(-1).shape[0] for v in [*embeddings.values(), *detection_embeddings.values()]
        }
        if len(widths) > 1:
            raise DimensionMismatch(f"re-embedding: embeddings of several lengths {sorted(widths)}")
        new_dim = widths.pop() if widths else (self.dim if dim is None else int(dim))
        if dim is not None and new_dim != dim:
            raise DimensionMismatch(f"re-embedding: embeddings are {new_dim}-d, dim says {dim}")
        with self.transaction():
            self._checked_meta()
            ref_ids = {row[0] for row in self._execute("SELECT id FROM signature_references")}
            missing, unknown = ref_ids - set(embeddings), set(embeddings) - ref_ids
            if missing:
                raise StoreError(
                    f"re-embedding {self.location}: {len(missing)} references lack a new embedding "
                    f"(e.g. {sorted(missing)[:5]})"
                )
            if unknown:
                raise UnknownRecord("reference", sorted(unknown)[0])
            self._executemany(
                "UPDATE signature_references SET embedding = ?, fingerprint = ? WHERE id = ?",
                (
                    (
                        as_embedding_matrix(v, new_dim, f"new embedding of reference {k}")[0].tobytes(),
                        new_fingerprint,
                        int(k),
                    )
                    for k, v in embeddings.items()
                ),
            )
            self._execute(
                "UPDATE detections SET embedding = NULL, fingerprint = NULL WHERE embedding IS NOT NULL"
            )
            for detection_id, vector in detection_embeddings.items():
                row = as_embedding_matrix(vector, new_dim, f"new embedding of detection {detection_id}")[0]
                if not self._execute(
                    "UPDATE detections SET embedding = ?, fingerprint = ? "
                    "WHERE id = ? AND crop_png IS NOT NULL",
                    (row.tobytes(), new_fingerprint, int(detection_id)),
                ).rowcount:
                    raise UnknownRecord("detection", detection_id)
            self._execute("UPDATE meta SET fingerprint = ?, dim = ? WHERE id = 1", (new_fingerprint, new_dim))
            self._bump_generation()
            self._tx["reset"] = True
            self._forget_index_file()
        old = self.fingerprint
        self.fingerprint, self.dim = new_fingerprint, new_dim
        log.info("%s re-embedded: %s -> %s", self.location, old, new_fingerprint)

    # ------------------------------------------------------------------ moving a store

    def copy_into(self, target: SQLStore, page: int = 256) -> dict[str, int]:
        """Copy every row of this store into ``target``, an empty store of the same model (for instance
        from SQLite to PostgreSQL); ids and times are kept, so audit entries still name the right records.

        Reads one snapshot of this store (writes made meanwhile are not copied: stop the service first)
        and writes in one transaction on the target: it gets everything or nothing. Returns rows per table.
        """
        if (target.fingerprint, target.dim) != (self.fingerprint, self.dim):
            raise FingerprintMismatch(target.location, target.fingerprint, self.fingerprint)
        copied = dict.fromkeys(COPIED_TABLES, 0)
        with target.transaction(), self._lock, self._snapshot():
            busy = [t for t in COPIED_TABLES if target._execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]]
            if busy:
                raise StoreError(f"copying into {target.location}: not empty ({', '.join(busy)} hold rows)")
            for table in COPIED_TABLES:
                last = 0
                while True:
                    cursor = self._execute(
                        f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (last, page)
                    )
                    columns = [column[0] for column in cursor.description]
                    rows = cursor.fetchall()
                    if not rows:
                        break
                    target._executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) {target.EXPLICIT_IDS} "
                        f"VALUES ({placeholders(len(columns))})",
                        rows,
                    )
                    copied[table] += len(rows)
                    last = rows[-1][columns.index("id")]
                target._ids_copied(table)
            if copied["signature_references"]:
                target._bump_generation()
                target._tx["reset"] = True
        log.info("%s copied into %s: %s", self.location, target.location, copied)
        return copied

    # ------------------------------------------------------------------ audit

    def log_event(self, kind: str, actor: str, payload: Mapping[str, Any]) -> AuditEvent:
        """Append an event to the audit log (which refuses updates and deletions)."""
        check_text(kind, "audit kind")
        check_text(actor, "audit actor")
        payload_json = to_json(payload, "audit payload")
        with self.transaction():
            row = self._execute(
                "INSERT INTO audit (time, kind, actor, payload) VALUES (?, ?, ?, ?) "
                "RETURNING id, time, kind, actor, payload",
                (utc_now(), kind, actor, payload_json),
            ).fetchall()[0]
        return audit_from_row(row)

    def list_audit(self, offset: int = 0, limit: int = 100, kind: str | None = None) -> list[AuditEvent]:
        check_paging(offset, limit)
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        with self._lock:
            rows = self._execute(
                f"SELECT id, time, kind, actor, payload FROM audit {where} ORDER BY id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return [audit_from_row(row) for row in rows]

    def count_audit(self, kind: str | None = None) -> int:
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        with self._lock:
            return int(self._execute(f"SELECT COUNT(*) FROM audit {where}", params).fetchone()[0])


def identity_from_row(row: tuple) -> Identity:
    id_, external_id, name, metadata, status, created, updated, n_refs = row
    return Identity(id_, external_id, name, json.loads(metadata), status, created, updated, int(n_refs))


def reference_from_row(row: tuple) -> Reference:
    id_, external_id, fingerprint, pixel_sha256, provenance, created, thumbnail = row
    return Reference(
        id_, external_id, fingerprint, pixel_sha256, json.loads(provenance), created, bytes(thumbnail)
    )


def document_from_row(row: tuple) -> Document:
    id_, sha256, name, n_pages, metadata, created = row
    return Document(id_, sha256, name, int(n_pages), json.loads(metadata), created)


def detection_from_row(row: tuple) -> Detection:
    id_, document_id, page, x0, y0, x1, y1, score, created, reference_id, external_id, has_embedding = row
    return Detection(
        id_,
        document_id,
        int(page),
        (x0, y0, x1, y1),
        float(score),
        created,
        reference_id,
        external_id,
        bool(has_embedding),
    )


def audit_from_row(row: tuple) -> AuditEvent:
    id_, time, kind, actor, payload = row
    return AuditEvent(id_, time, kind, actor, json.loads(payload))
