"""Every refusal as JSON ``{"error": {"status": ..., "message": ...}}`` with the right 4xx status.

The core raises its own errors (an unknown identity is a ``KeyError`` subclass, a duplicate a
``StoreError``, bad input a ``ValueError``); :func:`status_of` maps them once, so each route simply lets
them propagate and the message the core wrote (naming the id or file) reaches the client unchanged.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sigbench.service.bundle import BundleError
from sigbench.service.store.base import (
    DuplicateIdentity,
    DuplicateReference,
    FingerprintMismatch,
    StoreError,
    UnknownIdentity,
    UnknownRecord,
)


class ApiError(Exception):
    """A refusal with its HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def status_of(exc: Exception) -> tuple[int, str] | None:
    """``(status, message)`` for the errors a request can cause, ``None`` for anything else (a 500)."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    if isinstance(exc, (UnknownIdentity, UnknownRecord)):
        return 404, str(exc)
    if isinstance(exc, (DuplicateIdentity, DuplicateReference)):
        return 409, str(exc)
    if isinstance(exc, FingerprintMismatch):
        return 409, str(exc)
    if isinstance(exc, BundleError):
        return 422, str(exc)
    if isinstance(exc, StoreError):
        return 409, str(exc)
    if isinstance(exc, ValueError):
        return 422, str(exc)
    return None


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


async def handle_http(request: Request, exc: HTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def handle_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return error_response(422, "; ".join(parts) or "invalid request")


async def handle_known(request: Request, exc: Exception) -> JSONResponse:
    mapped = status_of(exc)
    if mapped is None:
        raise exc
    return error_response(*mapped)
