"""Small builders shared by the tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from sigbench.data.formats import SignatureDataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CONF = REPO / "src" / "sigbench" / "conf"  # the packaged Hydra configs


def make_toy_dataset(users: int = 8, genuine: int = 6, forgeries: int = 2, seed: int = 0) -> SignatureDataset:
    """Writers are distinct sparse dot patterns; samples add noise; forgeries are shifted copies."""
    rng = np.random.default_rng(seed)
    xs, ys, fs = [], [], []
    for u in range(users):
        base = rng.random((170, 242)) < 0.05
        for i in range(genuine + forgeries):
            img = ((base ^ (rng.random((170, 242)) < 0.02)) * 200).astype(np.uint8)
            if i >= genuine:
                img = np.roll(img, 3, axis=1)
            xs.append(img[None])
            ys.append(u)
            fs.append(int(i >= genuine))
    n = len(ys)
    return SignatureDataset(
        x=np.stack(xs),
        y=np.asarray(ys),
        yforg=np.asarray(fs),
        user_mapping=[f"w{u}" for u in range(users)],
        filenames=[f"s{i}.png" for i in range(n)],
    )


def header_only_png(path: Path, width: int, height: int, bit_depth: int = 8) -> Path:
    """A PNG of a few dozen bytes whose header declares ``width x height`` grey pixels (no pixel data):
    what a decompression bomb looks like to a reader that trusts the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")))
    return path
