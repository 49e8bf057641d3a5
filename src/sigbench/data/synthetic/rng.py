"""Independent random streams keyed by (seed, writer, purpose, index).

Every random draw in the generator comes from a stream named by *what it is for*, so a sample never depends
on how many other samples, writers or workers there are: asking for writers 100..149 reproduces exactly the
tail of a 0..149 run, and serial and parallel generation give identical bytes.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    PLAN = 0  # the writer's name and letter shapes
    STYLE = 1  # the writer's motor habits
    GENUINE = 2  # one genuine sample (index = sample number)
    FORGER = 3  # one forger of this writer (index = forger number)
    FORGERY = 4  # one forgery (index = forgery number)
    SCAN = 5  # paper, lighting and sensor of one scan (index = 2 * sample + is_forgery)


def stream_rng(seed: int, writer_id: int, stream: Stream, index: int = 0) -> np.random.Generator:
    """A generator seeded from the full key; SeedSequence mixes the words so nearby keys are unrelated."""
    if seed < 0 or writer_id < 0 or index < 0:
        raise ValueError(f"seed, writer id and index must be >= 0, got {seed}, {writer_id}, {index}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(writer_id), int(stream), int(index)]))
