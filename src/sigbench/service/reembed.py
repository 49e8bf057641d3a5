"""Re-embedding: move a store to a new bundle by re-running the pipeline on the crops it keeps.

A store holds the grey crop of every reference and detection exactly as it was cut (lossless PNG), not
the model input, so a bundle with another extractor, cleaner or preprocessing re-embeds them from the
start. All new embeddings are computed first (nothing is written meanwhile) and then swapped in one store
transaction: readers see the old model or the new one, never a mixture.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sigbench.service.bundle import load_bundle
from sigbench.service.pipeline import Pipeline, decode_png

CHUNK = 256


def _embed_all(pipeline: Pipeline, items: Any) -> dict[int, np.ndarray]:
    """``{id: embedding}`` of ``(id, crop_png)`` pairs, in chunks so memory stays bounded."""
    out: dict[int, np.ndarray] = {}
    batch: list[tuple[int, bytes]] = []

    def flush() -> None:
        feats = pipeline.embed_crops([decode_png(png) for _, png in batch])
        out.update({int(i): f for (i, _), f in zip(batch, feats, strict=True)})
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) == CHUNK:
            flush()
    if batch:
        flush()
    return out


def reembed(
    store_location: str | os.PathLike, bundle_path: str | os.PathLike, actor: str = "unknown"
) -> dict:
    """Re-embed every stored reference and detection with the bundle at ``bundle_path``."""
    from sigbench.service.store import open_store

    bundle = load_bundle(bundle_path)
    pipeline = Pipeline.from_bundle(bundle)
    with open_store(str(store_location)) as store:
        old = store.fingerprint
        if old == bundle.fingerprint:
            return {"old": old, "new": old, "references": 0, "detections": 0, "note": "already this bundle"}
        references = _embed_all(pipeline, store.iter_reference_crops())
        detections = _embed_all(pipeline, store.iter_detection_crops())
        store.replace_fingerprint(bundle.fingerprint, references, detections, bundle.embedding_dim)
        report = {
            "old": old,
            "new": bundle.fingerprint,
            "references": len(references),
            "detections": len(detections),
        }
        store.log_event("re-embed", actor, report)
    return report
