"""One writer's raw scans: wires writer, variation / forger, trajectory and rendering together.

Every sample draws from its own random streams (see :mod:`rng`), so sample ``j`` of writer ``k`` is the same
whether 1 or 100 samples are requested and whichever process renders it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigbench.data.synthetic.difficulty import Difficulty, resolve_difficulty
from sigbench.data.synthetic.forger import FORGERS_PER_WRITER, Forger, forgery_act, make_forger
from sigbench.data.synthetic.render import SCAN_SIZE, render_scan
from sigbench.data.synthetic.rng import Stream, stream_rng
from sigbench.data.synthetic.trajectory import Act, trace_act
from sigbench.data.synthetic.variation import genuine_act
from sigbench.data.synthetic.writer import Writer, make_writer


@dataclass(frozen=True)
class SampleInfo:
    """Labels of one sample; ``forger`` is the forger's number for forgeries, -1 for genuine ones."""

    writer_id: int
    index: int
    forgery: bool
    forger: int

    @property
    def writer_name(self) -> str:
        return writer_name(self.writer_id)

    @property
    def filename(self) -> str:
        """Relative path used in datasets, manifests and PNG folders: ``synth_0007/genuine_03.png``."""
        kind = "forgery" if self.forgery else "genuine"
        return f"{self.writer_name}/{kind}_{self.index:02d}.png"


@dataclass(frozen=True)
class RawSample:
    info: SampleInfo
    image: np.ndarray  # raw scan, uint8, dark ink on light paper


def writer_name(writer_id: int) -> str:
    """Population id of a writer, as stored in ``user_mapping``."""
    return f"synth_{writer_id:04d}"


def _scan(
    act: Act, rng: np.random.Generator, scan_rng: np.random.Generator, scan_size: tuple[int, int]
) -> np.ndarray:
    return render_scan(trace_act(act, rng), act.style, scan_rng, scan_size)


def writer_scans(
    seed: int,
    writer_id: int,
    genuine: int,
    forgeries: int,
    difficulty: Difficulty,
    scan_size: tuple[int, int] = SCAN_SIZE,
    style: str = "classic",
) -> list[RawSample]:
    """All raw scans of one writer: genuine ``0..genuine-1`` then forgeries ``0..forgeries-1``."""
    writer = make_writer(seed, writer_id, style)
    out: list[RawSample] = []
    for j in range(genuine):
        rng = stream_rng(seed, writer_id, Stream.GENUINE, j)
        act = genuine_act(writer, difficulty, rng)
        img = _scan(act, rng, stream_rng(seed, writer_id, Stream.SCAN, 2 * j), scan_size)
        out.append(RawSample(SampleInfo(writer_id, j, False, -1), img))
    forgers: dict[int, Forger] = {}
    for j in range(forgeries):
        f = j % FORGERS_PER_WRITER
        if f not in forgers:
            forgers[f] = make_forger(writer, difficulty, stream_rng(seed, writer_id, Stream.FORGER, f))
        rng = stream_rng(seed, writer_id, Stream.FORGERY, j)
        act = forgery_act(writer, forgers[f], difficulty, rng)
        img = _scan(act, rng, stream_rng(seed, writer_id, Stream.SCAN, 2 * j + 1), scan_size)
        out.append(RawSample(SampleInfo(writer_id, j, True, f), img))
    return out


def render_raw_scan(
    writer_id: int,
    sample: int = 0,
    forgery: bool = False,
    difficulty: float | str = "default",
    seed: int = 0,
    scan_size: tuple[int, int] = SCAN_SIZE,
    style: str = "classic",
) -> np.ndarray:
    """One raw scan (uint8, dark ink on light paper), identical to the same sample inside a generated set.

    Useful for figures and debugging: no preprocessing, no dataset bookkeeping.
    """
    diff = resolve_difficulty(difficulty)
    writer: Writer = make_writer(seed, writer_id, style)
    if not forgery:
        rng = stream_rng(seed, writer_id, Stream.GENUINE, sample)
        act = genuine_act(writer, diff, rng)
    else:
        f = sample % FORGERS_PER_WRITER
        forger = make_forger(writer, diff, stream_rng(seed, writer_id, Stream.FORGER, f))
        rng = stream_rng(seed, writer_id, Stream.FORGERY, sample)
        act = forgery_act(writer, forger, diff, rng)
    return _scan(act, rng, stream_rng(seed, writer_id, Stream.SCAN, 2 * sample + int(forgery)), scan_size)
