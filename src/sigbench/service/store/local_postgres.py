"""A throw-away PostgreSQL server in a temporary folder, on a free loopback port.

The PostgreSQL store is tested against a real server, and the load benchmark shares one between several API
processes; neither may touch a cluster the machine already runs. This starts a private one from the
distribution's server binaries (Debian: ``/usr/lib/postgresql/<version>/bin``, package ``postgresql``),
listening on 127.0.0.1 only with its socket in its own folder, and removes it afterwards.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system user (which
Debian's package creates) and its folder belongs to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` / ``pg_ctl`` (newest Debian version first, then the PATH), or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def unavailable_reason() -> str | None:
    """Why a local server cannot be started here (None when it can)."""
    if find_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's 'postgresql' package"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and 'runuser' is missing (needed to start the server as 'postgres')"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg package is not installed (pip install 'psycopg[binary]')"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalPostgres:
    """Start with :meth:`start` (or ``with``); :meth:`create_database` gives a store URL; :meth:`stop`.

    ``durable=False`` turns off ``fsync`` / ``full_page_writes``: committed transactions still survive a
    killed process (they are in the operating system's cache), only not a power cut; it makes creating
    databases in tests several times faster.
    """

    def __init__(self, *, durable: bool = True, max_connections: int = 100) -> None:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self.bindir = find_bindir()
        self.durable = durable
        self.max_connections = max_connections
        self.folder: Path | None = None
        self.port: int | None = None
        self.user = SERVER_USER

    # ------------------------------------------------------------------ running binaries

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/")
        if result.returncode:
            log = self.folder / "server.log" if self.folder else None
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}\n{tail}"
            )
        return result

    def start(self) -> LocalPostgres:
        self.folder = Path(tempfile.mkdtemp(prefix="sigbench-postgres-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        data = self.folder / "data"
        self._run(
            "initdb", "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.folder),
            "max_connections": str(self.max_connections),
        }
        if not self.durable:
            settings.update(fsync="off", full_page_writes="off")
        for attempt in range(5):  # the free port may be taken between probing and binding
            self.port = free_port()
            options = " ".join(f"-c {key}={value}" for key, value in settings.items())
            try:
                self._run(
                    "pg_ctl",
                    "start",
                    "-w",
                    "-D",
                    str(data),
                    "-l",
                    str(self.folder / "server.log"),
                    "-o",
                    f"-p {self.port} {options}",
                )
                return self
            except RuntimeError:
                if attempt == 4:
                    self.stop()
                    raise
        return self

    @property
    def data_dir(self) -> Path:
        assert self.folder is not None, "not started"
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL (what ``open_store`` takes)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended) and delete its folder."""
        if self.folder is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir), timeout=60)
        for _ in range(50):
            if not (self.data_dir / "postmaster.pid").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
