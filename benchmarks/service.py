"""Service latency on CPU: verify a signature crop, verify a page, enrol pages; then identify (index).

With a bundle (default: the ``make demo`` one) and a fresh store in a temporary folder:

* **verify, crop**: one questioned signature image -> preprocess -> (clean) -> embed -> score -> decision
  and audit row; p50 / p95 over ``--repeat`` calls (distance and wd_svm modes);
* **verify, page**: one synthesised page -> detect -> crop -> ... -> decision, same figures;
* **enrol**: pages per second, detection to committed references (one enrolment per page);
* **identify**: ``benchmarks/service_index.py`` (the vector index at 10k / 100k / 1M references, FAISS
  against a NumPy scan, and its memory), run as it is with ``--index-args``.

    .venv/bin/python benchmarks/service.py [--bundle outputs/demo/bundle] [--repeat 20] [--pages 8]
        [--index-args "--sizes 10000 100000"]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sigbench.data.synthetic import render_raw_scan
from sigbench.service.bundle import load_bundle
from sigbench.service.enrol import enrol
from sigbench.service.pipeline import Pipeline
from sigbench.service.store import open_store
from sigbench.service.synthetic import Signed, signed_page
from sigbench.service.verify import verify

ROOT = Path(__file__).resolve().parents[1]


def percentiles(seconds: list[float]) -> str:
    ms = 1000 * np.asarray(seconds)
    return f"p50 {np.percentile(ms, 50):7.1f} ms   p95 {np.percentile(ms, 95):7.1f} ms   (n={len(ms)})"


def timed(func, repeat: int) -> list[float]:
    func()  # warm-up: first call loads models and fills caches
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", type=Path, default=ROOT / "outputs" / "demo" / "bundle")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--pages", type=int, default=8, help="pages enrolled for the enrol rate")
    parser.add_argument("--index-args", default="--sizes 10000 100000", help="passed to service_index.py")
    args = parser.parse_args()
    if not (args.bundle / "manifest.json").is_file():
        sys.exit(f"--bundle: {args.bundle} is not a bundle (build one with `make demo`)")
    bundle = load_bundle(args.bundle)
    pipeline = Pipeline.from_bundle(bundle)
    print(f"bundle {args.bundle} ({', '.join(bundle.model_files)}), fingerprint {bundle.fingerprint[:12]}")
    writer = 130
    pages = [signed_page([Signed(writer, s)], s, seed=11).image for s in range(args.pages)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_store(Path(tmp) / "s.db", bundle.fingerprint, bundle.embedding_dim) as store,
    ):
        if bundle.has_detector:
            start = time.perf_counter()
            found = 0
            for k, page in enumerate(pages):
                document = pipeline.read_array(page, f"page{k}.png", kind="page")
                found += len(document.signatures)
                if document.signatures:
                    enrol(
                        store, bundle, "bench", document.signatures[:1], actor="bench", documents=[document]
                    )
            elapsed = time.perf_counter() - start
            print(f"enrol: {len(pages) / elapsed:.2f} pages/s ({len(pages)} pages, {found} signatures found)")
        crops = [render_raw_scan(writer, s) for s in range(10, 13)]
        docs = [pipeline.read_array(c, f"ref{k}.png") for k, c in enumerate(crops)]
        enrol(store, bundle, "bench", [d.signatures[0] for d in docs], actor="bench")
        query = render_raw_scan(writer, 20)
        for mode in ("distance", "wd_svm"):
            try:
                bundle.thresholds(mode)
            except ValueError:
                print(f"verify {mode}: bundle not calibrated, skipped")
                continue

            def crop_once(mode: str = mode) -> None:
                verify(
                    store,
                    bundle,
                    "bench",
                    pipeline.read_array(query, "q.png").signatures,
                    mode,
                    "bench",
                    require_enrolled=False,
                )

            print(f"verify crop ({mode:8s}): {percentiles(timed(crop_once, args.repeat))}")
            if bundle.has_detector:

                def page_once(mode: str = mode) -> None:
                    document = pipeline.read_array(pages[0], "q.png", kind="page")
                    verify(store, bundle, "bench", document.signatures, mode, "bench", require_enrolled=False)

                print(f"verify page ({mode:8s}): {percentiles(timed(page_once, args.repeat))}")
    index = [sys.executable, str(ROOT / "benchmarks" / "service_index.py"), *shlex.split(args.index_args)]
    print(f"\nidentify (vector index): {' '.join(index[1:])}", flush=True)
    subprocess.run(index, check=True)


if __name__ == "__main__":
    main()
