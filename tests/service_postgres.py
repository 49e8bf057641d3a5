"""One throw-away PostgreSQL server per test session, shared by every test module that needs one.

Started on first use (a few seconds), stopped and deleted when the test process exits. Tests that need it
skip, naming the reason, only when it cannot be started here (no server binaries, no psycopg).
Each test gets its own empty databases (``databases``), dropped afterwards.
"""

from __future__ import annotations

import atexit
import itertools

import pytest

from sigbench.service.store.local_postgres import LocalPostgres, unavailable_reason

_server: LocalPostgres | None = None
_names = itertools.count()


def shared_server() -> LocalPostgres:
    """The session's server (started now if needed); skips the calling test when none can run here."""
    global _server
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    if _server is None:
        server = LocalPostgres(durable=False)  # fsync off: survives killed processes, which is what we test
        server.start()
        atexit.register(server.stop)
        _server = server
    return _server


class Databases:
    """``url(name)``: the URL of this test's database ``name``, created empty on first request."""

    def __init__(self, server: LocalPostgres) -> None:
        self.server = server
        self.created: dict[str, str] = {}

    def url(self, name: str = "store") -> str:
        if name not in self.created:
            self.created[name] = f"test{next(_names)}_{name}"
            self.server.create_database(self.created[name])
        return self.server.url(self.created[name])

    def drop_all(self) -> None:
        for database in self.created.values():
            self.server.drop_database(database)
        self.created.clear()


@pytest.fixture
def postgres_databases():
    databases = Databases(shared_server())
    yield databases
    databases.drop_all()
