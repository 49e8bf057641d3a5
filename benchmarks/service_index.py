"""Identify latency of the signature store's vector index: FAISS flat inner product against a NumPy
brute-force scan (``matrix @ q`` + ``argpartition``), for 10k / 100k / 1M stored references, side by side
as ratios, with the memory the index takes; plus how long the store takes to rebuild its index from SQLite.

The latency part stores random L2-normalised vectors straight into a ``faiss.IndexIDMap2(IndexFlatIP)``
(the store's index type) -- inserting a million rows into SQLite would measure SQLite, not search. The
NumPy scan reads the very same vectors (a zero-copy view of FAISS's storage), so memory is counted once.
The dimension is the quickstart extractor's feature size (SigNet-thin, 1024) unless given; 2048 (SigNet)
is also run where it fits in ``--max-gb``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/service_index.py [--sizes 10000 100000 1000000]
        [--dims 1024 2048] [--k 50] [--batch 64] [--rebuild-refs 100000] [--max-gb 6]

``OMP_NUM_THREADS`` sets the threads of both FAISS and NumPy's BLAS (one, to compare per core).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from sigbench.service.store import SQLiteStore
from sigbench.service.store.index import VectorIndex

PNG = b"\x89PNG\r\n\x1a\n"


def quickstart_feature_dim() -> int:
    """The embedding size of the extractor `make run` trains (composed from the real configs)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from sigbench.runner.conf import conf_dir
    from sigbench.runner.schema import register_schemas

    register_schemas()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=quickstart"])
    return int(instantiate(cfg.model).feature_dim)


def quickstart_dim_in_child() -> int:
    """``quickstart_feature_dim`` in a child process, so torch never inflates this process's memory."""
    out = subprocess.run(
        [sys.executable, __file__, "--print-quickstart-dim"], check=True, capture_output=True, text=True
    )
    return int(out.stdout.split()[-1])


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def random_unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def build_index(n: int, dim: int, seed: int, chunk: int = 65536) -> VectorIndex:
    """The store's index filled with ``n`` random unit vectors (ids 0..n-1), built in chunks."""
    rng = np.random.default_rng(seed)
    index = VectorIndex("benchmark", dim, "random")
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        index.add(np.arange(start, start + m, dtype=np.int64), random_unit(rng, m, dim))
    return index


def stored_vectors(index: VectorIndex) -> np.ndarray:
    """A read-only [n, d] NumPy view of the flat index's own storage (no copy)."""
    flat = faiss.downcast_index(index.index.index)
    view = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
    view.flags.writeable = False
    return view


def numpy_top_k(matrix: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: all similarities, then the k best per query by argpartition, sorted."""
    sims = queries @ matrix.T
    n = sims.shape[1]
    part = np.argpartition(sims, n - k, axis=1)[:, n - k :]  # the k largest, unordered
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1)
    return np.take_along_axis(part_sims, order, axis=1), np.take_along_axis(part, order, axis=1)


def best_of(funcs: dict, repeat: int) -> dict[str, float]:
    """Fastest of ``repeat`` runs of each function, run in turns: on a shared machine the least
    disturbed run is the best estimate, and taking turns exposes every contender to the same load."""
    best = dict.fromkeys(funcs, float("inf"))
    for i in range(repeat):
        for name, func in funcs.items():
            start = time.perf_counter()
            func(i)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure(n: int, dim: int, k: int, batch: int, repeat: int, seed: int) -> dict:
    """Latency of one query and of a batch, FAISS vs NumPy, on ``n`` stored vectors; memory of the index."""
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    index = build_index(n, dim, seed)
    build_s = time.perf_counter() - start
    rss_delta = rss_bytes() - before
    matrix = stored_vectors(index)
    queries = random_unit(np.random.default_rng(seed + 1), batch, dim)
    single = best_of(  # a different query each turn, the same for both
        {
            "faiss_1": lambda i: index.search(queries[i % batch][None], k),
            "numpy_1": lambda i: numpy_top_k(matrix, queries[i % batch][None], k),
        },
        repeat,
    )

    def faiss_default(_: int) -> None:  # FAISS's own choice of kernel (no BLAS below 128,000 floats)
        index.index.search(queries, k)

    batched = best_of(
        {
            "faiss_b": lambda _: index.search(queries, k),
            "faiss_default_b": faiss_default,
            "numpy_b": lambda _: numpy_top_k(matrix, queries, k),
        },
        max(2, repeat // 3),
    )
    f_sims, f_ids = index.search(queries, k)
    n_sims, n_ids = numpy_top_k(matrix, queries, k)
    return {
        "dim": dim,
        "refs": n,
        "vectors_mb": n * dim * 4 / 2**20,
        "rss_mb": rss_delta / 2**20,
        "build_s": build_s,
        **single,
        **batched,
        "same_ids": float(np.mean(f_ids == n_ids)),
        "max_sim_diff": float(np.abs(f_sims - n_sims).max()),
    }


def print_latency(rows: list[dict], k: int, batch: int) -> None:
    print(
        f"identify latency, top-{k}, best of several runs in ms (ratio = NumPy / FAISS, > 1: FAISS faster); "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    header = (
        f"{'dim':>5} {'refs':>9} {'vectors MB':>10} {'RSS +MB':>8} | {'1 query FAISS':>13} {'NumPy':>8} "
        f"{'ratio':>5} | {f'{batch} queries FAISS':>16} {'NumPy':>8} {'ratio':>5} | {'FAISS default':>13} | "
        f"{'same ids':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['dim']:>5} {r['refs']:>9,} {r['vectors_mb']:>10.0f} {r['rss_mb']:>8.0f} | "
            f"{1e3 * r['faiss_1']:>13.2f} {1e3 * r['numpy_1']:>8.2f} {r['numpy_1'] / r['faiss_1']:>5.2f} | "
            f"{1e3 * r['faiss_b']:>16.1f} {1e3 * r['numpy_b']:>8.1f} {r['numpy_b'] / r['faiss_b']:>5.2f} | "
            f"{1e3 * r['faiss_default_b']:>13.1f} | {100 * r['same_ids']:>7.1f}%"
        )
    print(
        "vectors MB = refs x dim x 4 bytes (the flat index's payload); RSS +MB = measured growth of the "
        "process while building it (payload + id maps). FAISS = the store's index (BLAS for batches); "
        "FAISS default = the same index with FAISS's own kernel choice; same ids = top-k ids equal to NumPy's"
    )


def measure_rebuild(n: int, dim: int, seed: int, catch_up: int = 1000) -> dict:
    """Seconds for a store of ``n`` references to build its index from SQLite, load it from its saved
    file, and catch up with ``catch_up`` references another connection added."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="sigbench-index-") as folder:
        path = Path(folder) / "store.db"
        start = time.perf_counter()
        fill(SQLiteStore(path, "bench", dim), rng, n, dim)
        insert_s = time.perf_counter() - start
        query = random_unit(rng, 1, dim)

        def first_search() -> float:
            start = time.perf_counter()
            store = SQLiteStore(path, "bench", dim)  # loads the saved index, if any
            store.search(query, 1)
            seconds = time.perf_counter() - start
            store.close()  # saves the index when it is missing or behind
            return seconds

        Path(f"{path}.faiss").unlink(missing_ok=True)
        rebuild_s = first_search()
        index_mb = Path(f"{path}.faiss").stat().st_size / 2**20
        start = time.perf_counter()
        VectorIndex.load(f"{path}.faiss")
        load_file_s = time.perf_counter() - start
        warm_s = first_search()
        reader = SQLiteStore(path, "bench", dim)
        reader.search(query, 1)
        fill(SQLiteStore(path, "bench", dim), rng, catch_up, dim, prefix="late")
        start = time.perf_counter()
        reader.search(query, 1)
        catch_up_s = time.perf_counter() - start
        reader.close()
        db_mb = path.stat().st_size / 2**20
    return {
        "refs": n,
        "dim": dim,
        "insert_s": insert_s,
        "db_mb": db_mb,
        "rebuild_s": rebuild_s,
        "index_mb": index_mb,
        "load_file_s": load_file_s,
        "open_saved_s": warm_s,
        "catch_up": catch_up,
        "catch_up_s": catch_up_s,
    }


def fill(store: SQLiteStore, rng: np.random.Generator, n: int, dim: int, prefix: str = "w") -> None:
    """``n`` references, 10 per identity, committed 1000 at a time, with small placeholder crops."""
    per_identity = 10
    with store:
        for start in range(0, n, 1000):
            vectors = random_unit(rng, min(1000, n - start), dim)
            with store.transaction():
                for j, vector in enumerate(vectors):
                    i = start + j
                    if i % per_identity == 0:
                        store.create_identity(f"{prefix}{i // per_identity}")
                    digest = hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()
                    crop = PNG + digest.encode()
                    store.add_reference(f"{prefix}{i // per_identity}", vector, crop, crop, {}, digest)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="+", default=None, help="default: quickstart's, then 2048")
    parser.add_argument("--k", type=int, default=50, help="references per query (identify asks for 50)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=9, help="timed single queries (a third for batches)")
    parser.add_argument("--rebuild-refs", type=int, default=100_000, help="0 skips the SQLite rebuild")
    parser.add_argument("--max-gb", type=float, default=6.0, help="skip sizes whose index would not fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--print-quickstart-dim", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.print_quickstart_dim:
        print(quickstart_feature_dim())
        return
    dims = args.dims or list(dict.fromkeys([quickstart_dim_in_child(), 2048]))
    print(
        f"faiss {faiss.__version__}, numpy {np.__version__}; dims {dims} (first: the quickstart extractor's)"
    )
    rows = []
    for dim in dims:
        for n in args.sizes:
            # vectors + the batch's similarities (float32) and argpartition (int64); 1 GB for the libraries
            need_gb = (n * dim * 4 + args.batch * n * 12) / 2**30
            if need_gb > args.max_gb - 1:
                print(f"skipped dim {dim}, {n:,} refs: needs ~{need_gb:.1f} GB, over --max-gb {args.max_gb}")
                continue
            rows.append(measure(n, dim, args.k, args.batch, args.repeat, args.seed))
    print_latency(rows, args.k, args.batch)
    if args.rebuild_refs:
        r = measure_rebuild(args.rebuild_refs, dims[0], args.seed)
        print(
            f"\nstore of {r['refs']:,} references, dim {r['dim']} (SQLite {r['db_mb']:.0f} MB, filled in "
            f"{r['insert_s']:.1f} s):\n"
            f"  open + first search, index rebuilt from SQLite:      {r['rebuild_s']:6.2f} s\n"
            f"  open + first search, saved index ({r['index_mb']:.0f} MB) loaded: {r['open_saved_s']:6.2f} s "
            f"(reading the file alone: {r['load_file_s']:.2f} s)\n"
            f"  search after another process added {r['catch_up']:,} references: {r['catch_up_s']:6.2f} s "
            "(catch-up by ids)"
        )


if __name__ == "__main__":
    main()
