"""What a signature store holds and promises, independent of the database behind it.

The records are plain frozen dataclasses so that callers (enrolment, verification, the command line, a
later HTTP API) never see a database row. ``Store`` is a ``typing.Protocol``: the SQLite store implements
it today and a PostgreSQL one can implement the same contract later, checked by the same test suite.

Embeddings are float32 vectors, L2-normalised by the caller, so cosine similarity is an inner product.
A store belongs to one model fingerprint (set when it is created); every embedding written to it must come
from that model, which ``FingerprintMismatch`` enforces.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

STATUSES = ("pending", "enrolled")
"""An identity is ``pending`` while its references are being collected, ``enrolled`` once usable."""

NORM_TOLERANCE = 1e-3
"""How far from 1 an embedding's L2 norm may be: catches unnormalised vectors, tolerates float32 rounding."""


class StoreError(Exception):
    """Base of every error a store raises on purpose."""


class UnknownIdentity(StoreError, KeyError):  # noqa: N818 (the service's agreed names)
    """No identity has this external id."""

    def __init__(self, external_id: str) -> None:
        super().__init__(f"no identity with external id {external_id!r}")
        self.external_id = external_id

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownRecord(StoreError, KeyError):  # noqa: N818 (the service's agreed names)
    """No reference / document / detection has this id."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"no {kind} with id {key!r}")
        self.kind, self.key = kind, key

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateIdentity(StoreError):  # noqa: N818 (the service's agreed names)
    """An identity with this external id exists already."""

    def __init__(self, external_id: str) -> None:
        super().__init__(f"an identity with external id {external_id!r} exists already")
        self.external_id = external_id


class DuplicateReference(StoreError):  # noqa: N818 (the service's agreed names)
    """The identity already has a reference with the same pixels (same ``pixel_sha256``)."""

    def __init__(self, external_id: str, pixel_sha256: str, existing_reference_id: int) -> None:
        super().__init__(
            f"identity {external_id!r} already has reference {existing_reference_id} with the same pixels "
            f"(pixel_sha256 {pixel_sha256})"
        )
        self.external_id = external_id
        self.pixel_sha256 = pixel_sha256
        self.existing_reference_id = existing_reference_id


class FingerprintMismatch(StoreError):  # noqa: N818 (the service's agreed names)
    """An embedding (or an opener) comes from another model than the one the store belongs to."""

    def __init__(self, location: str, store_fingerprint: str, other_fingerprint: str) -> None:
        super().__init__(
            f"{location} holds embeddings of model {store_fingerprint!r}, not {other_fingerprint!r} "
            "(re-embed the stored crops with the new model to switch)"
        )
        self.location = location
        self.store_fingerprint = store_fingerprint
        self.other_fingerprint = other_fingerprint


class DimensionMismatch(StoreError, ValueError):  # noqa: N818 (the service's agreed names)
    """An embedding's length is not the store's dimension."""


@dataclass(frozen=True)
class Identity:
    id: int
    external_id: str
    name: str
    metadata: dict[str, Any]
    status: str
    created_at: str
    updated_at: str
    n_references: int = 0


@dataclass(frozen=True)
class Reference:
    """One enrolled signature; its crop is fetched separately (``reference_crop``) as it can be large."""

    id: int
    external_id: str
    fingerprint: str
    pixel_sha256: str
    provenance: dict[str, Any]
    created_at: str
    thumbnail_png: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class Document:
    id: int
    sha256: str
    name: str
    n_pages: int
    metadata: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Detection:
    """A signature found on a document page; ``external_id`` / ``reference_id`` link it once attributed."""

    id: int
    document_id: int
    page: int
    box: tuple[float, float, float, float]
    score: float
    created_at: str
    reference_id: int | None = None
    external_id: str | None = None
    has_embedding: bool = True


@dataclass(frozen=True)
class AuditEvent:
    id: int
    time: str
    kind: str
    actor: str
    payload: dict[str, Any]


class SearchHit(NamedTuple):
    """One nearest reference of a query; unpacks as ``(reference_id, external_id, similarity)``."""

    reference_id: int
    external_id: str
    similarity: float


def as_embedding_matrix(embeddings: Any, dim: int, what: str = "embeddings") -> np.ndarray:
    """``embeddings`` ([d] or [n, d]) as a C-contiguous float32 [n, dim] matrix, refused if not normalised.

    Refusing here, before anything is written, is what keeps unnormalised or NaN vectors out of the index,
    where they would silently distort every similarity.
    """
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise DimensionMismatch(f"{what}: expected shape [n, {dim}] or [{dim}], got {list(matrix.shape)}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOLERANCE)
    if len(bad):
        raise ValueError(
            f"{what}: row {int(bad[0])} has L2 norm {norms[bad[0]]:.6f}; embeddings must be L2-normalised "
            f"(norm 1 within {NORM_TOLERANCE})"
        )
    return np.ascontiguousarray(matrix)


def check_paging(offset: int, limit: int) -> None:
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be an integer >= 0, got {offset!r}")
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an integer >= 1, got {limit!r}")


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")


def check_box(box: Any) -> tuple[float, float, float, float]:
    values = tuple(float(v) for v in box)
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"box must be four finite numbers (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = values
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box must have x1 > x0 and y1 > y0, got {box!r}")
    return values  # type: ignore[return-value]


@runtime_checkable
class Store(Protocol):
    """The contract every backend implements (see ``docs/service_store.md`` for the guarantees)."""

    fingerprint: str
    dim: int
    location: str

    # lifecycle
    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def generation(self) -> int: ...
    def checkpoint(self) -> bool: ...

    # identities
    def create_identity(
        self, external_id: str, name: str = "", metadata: Mapping[str, Any] | None = None
    ) -> Identity: ...
    def get_identity(self, external_id: str) -> Identity: ...
    def list_identities(
        self, offset: int = 0, limit: int = 100, status: str | None = None
    ) -> list[Identity]: ...
    def count_identities(self, status: str | None = None) -> int: ...
    def rename_identity(self, external_id: str, name: str) -> Identity: ...
    def set_status(self, external_id: str, status: str) -> Identity: ...
    def delete_identity(self, external_id: str) -> int: ...

    # references
    def add_reference(
        self,
        external_id: str,
        embedding: np.ndarray,
        crop_png: bytes,
        thumbnail_png: bytes,
        provenance: Mapping[str, Any],
        pixel_sha256: str,
        fingerprint: str | None = None,
    ) -> Reference: ...
    def get_reference(self, reference_id: int) -> Reference: ...
    def list_references(self, external_id: str) -> list[Reference]: ...
    def count_references(self) -> int: ...
    def reference_crop(self, reference_id: int) -> bytes: ...
    def references_embeddings(self, external_id: str) -> tuple[np.ndarray, np.ndarray]: ...
    def delete_reference(self, reference_id: int) -> None: ...

    # documents and detections
    def add_document(
        self, sha256: str, name: str, n_pages: int, metadata: Mapping[str, Any] | None = None
    ) -> Document: ...
    def get_document(self, sha256: str) -> Document: ...
    def get_document_by_id(self, document_id: int) -> Document: ...
    def list_documents(self, offset: int = 0, limit: int = 100) -> list[Document]: ...
    def delete_document(self, sha256: str) -> None: ...
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
    ) -> Detection: ...
    def link_detection(
        self, detection_id: int, external_id: str | None, reference_id: int | None = None
    ) -> Detection: ...
    def get_detection(self, detection_id: int) -> Detection: ...
    def list_detections(self, document_id: int) -> list[Detection]: ...
    def detection_crop(self, detection_id: int) -> bytes: ...
    def detections_embeddings(self, document_id: int | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    # search and re-embedding
    def search(self, embeddings: np.ndarray, k: int) -> list[list[SearchHit]]: ...
    def iter_reference_crops(self) -> Iterator[tuple[int, bytes]]: ...
    def iter_detection_crops(self) -> Iterator[tuple[int, bytes]]: ...
    def replace_fingerprint(
        self,
        new_fingerprint: str,
        embeddings: Mapping[int, np.ndarray],
        detection_embeddings: Mapping[int, np.ndarray] | None = None,
    ) -> None: ...

    # audit
    def log_event(self, kind: str, actor: str, payload: Mapping[str, Any]) -> AuditEvent: ...
    def list_audit(self, offset: int = 0, limit: int = 100, kind: str | None = None) -> list[AuditEvent]: ...
    def count_audit(self, kind: str | None = None) -> int: ...
