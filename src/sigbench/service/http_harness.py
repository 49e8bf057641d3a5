"""The HTTP service in a child process on a free loopback port, and a small client for its decisions.

The load benchmark (``benchmarks/service_load.py``) and the durability tests drive the real server, started
exactly as an operator starts it (``python -m sigbench.service.api serve``), so what they measure and kill
is the deployed code path: uvicorn, the API, the store. Only 127.0.0.1 is ever used. Nothing in the
service core imports this module (it needs the ``service`` extra and httpx).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from sigbench.service.api.deps import KEY_HEADER
from sigbench.service.store.local_postgres import free_port

API = "/api/v1"


class ServerProcess:
    """``sigbench-service serve`` on ``bundle`` / ``store`` / ``keys_file``; ``start()`` waits until healthy.

    The child's output goes to ``log_path``; it runs with one BLAS/OpenMP thread (``OMP_NUM_THREADS=1``)
    unless ``env`` says otherwise.
    """

    def __init__(
        self,
        bundle: str | os.PathLike,
        store: str,
        keys_file: str | os.PathLike,
        log_path: str | os.PathLike,
        *,
        min_references: int = 3,
        env: dict[str, str] | None = None,
    ) -> None:
        self.bundle, self.store, self.keys_file = Path(bundle), str(store), Path(keys_file)
        self.log_path = Path(log_path)
        self.min_references = min_references
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300) -> ServerProcess:
        """Start and wait for ``/health`` to answer 200 (model loading takes a while on a busy CPU)."""
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "sigbench.service.api",
            "serve",
            "--bundle",
            str(self.bundle),
            "--store",
            self.store,
            "--keys-file",
            str(self.keys_file),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--min-references",
            str(self.min_references),
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}{API}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.kill()
        raise RuntimeError(f"the server did not become healthy within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (what a crash, the OOM killer or a pulled plug does)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (uvicorn finishes open requests and runs the shutdown, which closes the store)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class ServiceClient:
    """The three decisions over HTTP with one API key (one client per thread)."""

    def __init__(self, base_url: str, key: str, timeout: float = 300) -> None:
        self.http = httpx.Client(base_url=base_url, headers={KEY_HEADER: key}, timeout=timeout)

    def enrol(self, external_id: str, signature_png: bytes, name: str = "") -> httpx.Response:
        """Add one signature image as a reference (the identity is created when new); 201 when stored."""
        return self.http.post(
            f"{API}/identities/{external_id}/references",
            files={"file": (f"{external_id}.png", signature_png, "image/png")},
            data={"kind": "signature", "name": name},
        )

    def verify(self, external_id: str, signature_png: bytes) -> httpx.Response:
        return self.http.post(
            f"{API}/verify",
            files={"file": ("questioned.png", signature_png, "image/png")},
            data={"external_id": external_id, "kind": "signature"},
        )

    def identify(self, signature_png: bytes, k: int = 5) -> httpx.Response:
        return self.http.post(
            f"{API}/identify",
            files={"file": ("questioned.png", signature_png, "image/png")},
            data={"kind": "signature", "k": str(k)},
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
