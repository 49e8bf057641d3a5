"""Synthesised pages signed by known synthetic writers: ground truth for demos, tests and benchmarks.

A page is made by the document synthesiser (:func:`sigbench.documents.synthesize.synthesize_page`) with a
signature source that hands out exactly the signatures asked for, in order: genuine samples or skilled
forgeries of chosen writers of the built-in population. The page's annotations then say which signature
sits in which box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sigbench.data.synthetic import render_raw_scan, writer_name
from sigbench.documents.sources import SignatureSample
from sigbench.documents.synthesize import SynthPage, synthesize_page


@dataclass(frozen=True)
class Signed:
    """One signature to put on a page: ``writer``'s genuine ``sample``, or a skilled forgery of it."""

    writer: int
    sample: int
    forgery: bool = False

    @property
    def label(self) -> str:
        return f"{writer_name(self.writer)}-{'f' if self.forgery else 'g'}{self.sample:02d}"


class ListSource:
    """A signature source handing out the given signatures in order (cycling if asked for more)."""

    def __init__(
        self, signatures: Sequence[Signed], population_seed: int = 0, difficulty: str = "default"
    ) -> None:
        if not signatures:
            raise ValueError("ListSource needs at least one signature")
        self.signatures = list(signatures)
        self.seed = population_seed
        self.difficulty = difficulty
        self._next = 0

    def sample(self, rng: np.random.Generator) -> SignatureSample:
        signed = self.signatures[self._next % len(self.signatures)]
        self._next += 1
        image = render_raw_scan(signed.writer, signed.sample, signed.forgery, self.difficulty, self.seed)
        return SignatureSample(image, writer_name(signed.writer), signed.label)

    def config(self) -> dict[str, Any]:
        return {
            "kind": "list",
            "signatures": [s.label for s in self.signatures],
            "population_seed": self.seed,
        }


def signed_page(
    signatures: Sequence[Signed],
    index: int,
    seed: int = 0,
    level: int = 1,
    capture: str = "scan",
    population_seed: int = 0,
    difficulty: str = "default",
) -> SynthPage:
    """A page of ``level`` carrying ``signatures`` (the first in the form's slot, the rest at free places).

    ``seed`` draws the page (template, placement, capture); ``population_seed`` is the synthetic writer
    population's seed (0: the population the bench's synthetic sets are made of) and ``difficulty`` its
    level. The annotations' ``name`` is each signature's :attr:`Signed.label`, in the order they were placed.
    """
    source = ListSource(signatures, population_seed, difficulty)
    return synthesize_page(
        index, level, source, seed=seed, capture=(capture,), random_places=max(0, len(signatures) - 1)
    )


def annotation_boxes(page: SynthPage) -> list[tuple[str, tuple[float, float, float, float]]]:
    """``(label, xyxy box)`` of every signature annotated on a page."""
    out = []
    for annotation in page.annotations:
        if annotation.label != "signature":
            continue
        out.append((str(annotation.name), tuple(float(v) for v in annotation.bounds())))
    return out
