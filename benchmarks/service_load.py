"""The HTTP service under load: concurrent clients enrolling, verifying and identifying, on SQLite and on
PostgreSQL (several API processes sharing one database).

For each backend: start the real server(s) (``python -m sigbench.service.api serve``) on free 127.0.0.1
ports, enrol a few identities to verify against, then let ``--clients`` threads send a mixed stream of
requests (enrol a signature / verify a claim / identify a signer, by ``--mix``) spread over the processes,
until ``--requests`` have been sent or ``--max-seconds`` have passed. Prints throughput and p50 / p95 / p99
latency per operation, then stops the servers and checks the store directly: every enrolment the server
acknowledged (201 with reference ids) must be there, with the right owner ("lost" must be 0).

PostgreSQL runs as a throw-away local server (``sigbench.service.store.local_postgres``) with its default,
durable settings (fsync on). Signatures are synthetic scans (``render_raw_scan``), uploaded as PNG.

    python benchmarks/service_load.py                        # both backends, demo bundle (make demo)
    python benchmarks/service_load.py --backends sqlite --clients 8 --requests 100
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from sigbench.data.synthetic import render_raw_scan
from sigbench.service.api.auth import KeyRing
from sigbench.service.http_harness import ServerProcess, ServiceClient
from sigbench.service.store import open_store
from sigbench.service.store.local_postgres import LocalPostgres, unavailable_reason

REPO = Path(__file__).resolve().parents[1]
OPERATIONS = ("enrol", "verify", "identify")
SEED_WRITERS = range(200, 212)  # enrolled before the load: verify / identify ask about them
LOAD_WRITERS = range(300, 600)  # signatures the clients enrol during the load (the demo trains on 0..150)
SEED_SAMPLES = 5  # references offered per seeded identity (the consistency check may set some aside)
QUESTIONED = SEED_SAMPLES  # the sample sent to verify / identify


def signature_png(writer: int, sample: int, difficulty: str) -> bytes:
    return cv2.imencode(".png", render_raw_scan(writer, sample, False, difficulty, 0))[1].tobytes()


class Images:
    """Synthetic signature PNGs, rendered once each (rendering is not what is measured)."""

    def __init__(self, difficulty: str) -> None:
        self.difficulty = difficulty
        self._cache: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()

    def get(self, writer: int, sample: int) -> bytes:
        with self._lock:
            if (writer, sample) not in self._cache:
                self._cache[(writer, sample)] = signature_png(writer, sample, self.difficulty)
            return self._cache[(writer, sample)]


class Load:
    """Shared state of one run: the request budget, the deadline, the results."""

    def __init__(self, requests: int, seconds: float) -> None:
        self.remaining = requests
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.acknowledged: list[tuple[str, int]] = []  # (external_id, reference id) answered with 201

    def take(self) -> bool:
        with self.lock:
            if self.remaining <= 0 or time.monotonic() >= self.deadline:
                return False
            self.remaining -= 1
            return True


def client_loop(
    index: int, url: str, key: str, load: Load, images: Images, mix: list[float], seed: int, known: list[int]
) -> None:
    """Send requests until the budget or the time is spent; ``known``: writers enrolled before the load."""
    rng = np.random.default_rng([seed, index])
    identity, sample = 0, 0
    with ServiceClient(url, key) as client:
        while load.take():
            op = OPERATIONS[rng.choice(len(OPERATIONS), p=mix)]
            if op == "enrol":  # this client's own identities, one reference per request, 3 per identity
                external_id = f"load-{index}-{identity}"
                writer = LOAD_WRITERS[(index * 37 + identity) % len(LOAD_WRITERS)]
                image = images.get(writer, sample)
                identity, sample = (identity + 1, 0) if sample == 2 else (identity, sample + 1)
                call = functools.partial(client.enrol, external_id, image)
            elif op == "verify":
                writer = int(rng.choice(known))
                image = images.get(writer, QUESTIONED)
                call = functools.partial(client.verify, f"seed-{writer}", image)
            else:
                image = images.get(int(rng.choice(known)), QUESTIONED)
                call = functools.partial(client.identify, image)
            start = time.perf_counter()
            try:
                response = call()
                status, body = response.status_code, response.text
            except Exception as error:  # a refused or broken connection counts as an error, not a crash
                status, body = 0, f"{type(error).__name__}: {error}"
            elapsed = time.perf_counter() - start
            with load.lock:
                load.latencies[op].append(elapsed)
                if status not in (200, 201):
                    load.errors[op].append(f"{status} {body[:200]}")
                elif op == "enrol":
                    for reference_id in json.loads(body)["added"]:
                        load.acknowledged.append((external_id, int(reference_id)))


def seed_store(url: str, key: str, images: Images) -> list[int]:
    """Enrol the identities verify / identify ask about (through the API, before the clock starts); returns
    the writers whose identity ended up ``enrolled``."""
    known = []
    with ServiceClient(url, key) as client:
        for writer in SEED_WRITERS:
            for sample in range(SEED_SAMPLES):
                response = client.enrol(f"seed-{writer}", images.get(writer, sample), f"Writer {writer}")
                if response.status_code != 201:
                    raise RuntimeError(f"seeding seed-{writer}: {response.status_code} {response.text[:300]}")
            if response.json()["status"] == "enrolled":
                known.append(writer)
            images.get(writer, QUESTIONED)  # rendered now, not during the measurement
    if not known:
        raise RuntimeError("no seeded identity reached 'enrolled' (is the bundle's extractor trained?)")
    return known


def run_backend(backend: str, processes: int, args: argparse.Namespace, images: Images) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"sigbench-load-{backend}-"))
    postgres = None
    if backend == "postgres":
        postgres = LocalPostgres(durable=True).start()
        location = postgres.create_database("sigbench")
    else:
        location = str(folder / "store.db")
    key = KeyRing(folder / "keys.json").add("load", "admin")
    servers = [
        ServerProcess(args.bundle, location, folder / "keys.json", folder / f"server{i}.log")
        for i in range(processes)
    ]
    try:
        servers[0].start()  # the first creates the store; the others open it
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda s: s.start(), servers[1:]))
        known = seed_store(servers[0].url, key, images)
        load = Load(args.requests, args.max_seconds)
        mix = np.asarray(args.mix, dtype=float) / np.sum(args.mix)
        start = time.perf_counter()
        threads = [
            threading.Thread(
                target=client_loop,
                args=(i, servers[i % processes].url, key, load, images, mix.tolist(), args.seed, known),
            )
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        for server in servers:
            server.stop()
        with open_store(location) as store:  # the truth, read after every server has gone
            lost = 0
            for external_id, reference_id in load.acknowledged:
                try:
                    lost += store.get_reference(reference_id).external_id != external_id
                except KeyError:
                    lost += 1
            totals = (store.count_identities(), store.count_references())
    finally:
        for server in servers:
            server.kill()
        if postgres is not None:
            postgres.stop()
    return {
        "backend": backend,
        "processes": processes,
        "clients": args.clients,
        "wall_s": wall,
        "latencies": dict(load.latencies),
        "errors": dict(load.errors),
        "acknowledged": len(load.acknowledged),
        "lost": lost,
        "store_totals": totals,
        "logs": str(folder),
    }


def report(result: dict) -> None:
    sent = sum(len(v) for v in result["latencies"].values())
    failed = sum(len(v) for v in result["errors"].values())
    print(
        f"\n{result['backend']}: {result['processes']} API process(es), {result['clients']} clients, "
        f"{sent} requests in {result['wall_s']:.1f} s = {sent / result['wall_s']:.2f} requests/s, "
        f"{failed} failed"
    )
    print(f"  {'operation':<9} {'n':>5} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for op in OPERATIONS:
        times = np.asarray(result["latencies"].get(op, []), dtype=float) * 1000
        if not len(times):
            continue
        p50, p95, p99 = np.percentile(times, [50, 95, 99])
        errors = len(result["errors"].get(op, []))
        print(
            f"  {op:<9} {len(times):>5} {len(times) / result['wall_s']:>7.2f} {p50:>8.0f} {p95:>8.0f} "
            f"{p99:>8.0f} {errors:>6}"
        )
    for op, messages in result["errors"].items():
        print(f"  first {op} error: {messages[0]}")
    identities, references = result["store_totals"]
    print(
        f"  acknowledged enrolments: {result['acknowledged']} references; lost: {result['lost']} "
        f"(store afterwards: {identities} identities, {references} references)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "outputs" / "demo" / "bundle")
    parser.add_argument(
        "--backends", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"]
    )
    parser.add_argument("--sqlite-processes", type=int, default=1, help="API processes on the SQLite file")
    parser.add_argument("--postgres-processes", type=int, default=2, help="API processes sharing PostgreSQL")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--requests", type=int, default=240, help="requests per backend (then stop)")
    parser.add_argument("--max-seconds", type=float, default=240, help="time limit per backend")
    parser.add_argument(
        "--mix", type=float, nargs=3, default=[2, 5, 3], metavar=("ENROL", "VERIFY", "IDENTIFY")
    )
    parser.add_argument("--difficulty", default="default", help="synthetic signature difficulty")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the server logs and the SQLite store")
    args = parser.parse_args(argv)
    if not (args.bundle / "manifest.json").is_file():
        print(f"no bundle at {args.bundle}: run `make demo` first or pass --bundle", file=sys.stderr)
        return 2
    if min(args.mix) < 0 or sum(args.mix) <= 0:
        parser.error("--mix: three weights >= 0, not all 0")
    if "postgres" in args.backends and unavailable_reason():
        print(f"postgres skipped: {unavailable_reason()}", file=sys.stderr)
        args.backends = [b for b in args.backends if b != "postgres"]
    images = Images(args.difficulty)
    failures = 0
    for backend in args.backends:
        processes = args.sqlite_processes if backend == "sqlite" else args.postgres_processes
        result = run_backend(backend, processes, args, images)
        report(result)
        if args.keep or result["lost"] or result["errors"]:
            print(f"  kept {result['logs']} (server logs, SQLite store)")
        else:
            shutil.rmtree(result["logs"], ignore_errors=True)
        failures += result["lost"]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
