"""Request dependencies shared by the JSON routes: the service, the caller and their role, an upload."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Security, UploadFile
from fastapi.security import APIKeyHeader

from .auth import Caller, KeyRing, role_allows
from .errors import ApiError
from .service import Service
from .uploads import Upload, accept

KEY_HEADER = "X-API-Key"
api_key = APIKeyHeader(
    name=KEY_HEADER, auto_error=False, description="an API key (sigbench-service keys add)"
)


def service(request: Request) -> Service:
    return request.app.state.service


def keyring(request: Request) -> KeyRing:
    return request.app.state.keyring


def authenticate(ring: KeyRing, key: str | None) -> Caller:
    """The caller of ``key``, or 401 naming what is wrong."""
    if not key:
        raise ApiError(401, f"no API key: send one in the {KEY_HEADER} header")
    caller = ring.authenticate(key)
    if caller is None:
        raise ApiError(401, "API key not recognised (malformed, unknown or revoked)")
    return caller


def allow(caller: Caller, role: str) -> Caller:
    if not role_allows(caller.role, role):
        raise ApiError(403, f"key {caller.name!r} has role {caller.role!r}; this needs {role!r} or above")
    return caller


def require(role: str) -> Callable[..., Caller]:
    """A dependency admitting keys of ``role`` or above (401 without a valid key, 403 below the role)."""

    def dependency(request: Request, key: str | None = Security(api_key)) -> Caller:
        return allow(authenticate(keyring(request), key), role)

    dependency.__name__ = f"require_{role}"
    return dependency


def read_upload(request: Request, file: UploadFile) -> Upload:
    """An upload's bytes (at most the limit plus one, so an oversized file is named) checked at the door."""
    limits = service(request).limits
    data = file.file.read(limits.max_bytes + 1)
    return accept(data, file.filename, limits)
