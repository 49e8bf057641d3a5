"""Several prepared sets as one, and writer-disjoint splits of a set.

Why writer-disjoint: signature verification is evaluated on writers the model has never seen (the SigNet
protocol trains on GPDS users 350..881 and tests on 0..300). A split by sample would put a writer's
signatures on both sides and make every figure optimistic, so :func:`split_by_writers` never does.

Why prefixes: user ids of different datasets collide (every set has a writer ``1``). Combining offsets each
set's user indices past the previous ones, records the set's name per sample in ``source`` and prefixes
``user_mapping`` with it (``cedar:12``), so any sample can be traced back to its file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sigbench.data.formats import SignatureDataset, load_dataset

SEPARATOR = ":"


def combine_datasets(datasets: Sequence[SignatureDataset], names: Sequence[str]) -> SignatureDataset:
    """Concatenate prepared sets with disjoint user ids.

    Dataset ``k``'s users are shifted by the number of users of the sets before it (the length of their
    ``user_mapping``, or ``max(y) + 1`` if larger). ``source`` becomes the set's name; a set that already
    has one (a combination of combinations) keeps it as ``name/old``, and its mapping becomes
    ``name:old``, so nesting stays unambiguous.
    """
    if len(datasets) != len(names):
        raise ValueError(f"got {len(datasets)} datasets but {len(names)} names")
    if not datasets:
        raise ValueError("nothing to combine: the list of datasets is empty")
    if len(set(names)) != len(names):
        raise ValueError(f"dataset names must be unique, got {list(names)}")
    sizes = {name: ds.image_size for ds, name in zip(datasets, names, strict=True)}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"cannot combine sets of different image sizes: {sizes}")

    xs, ys, yforgs, files, sources, mappings = [], [], [], [], [], []
    offset = 0
    for ds, name in zip(datasets, names, strict=True):
        n_users = max(int(ds.user_mapping.size), int(ds.y.max()) + 1 if len(ds) else 0)
        mapping = np.full(n_users, "", dtype=object)
        mapping[: ds.user_mapping.size] = ds.user_mapping
        xs.append(np.asarray(ds.x))
        ys.append(ds.y.astype(np.int64) + offset)
        yforgs.append(ds.yforg.astype(np.int64))
        files.append(ds.filenames)
        sources.append(np.full(len(ds), name) if ds.source is None else np.char.add(f"{name}/", ds.source))
        mappings.append(np.asarray([f"{name}{SEPARATOR}{u}" for u in mapping]))
        offset += n_users
    return SignatureDataset(
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        yforg=np.concatenate(yforgs),
        user_mapping=np.concatenate(mappings),
        filenames=np.concatenate(files),
        source=np.concatenate(sources).astype(str),
        origin="+".join(names),
    )


def _part_sizes(n_writers: int, sizes: Sequence[float] | Sequence[int]) -> list[int]:
    """Writers per part: integers are counts (their sum may be below the writer count; the rest are
    left out), floats are fractions summing to 1 (rounded by largest remainder, so the sum is exact)."""
    if not sizes:
        raise ValueError("split_by_writers needs at least one size")
    if any(s < 0 for s in sizes):
        raise ValueError(f"sizes must be non-negative, got {list(sizes)}")
    if all(isinstance(s, (int, np.integer)) for s in sizes):
        counts = [int(s) for s in sizes]
        if sum(counts) > n_writers:
            raise ValueError(f"asked for {sum(counts)} writers ({counts}) but the set has {n_writers}")
        return counts
    fractions = np.asarray(sizes, dtype=float)
    if not np.isclose(fractions.sum(), 1.0, atol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {list(sizes)} (sum {fractions.sum():g})")
    raw = fractions * n_writers
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n_writers - counts.sum()]] += 1
    return counts.tolist()


def split_by_writers(
    ds: SignatureDataset, sizes: Sequence[float] | Sequence[int], seed: int = 0
) -> tuple[SignatureDataset, ...]:
    """Split into parts whose writers are disjoint (a writer's genuine and forgeries stay together).

    ``sizes``: fractions summing to 1 (``(0.8, 0.2)``) or writer counts (``(50, 20)``; writers beyond the
    sum are left out). Writers are shuffled with ``seed``; samples keep their order and their user ids, so
    a part can still be mapped back with ``user_mapping``.
    """
    users = ds.users
    counts = _part_sizes(int(users.size), sizes)
    shuffled = np.random.default_rng(seed).permutation(users)
    parts = []
    start = 0
    for count in counts:
        chosen = shuffled[start : start + count]
        start += count
        parts.append(ds.subset(np.isin(ds.y, chosen)))
    return tuple(parts)


def load_combined(paths: Sequence[str | Path], names: Sequence[str] | None = None) -> SignatureDataset:
    """Load several prepared sets (npz files or folders) and combine them.

    ``names`` default to the file or folder names without ``.npz`` (``cedar.npz`` -> ``cedar``).
    """
    paths = [Path(p) for p in paths]
    if names is None:
        names = [p.name[: -len(".npz")] if p.name.endswith(".npz") else p.name for p in paths]
    if len(names) != len(paths):
        raise ValueError(f"got {len(paths)} paths but {len(names)} names")
    return combine_datasets([load_dataset(p) for p in paths], list(names))
