"""Difficulty: one knob that trades intra-writer variability against forger skill.

A verification task gets harder when genuine signatures vary more (references cover the writer less well)
and when forgers imitate better (forgeries fall inside that variation).  Both move together with a single
level in [0, 1] so experiments can sweep one number; named levels are fixed points on that scale.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

LEVELS: dict[str, float] = {"easy": 0.2, "default": 0.5, "hard": 0.8}


@dataclass(frozen=True)
class Difficulty:
    """Numeric parameters derived from a level; these (not the name) define the generated data."""

    level: float
    genuine_variability: float  # multiplier on every within-writer perturbation
    forger_skill: float  # mean forger skill in (0, 1): 1 copies shape and fluency perfectly

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 6) for k, v in asdict(self).items()}


def resolve_difficulty(difficulty: float | str) -> Difficulty:
    """Map a name (``easy``, ``default``, ``hard``) or a float in [0, 1] to :class:`Difficulty`."""
    if isinstance(difficulty, str):
        key = difficulty.strip().lower()
        if key not in LEVELS:
            try:
                level = float(key)
            except ValueError:
                raise ValueError(
                    f"unknown difficulty {difficulty!r}; use one of {sorted(LEVELS)} or a number in [0, 1]"
                ) from None
        else:
            level = LEVELS[key]
    elif isinstance(difficulty, bool) or not isinstance(difficulty, numbers.Real):
        raise TypeError(
            f"difficulty must be a level name or a number in [0, 1], got {type(difficulty).__name__}"
        )
    else:
        level = float(difficulty)
    if not (math.isfinite(level) and 0.0 <= level <= 1.0):
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}")
    return Difficulty(
        level=level,
        genuine_variability=0.55 + 0.9 * level,
        forger_skill=0.15 + 0.8 * level,
    )
