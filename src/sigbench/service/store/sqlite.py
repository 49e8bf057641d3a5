"""The embedded store: one SQLite file in WAL mode, plus its FAISS index as a rebuildable cache beside it.

Why these settings:
- WAL journal: readers never block the writer and vice versa, so a search keeps working while another
  process enrols; ``busy_timeout`` makes concurrent writers queue instead of failing.
- ``BEGIN IMMEDIATE`` for every write: the write lock is taken at the start, so two processes never both
  read-then-write on a stale snapshot; a process killed mid-transaction leaves only uncommitted WAL frames,
  which SQLite ignores, i.e. nothing of the transaction.
- ``secure_delete`` + ``auto_vacuum=INCREMENTAL`` + a TRUNCATE checkpoint after deletions: deleted rows
  are overwritten with zeros in the database file and the WAL is emptied, so a deleted person's crops,
  thumbnails and embeddings cannot be read back from the files (beyond that, the file system and its
  backups are outside the store's reach).
- ``synchronous=FULL``: a committed enrolment survives a power cut, not only a process crash.
- Reference ids come from AUTOINCREMENT, so they are never reused: the index's catch-up by id sets relies
  on an id always naming the same embedding.

Everything but this dialect (statements, records, transactions, the index) is shared with the PostgreSQL
store in :mod:`sigbench.service.store.sql`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from sigbench.service.store.base import StoreError
from sigbench.service.store.sql import SQLStore

log = logging.getLogger(__name__)


class SQLiteStore(SQLStore):
    """A store in one SQLite file (``path``) with its vector index cached in ``path + '.faiss'``.

    ``fingerprint`` / ``dim`` are required to create a store; when opening an existing one they are checked
    (``None`` adopts the store's, for tools that list or delete without loading a model). One instance
    may be shared by threads (calls are serialised); processes each open their own.
    """

    SCHEMA_TYPES: ClassVar[dict[str, str]] = {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "key": "INTEGER",
        "blob": "BLOB",
        "real": "REAL",
    }
    APPEND_ONLY_AUDIT: ClassVar[Sequence[str]] = (
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    )
    INTEGRITY_ERRORS: ClassVar[tuple[type[Exception], ...]] = (sqlite3.IntegrityError,)
    DATABASE_ERRORS: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)
    KIND: ClassVar[str] = "SQLite"

    def __init__(
        self,
        path: str | os.PathLike,
        fingerprint: str | None = None,
        dim: int | None = None,
        *,
        timeout: float = 60.0,
    ) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.index_path = self.path.with_name(self.path.name + ".faiss")
        self._init_state()
        if not self.path.exists():
            if fingerprint is None or dim is None:  # checked before sqlite creates an empty file
                raise StoreError(
                    f"no store at {self.location} (creating one needs a model fingerprint and dim)"
                )
            if not self.path.parent.is_dir():
                raise StoreError(
                    f"cannot create store {self.location}: folder {self.path.parent} does not exist"
                )
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._configure(timeout)
            self._open(fingerprint, dim)
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise StoreError(f"{self.location} is not a usable SQLite store: {error}") from error
        except BaseException:
            self._conn.close()
            raise

    def _configure(self, timeout: float) -> None:
        execute = self._conn.execute
        execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        execute("PRAGMA foreign_keys = ON")
        execute("PRAGMA secure_delete = ON")
        execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect only on a new, empty database
        mode = execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.location}: cannot switch to WAL journal mode (got {mode!r})")
        execute("PRAGMA synchronous = FULL")

    # ------------------------------------------------------------------ dialect

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def _begin_write(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")  # SQLite's write lock, taken at once

    def _begin_read(self) -> None:
        self._conn.execute("BEGIN")  # deferred: a snapshot from the first read on

    def _in_transaction(self) -> bool:
        return self._conn.in_transaction

    def _table_names(self) -> set[str]:
        return {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _ids_copied(self, table: str) -> None:
        """Nothing to do: AUTOINCREMENT's counter follows the largest id inserted."""

    def _reclaim(self) -> bool:
        """Return freed pages to the file system and empty the WAL; False if a reader kept it from finishing.

        Together with ``secure_delete`` this is what leaves no copy of deleted rows in the database or WAL
        files.
        """
        self._conn.execute("PRAGMA incremental_vacuum").fetchall()
        busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning(
                "%s: WAL checkpoint incomplete (a reader is active); retried after the next delete",
                self.location,
            )
        return not busy
