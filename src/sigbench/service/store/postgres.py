"""The shared store: one PostgreSQL database that several API processes, on several hosts, use at once.

Same contract, statements and index logic as the SQLite store (:mod:`sigbench.service.store.sql`); what
differs is the dialect:
- Connection: ``postgresql://user:password@host:port/database`` (libpq's URL, so ``?sslmode=require`` and
  the ``PG*`` environment variables work); the database must exist (``createdb``); the store creates its
  tables in it on first open. One connection per store object (threads of a process share it, serialised).
- Writes: every write transaction starts with ``pg_advisory_xact_lock`` on one store-wide key, so writers
  (in any process, on any host) run one at a time, exactly as SQLite's ``BEGIN IMMEDIATE``; the lock is
  released by COMMIT / ROLLBACK, and by the server when a client dies (its connection closes). Readers
  never wait for it. ``lock_timeout`` bounds the wait (60 s by default) like SQLite's busy timeout.
- Reads that need one consistent view (a search: generation, ids, embeddings) run in a REPEATABLE READ
  READ ONLY transaction.
- Ids come from identity columns (sequences): never reused, even after a rollback, which the index's
  catch-up by id sets relies on.
- Deletion is real: the rows are DELETEd in a committed transaction, so no query returns them again.
  A plain VACUUM would only mark their space reusable (measured: a deleted crop's bytes were still in the
  table's files afterwards), so by default (``erase="full"``) the store then runs ``VACUUM FULL`` on the
  tables that held them: they are rewritten into new files and the old ones truncated, and the tests find
  no byte of a deleted crop, thumbnail or embedding in the database's files. It locks those tables while
  it runs (4 s at 10,000 references on the 2-core test machine); ``erase="vacuum"`` trades the guarantee
  for a non-blocking VACUUM. Neither reaches the write-ahead log segments, replicas or backups, which keep
  the bytes until they are recycled or expire (see ``docs/service_scaling.md``).
- The vector index is not persisted: each process builds it from the database on its first search and
  then catches up by generation like any other opener.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg import pq

from sigbench.service.store.base import StoreError
from sigbench.service.store.sql import TABLES, SQLStore

log = logging.getLogger(__name__)

WRITE_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"sigbench.service.store write lock").digest()[:8], "big", signed=True
)
"""The advisory lock every write transaction holds (a 64-bit key; advisory locks are per database)."""

RECLAIMED_TABLES = ("signature_references", "detections", "identities", "documents")
ERASE_MODES = ("full", "vacuum")


@functools.lru_cache(maxsize=512)
def dialect(statement: str) -> str:
    """The shared statements use ``?`` markers; psycopg takes ``%s`` (none of them holds a literal ``?``)."""
    return statement.replace("?", "%s")


def redacted(url: str) -> str:
    """The URL without its password, for messages and ``store.location``."""
    url = re.sub(r"^([a-z]+://[^:/@?#]*):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


class PostgresStore(SQLStore):
    """A store in one PostgreSQL database at ``url``; its vector index lives in this process only."""

    SCHEMA_TYPES: ClassVar[dict[str, str]] = {
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "key": "BIGINT",
        "blob": "BYTEA",
        "real": "DOUBLE PRECISION",
    }
    APPEND_ONLY_AUDIT: ClassVar[Sequence[str]] = (
        """CREATE FUNCTION sigbench_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
        """CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION sigbench_audit_append_only()""",
        """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION sigbench_audit_append_only()""",
    )
    INTEGRITY_ERRORS: ClassVar[tuple[type[Exception], ...]] = (psycopg.errors.UniqueViolation,)
    DATABASE_ERRORS: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)
    KIND: ClassVar[str] = "PostgreSQL"
    EXPLICIT_IDS: ClassVar[str] = "OVERRIDING SYSTEM VALUE"

    def __init__(
        self,
        url: str,
        fingerprint: str | None = None,
        dim: int | None = None,
        *,
        timeout: float = 60.0,
        connect_timeout: int = 10,
        erase: str = "full",
    ) -> None:
        if erase not in ERASE_MODES:
            raise ValueError(f"erase must be one of {ERASE_MODES}, got {erase!r}")
        self.erase = erase
        self.url = url
        self.location = redacted(url)
        self.index_path = None
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._init_state()
        self._conn = self._connect()
        try:
            self._open(fingerprint, dim)
        except psycopg.Error as error:
            self._conn.close()
            raise StoreError(f"{self.location} is not a usable PostgreSQL store: {error}") from error
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout)
        except psycopg.Error as error:
            raise StoreError(f"cannot connect to {self.location}: {str(error).strip()}") from None
        conn.execute(f"SET lock_timeout = {int(self._timeout * 1000)}")
        return conn

    def _live(self) -> psycopg.Connection:
        """The connection, opened again if it broke (server restarted, connection dropped) while no
        transaction was open: the request that met the break fails, the next ones work."""
        if self._conn.closed and not self._depth and not self._closed:
            log.warning("%s: connection lost; reconnecting", self.location)
            self._conn = self._connect()
        return self._conn

    # ------------------------------------------------------------------ dialect

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        if not params:
            return self._live().execute(sql)
        return self._live().execute(dialect(sql), params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(dialect(sql), list(rows))

    def _begin_write(self) -> None:
        self._live().execute("BEGIN")
        try:
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        except BaseException:
            if self._in_transaction():
                self._conn.execute("ROLLBACK")
            raise

    def _begin_read(self) -> None:
        self._live().execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _in_transaction(self) -> bool:
        if self._conn.closed:  # a broken connection: the server has rolled the transaction back
            return False
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    def _commit(self) -> None:
        """COMMIT of a transaction that hit an error rolls back without raising: refuse to report success."""
        status = self._conn.execute("COMMIT").statusmessage
        if status != "COMMIT":
            raise StoreError(f"{self.location}: the transaction was aborted by an error; nothing was saved")

    def _table_names(self) -> set[str]:
        rows = self._execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
        return {row[0] for row in rows}

    def _ids_copied(self, table: str) -> None:
        self._execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
            f"FROM {table}"
        )

    def _reclaim(self) -> bool:
        """VACUUM (FULL, by default) the tables that held the deleted rows, with their TOAST tables.

        FULL rewrites each table into a new file holding only live rows and truncates the old one. A plain
        VACUUM removes the dead versions and marks their space for reuse without overwriting it. Either
        way, rows a concurrent older snapshot can still see are kept until the next VACUUM (the next
        deletion, or autovacuum); VACUUM FULL waits for such readers (up to the lock timeout).
        """
        full = "FULL " if self.erase == "full" else ""
        self._execute(f"VACUUM {full}{', '.join(RECLAIMED_TABLES)}")
        return True


assert set(RECLAIMED_TABLES) <= set(TABLES)
