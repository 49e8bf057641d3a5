"""Retrieval-style validation metrics on embeddings: precision@1 and nearest-mean identification.

They complement the held-out verification EER: metric-learning papers select models by how well
embeddings *retrieve* their writer (Viana et al.: precision@1 of validation samples against training
samples; the rmalav15 siamese recipe: identification against per-writer mean embeddings).  Embeddings are
compared after L2 normalisation (cosine similarity, equivalently Euclidean distance on the unit sphere).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def precision_at_1(
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    references: torch.Tensor,
    reference_labels: torch.Tensor,
    chunk: int = 1024,
) -> float:
    """Fraction of queries whose most similar reference (cosine) has the query's label; NaN if none."""
    if len(queries) == 0 or len(references) == 0:
        return float("nan")
    refs = F.normalize(references.float(), dim=1)
    hits = 0
    for start in range(0, len(queries), chunk):  # bounded memory for large reference sets
        q = F.normalize(queries[start : start + chunk].float(), dim=1)
        nearest = (q @ refs.T).argmax(dim=1)
        hits += int((reference_labels[nearest] == query_labels[start : start + chunk]).sum())
    return hits / len(queries)


def identification_accuracy(
    features: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    enrol: int = 5,
    queries: int = 5,
    seed: int = 0,
) -> float:
    """Closed-set identification by nearest mean embedding (the rmalav15 siamese validation).

    Per writer, its samples are shuffled with ``seed``; the first ``enrol`` L2-normalised embeddings are
    averaged into the writer's template, the next ``queries`` (at most) are classified by the nearest template
    (Euclidean).  Writers with fewer than ``enrol + 1`` samples take no part.  Pass genuine samples only.
    Returns the fraction of queries assigned to their writer, NaN when no writer has enough samples.
    """
    feats = F.normalize(torch.as_tensor(np.asarray(features), dtype=torch.float32), dim=1)
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    templates, query_feats, query_writer = [], [], []
    for writer in np.unique(labels):
        own = rng.permutation(np.flatnonzero(labels == writer))
        if len(own) < enrol + 1:
            continue
        query_writer += [len(templates)] * len(own[enrol : enrol + queries])
        templates.append(feats[own[:enrol]].mean(dim=0))
        query_feats.append(feats[own[enrol : enrol + queries]])
    if not templates:
        return float("nan")
    dists = torch.cdist(torch.cat(query_feats), torch.stack(templates))
    return float((dists.argmin(dim=1).numpy() == np.asarray(query_writer)).mean())
