"""Images per second per core of sigbench's preprocessing vs the reference's scikit-image implementation
(``tests/sigver_reference.py``, what luizgh/sigver computes), on the same scans, and whether they are equal.

Scans: the shared sample scans, BHSig-Bengali scans when ``../shared/data`` is present, and hand-built
grey scans. Both run in this one process with OpenCV limited to one thread ("per core").

    .venv/bin/python benchmarks/preprocess.py [--repeat 3] [--bhsig 40]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from sigbench.data.preprocess import load_grayscale, preprocess_signature

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))  # the reference implementation lives with the tests that check parity
from tests.sigver_reference import sigver_preprocess  # noqa: E402


def synthetic_scans(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    scans = []
    for _ in range(n):
        h, w = 600, 1100
        img = np.clip(230 + 15 * np.linspace(0, 1, w)[None] + rng.normal(0, 3, (h, w)), 0, 255).astype(
            np.uint8
        )
        pts = (np.cumsum(rng.normal(0, 15, (60, 2)), axis=0) + np.array([w / 2, h / 2])).clip(
            30, [w - 30, h - 30]
        )
        cv2.polylines(img, [pts.astype(np.int32).reshape(-1, 1, 2)], False, int(rng.integers(20, 90)), 3)
        scans.append(cv2.GaussianBlur(img, (5, 5), 1.0))
    return scans


def load_scans(bhsig: int) -> list[tuple[str, np.ndarray, tuple[int, int]]]:
    scans = [("hand-built", s, (840, 1360)) for s in synthetic_scans(8)]
    samples = SHARED / "samples"
    for name in ("a1", "a2", "b1", "b2", "some_signature"):
        if (samples / f"{name}.png").exists():
            scans.append(("sigver samples", load_grayscale(samples / f"{name}.png"), (840, 1360)))
    folder = SHARED / "bhsig260_bengali"
    if folder.exists():
        files = sorted(folder.glob("*/B-S-*-G-*.png"))[:bhsig]
        scans += [("BHSig (bilevel)", load_grayscale(f), (400, 1200)) for f in files]
    return scans


def time_per_image(func, scans, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()  # CPU time of this process: fair on a shared machine
        for _, img, canvas in scans:
            func(img, canvas)
        best = min(best, time.process_time() - start)
    return best / len(scans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bhsig", type=int, default=40, help="BHSig scans to include (0 = none)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    scans = load_scans(args.bhsig)
    print(
        f"{len(scans)} scans: "
        + ", ".join(f"{k}: {sum(s[0] == k for s in scans)}" for k in dict.fromkeys(s[0] for s in scans))
    )
    # the reference has no bilevel support (it loses or crashes on them): compare speed on grey scans
    grey = [s for s in scans if not s[0].startswith("BHSig")]
    ours = time_per_image(lambda im, c: preprocess_signature(im, c), grey, args.repeat)
    ref = time_per_image(lambda im, c: sigver_preprocess(im, c), grey, max(1, args.repeat - 1))
    differing = [(preprocess_signature(im, c) != sigver_preprocess(im, c)).mean() for _, im, c in grey]
    print(f"grey scans ({len(grey)}):")
    print(f"  sigbench        {1 / ours:8.1f} images/s per core  ({1000 * ours:.1f} ms/image)")
    print(f"  scikit-image    {1 / ref:8.1f} images/s per core  ({1000 * ref:.1f} ms/image)")
    print(f"  speed-up        {ref / ours:8.2f} x   (target >= 5x)")
    print(
        f"  parity          {sum(d == 0 for d in differing)}/{len(grey)} images identical, "
        f"{100 * float(np.mean(differing)):.3f} % of pixels differ (target: all identical)"
    )
    bilevel = [s for s in scans if s[0].startswith("BHSig")]
    if bilevel:
        t = time_per_image(lambda im, c: preprocess_signature(im, c), bilevel, args.repeat)
        print(f"bilevel BHSig scans ({len(bilevel)}): sigbench {1 / t:.1f} images/s per core")


if __name__ == "__main__":
    main()
