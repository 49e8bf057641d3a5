"""The application: JSON API (``/api/v1``, documented at ``/docs``) and the web page (``/``), one process.

    app = create_app("outputs/demo/bundle", "service.db", "keys.json")
    uvicorn.run(app, host="127.0.0.1", port=8000)

Requests are refused as early as possible: an upload (any ``POST``/``PUT``/``PATCH`` under ``/api/``)
without a valid key gets 401 before its body is read; a body over the limit stops at the limit while it
streams (413); then type, pixels and pages are checked before anything is decoded (see :mod:`.uploads`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from sigbench.service.enrol import DEFAULT_MIN_REFERENCES
from sigbench.service.pipeline import Pipeline
from sigbench.service.store.base import StoreError

from . import errors
from .auth import KeyRing
from .deps import KEY_HEADER
from .routes import PREFIX, build_router, version
from .service import Service
from .uploads import BodyLimit, Limits
from .web import STATIC, LoginRequired, build_web_router, web_aware

SESSION_SECRET_ENV = "SIGBENCH_SESSION_SECRET"
SESSION_MAX_AGE = 8 * 3600


class RefuseAnonymousWrites:
    """Writes from nobody are refused before their body is read: 401 under ``/api/`` without a valid key,
    a redirect to the login form for the page's forms without a session of a key that still exists."""

    def __init__(self, app: ASGIApp, keyring: KeyRing) -> None:
        self.app = app
        self.keyring = keyring

    def _session_valid(self, scope: Scope) -> bool:
        key_id = scope.get("session", {}).get("key_id")
        return bool(key_id) and any(k.id == key_id for k in self.keyring.list())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(PREFIX + "/"):
            key = Headers(scope=scope).get(KEY_HEADER)
            if not key or self.keyring.authenticate(key) is None:
                message = (
                    f"no API key: send one in the {KEY_HEADER} header"
                    if not key
                    else "API key not recognised (malformed, unknown or revoked)"
                )
                await errors.error_response(401, message)(scope, receive, send)
                return
        elif path not in ("/login", "/logout") and not self._session_valid(scope):
            await RedirectResponse("/login", status_code=303)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(
    bundle_path: str | os.PathLike,
    store_location: str | os.PathLike,
    keys_file: str | os.PathLike,
    *,
    limits: Limits | None = None,
    min_references: int = DEFAULT_MIN_REFERENCES,
    session_secret: str | None = None,
    https_only: bool = False,
    pipeline: Pipeline | None = None,
) -> FastAPI:
    """The service over ``bundle_path`` and the store at ``store_location``; keys from ``keys_file``.

    ``session_secret`` signs the web page's session cookie (default: ``$SIGBENCH_SESSION_SECRET``, else a
    random one: sessions then end when the process stops). ``pipeline`` replaces the bundle's (tests give
    one with another detector). A missing bundle or an unusable store fails here, naming the file.
    """
    keys_path = Path(keys_file)
    if not keys_path.parent.is_dir():
        raise StoreError(f"keys file {keys_path}: folder {keys_path.parent} does not exist")
    keyring = KeyRing(keys_path)
    keyring.list()  # a bad keys file is reported now, not at the first request
    service = Service(bundle_path, str(store_location), limits, min_references, pipeline)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        lifespan=lifespan,
        title="sigbench signature service",
        version=version(),
        description=(
            "Enrol people's reference signatures, verify a questioned signature (accept / refer / reject), "
            f"identify who signed, and search documents. Send an API key in the `{KEY_HEADER}` header; "
            "roles: read < enrol < admin."
        ),
    )
    app.state.service = service
    app.state.keyring = keyring
    app.add_exception_handler(RequestValidationError, errors.handle_validation)
    for kind in (errors.ApiError, LoginRequired, ValueError, StoreError, KeyError):
        app.add_exception_handler(kind, web_aware(errors.handle_known))
    app.add_exception_handler(HTTPException, web_aware(errors.handle_http))
    app.include_router(build_router())
    app.include_router(build_web_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_body=service.limits.max_body)
    app.add_middleware(RefuseAnonymousWrites, keyring=keyring)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret or os.environ.get(SESSION_SECRET_ENV) or secrets.token_hex(32),
        session_cookie="sigbench_session",
        max_age=SESSION_MAX_AGE,
        same_site="strict",
        https_only=https_only,
    )

    return app


def describe(app: FastAPI) -> dict[str, Any]:
    """What an app serves (for the command line's start-up line)."""
    service: Service = app.state.service
    return {
        "bundle": str(service.bundle.path),
        "store": str(service.store.location),
        "keys": str(app.state.keyring.path),
    }
