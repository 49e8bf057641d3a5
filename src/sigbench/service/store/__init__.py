"""Where enrolled signatures live: identities, references, documents, detections and the audit log.

``open_store`` picks the backend from the location; every backend implements ``Store`` (see ``base``).
SQLite for one host (a file path, or ``sqlite:///relative.db`` / ``sqlite:////absolute.db``) and
PostgreSQL for several processes or hosts sharing one store (``postgresql://user:password@host:port/db``;
needs the ``psycopg`` package, imported only when such a URL is opened).
"""

from __future__ import annotations

import os
from pathlib import Path

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
    Store,
    StoreError,
    UnknownIdentity,
    UnknownRecord,
)
from sigbench.service.store.sqlite import SQLiteStore

__all__ = [
    "AuditEvent",
    "Detection",
    "DimensionMismatch",
    "Document",
    "DuplicateIdentity",
    "DuplicateReference",
    "FingerprintMismatch",
    "Identity",
    "Reference",
    "SQLiteStore",
    "SearchHit",
    "Store",
    "StoreError",
    "UnknownIdentity",
    "UnknownRecord",
    "open_store",
]


def open_store(location: str | os.PathLike, fingerprint: str | None = None, dim: int | None = None) -> Store:
    """Open (or create) the store at ``location`` for model ``fingerprint`` producing ``dim``-d embeddings.

    Creating needs both; opening an existing store refuses another fingerprint (``FingerprintMismatch``)
    or dimension, and ``None`` adopts the store's own (for listing, deleting or re-embedding).
    """
    text = os.fspath(location)
    if "://" not in text:
        return SQLiteStore(Path(text), fingerprint, dim)
    scheme, _, rest = text.partition("://")
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"{text!r}: expected sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return SQLiteStore(Path(rest[1:]), fingerprint, dim)
    if scheme in ("postgres", "postgresql"):
        try:
            from sigbench.service.store.postgres import PostgresStore
        except ImportError as error:
            raise StoreError(
                f"a PostgreSQL store needs the psycopg package ({error}); pip install 'psycopg[binary]'"
            ) from None
        return PostgresStore(text, fingerprint, dim)
    raise StoreError(
        f"{text!r}: unknown store scheme {scheme!r} (expected a file path, sqlite:///... or postgresql://...)"
    )
