"""A server killed (SIGKILL) while requests are in flight loses no acknowledged write, on either backend.

The real server (``python -m sigbench.service.api serve``, on the cached calibrated test bundle) runs in a
child process on a free loopback port; four client threads keep enrolling signatures. Once some enrolments
have been acknowledged (201 with the new reference ids) and others are still in flight, the server is
killed without warning. Then the store is opened directly: every acknowledged reference must be there,
owned by the identity it was enrolled for, and the store must take new writes.
"""

from __future__ import annotations

import threading
import time

import cv2
import pytest

pytest.importorskip(
    "fastapi", reason="the HTTP API needs the service extra (pip install 'sigbench[service]')"
)
pytest.importorskip("httpx", reason="the clients use httpx")

from sigbench.data.synthetic import render_raw_scan
from sigbench.service.api.auth import KeyRing
from sigbench.service.http_harness import ServerProcess, ServiceClient
from sigbench.service.store import open_store
from tests.service_helpers import DIFFICULTY, calibrated_bundle
from tests.service_postgres import postgres_databases  # noqa: F401 (a fixture, requested by name)

CLIENTS = 4
ACKNOWLEDGED_BEFORE_KILL = 6


def signature_png(writer: int, sample: int) -> bytes:
    return cv2.imencode(".png", render_raw_scan(writer, sample, False, DIFFICULTY, 0))[1].tobytes()


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("postgres_databases").url()


def test_killed_server_loses_no_acknowledged_enrolment(store_location, tmp_path):
    bundle = calibrated_bundle()
    key = KeyRing(tmp_path / "keys.json").add("clerk", "enrol")
    server = ServerProcess(bundle, store_location, tmp_path / "keys.json", tmp_path / "server.log")
    images = {(w, s): signature_png(w, s) for w in range(40, 40 + CLIENTS) for s in range(12)}
    acknowledged: list[tuple[str, int]] = []
    state = {"in_flight": 0, "in_flight_at_kill": None, "failed_after_kill": 0}
    lock = threading.Lock()
    killed = threading.Event()

    def enrol_until_killed(index: int) -> None:
        with ServiceClient(server.url, key, timeout=60) as client:
            for sample in range(12):  # one identity per client, a new signature each time
                if killed.is_set():
                    return
                external_id = f"writer-{index}"
                with lock:
                    state["in_flight"] += 1
                try:
                    response = client.enrol(external_id, images[(40 + index, sample)])
                except Exception:  # the connection died with the server
                    with lock:
                        state["failed_after_kill"] += killed.is_set()
                    return
                finally:
                    with lock:
                        state["in_flight"] -= 1
                assert response.status_code == 201, response.text
                with lock:
                    acknowledged.extend((external_id, int(r)) for r in response.json()["added"])

    server.start()
    try:
        threads = [threading.Thread(target=enrol_until_killed, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with lock:
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL and state["in_flight"] > 0:
                    state["in_flight_at_kill"] = state["in_flight"]
                    killed.set()
                    break
            time.sleep(0.005)
        server.kill()
        for thread in threads:
            thread.join(120)
    finally:
        server.kill()
    assert killed.is_set(), f"fewer than {ACKNOWLEDGED_BEFORE_KILL} enrolments in 240 s:\n{server.log_tail()}"
    assert state["in_flight_at_kill"] >= 1 and server.process.returncode == -9
    with lock:
        snapshot = list(acknowledged)  # answers that raced the kill were acknowledged too: all must be there
    with open_store(store_location) as store:
        for external_id, reference_id in snapshot:
            assert store.get_reference(reference_id).external_id == external_id
        owners = {external_id for external_id, _ in snapshot}
        assert sum(store.get_identity(e).n_references for e in owners) >= len(snapshot)
        store.create_identity("after-the-crash")  # no lock left behind by the dead server
        assert store.get_identity("after-the-crash").status == "pending"
