"""Reference / test / negative construction shared by the WD, WI and distance protocols.

Everything here works on *row indices* into one feature matrix, so that the draws can be made up front
(one RNG, a fixed order) and the heavy work dispatched to workers without copying features.

Reproducing the reference draws: with the same features, ``y``, ``yforg`` and
``np.random.RandomState(1234)``, the functions below make the same ``rng`` calls, in the same order and
on arrays of the same length and order, as luizgh/sigver (WD) and contrastive_sigver (WI, "balanced"),
so they select the same signatures:

* :func:`split_references_test` -- sigver ``split_train_test`` / ``split_ref_test``: for each user in
  increasing id order, ``rng.shuffle`` of its genuine rows (increasing row order), the first ``num_ref``
  are references, the *last* ``num_test`` are test genuines.
* :func:`draw_dev_negatives` -- ``get_random_forgeries_from_dev``: for each development user in
  increasing id order, ``rng.choice(genuine_rows, n, replace=False)``.
* :func:`draw_exp_negatives` -- ``create_training_set_for_user``: for each other exploitation user in
  the iteration order of the Python ``set`` the reference builds (a quirk kept on purpose, see there),
  ``rng.choice(its reference rows, n, replace=False)``. Random forgeries for training therefore come from
  the other users' *reference* signatures, never from their test genuines.
* :func:`draw_query_sets` -- test queries per user, protocol ``"sigver"`` (no draw: every test genuine of
  every other exploitation user is a random forgery) or ``"balanced"`` (contrastive_sigver
  ``test_all_users``: per user, ``rng.choice`` of ``n`` skilled, of ``n`` test genuines, of ``n`` other
  users, then one ``rng.choice`` of a test genuine of each chosen user).

Genuine means ``yforg == 0``, skilled ``yforg == 1``; simple forgeries (``yforg == 2``, Brazilian
PUC-PR) are neither genuine nor skilled unless ``include_simple_forgeries=True`` makes them skilled
(the reference's ``yforg == True`` test matches 1 only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

TEST_PROTOCOLS = ("sigver", "balanced")


@dataclass(frozen=True)
class UserSplit:
    """One exploitation user's rows: references (shuffled order), test genuines, skilled forgeries."""

    user: int
    references: np.ndarray
    test_genuine: np.ndarray
    skilled: np.ndarray


@dataclass(frozen=True)
class QuerySet:
    """Rows a user's verifier is tested on, by class."""

    genuine: np.ndarray
    random: np.ndarray
    skilled: np.ndarray


def check_test_protocol(test_protocol: str) -> None:
    """Raise a ValueError listing the valid random-forgery test protocols."""
    if test_protocol not in TEST_PROTOCOLS:
        raise ValueError(f"unknown test protocol {test_protocol!r}; valid: {', '.join(TEST_PROTOCOLS)}")


def skilled_classes(include_simple_forgeries: bool) -> tuple[int, ...]:
    """``yforg`` values counted as skilled forgeries."""
    return (1, 2) if include_simple_forgeries else (1,)


def genuine_rows(y: np.ndarray, yforg: np.ndarray, user: int) -> np.ndarray:
    """Rows of ``user``'s genuine signatures, in increasing row order."""
    return np.flatnonzero((y == user) & (yforg == 0))


def as_user_array(users: Iterable[int], name: str) -> np.ndarray:
    """Sorted unique user ids from any iterable (``range``, list, array); ValueError when empty."""
    arr = np.unique(np.fromiter((int(u) for u in users), dtype=np.int64))
    if arr.size == 0:
        raise ValueError(f"{name} is empty: no users selected")
    return arr


def validate_inputs(
    features: np.ndarray,
    y: np.ndarray,
    yforg: np.ndarray,
    exp_users: Iterable[int],
    dev_users: Iterable[int] | None,
    expected_dim: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check shapes and user sets; return ``(features, y, yforg, exp_users, dev_users)`` as arrays.

    ``dev_users=None`` (or empty) is allowed here; protocols that need development users check it.
    Errors name the problem and the offending values: shape mismatches, a feature dimension different
    from ``expected_dim`` (features from another extractor), non-finite features, empty or overlapping
    user sets, users absent from ``y``.
    """
    features = np.asarray(features)
    y = np.asarray(y).reshape(-1)
    yforg = np.asarray(yforg).reshape(-1)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D (N, D) array, got shape {features.shape}")
    if not (len(features) == len(y) == len(yforg)):
        raise ValueError(
            f"features, y and yforg must have the same length; got {len(features)}, {len(y)}, {len(yforg)}"
        )
    if expected_dim is not None and features.shape[1] != expected_dim:
        raise ValueError(
            f"features have dimension {features.shape[1]} but {expected_dim} was expected; were they "
            "extracted by a different model?"
        )
    exp = as_user_array(exp_users, "exp_users")
    dev = np.empty(0, dtype=np.int64) if dev_users is None else np.unique(np.fromiter(dev_users, np.int64))
    overlap = np.intersect1d(exp, dev)
    if overlap.size:
        raise ValueError(
            f"exploitation and development users must not overlap; shared ids: {_preview(overlap)}"
        )
    present = np.unique(y)
    for name, users in (("exp_users", exp), ("dev_users", dev)):
        missing = np.setdiff1d(users, present)
        if missing.size:
            raise ValueError(f"{name} has {missing.size} id(s) with no signature in y: {_preview(missing)}")
    rows = np.isin(y, np.concatenate([exp, dev]))
    if not np.isfinite(features[rows]).all():
        raise ValueError("features of the selected users contain NaN or inf values")
    return features, y, yforg, exp, dev


def _preview(values: Sequence[int] | np.ndarray, limit: int = 10) -> str:
    values = [int(v) for v in values]
    more = f" ... ({len(values)} in all)" if len(values) > limit else ""
    return "[" + ", ".join(map(str, values[:limit])) + "]" + more


def check_min_genuine(y: np.ndarray, yforg: np.ndarray, users: np.ndarray, needed: int, why: str) -> None:
    """ValueError naming every user with fewer than ``needed`` genuine signatures."""
    counts = {int(u): int(np.sum((y == u) & (yforg == 0))) for u in users}
    short = {u: c for u, c in counts.items() if c < needed}
    if short:
        listed = ", ".join(f"user {u}: {c}" for u, c in list(short.items())[:10])
        more = f" ... ({len(short)} users in all)" if len(short) > 10 else ""
        raise ValueError(f"{why} needs {needed} genuine signatures per user; too few for {listed}{more}")


def split_references_test(
    y: np.ndarray,
    yforg: np.ndarray,
    users: np.ndarray,
    num_ref: int,
    num_test: int,
    rng: np.random.RandomState,
    include_simple_forgeries: bool = False,
) -> list[UserSplit]:
    """Per user (increasing id): shuffle its genuines; first ``num_ref`` references, last ``num_test``
    test genuines; all its skilled forgeries are test skilled forgeries. Needs ``num_ref + num_test``
    genuines per user (checked), so references and test never overlap."""
    if num_ref < 1 or num_test < 1:
        raise ValueError(f"need at least one reference and one test genuine; got {num_ref} and {num_test}")
    check_min_genuine(y, yforg, users, num_ref + num_test, f"{num_ref} references + {num_test} test genuines")
    forg = np.isin(yforg, skilled_classes(include_simple_forgeries))
    splits = []
    for user in users:
        gen = genuine_rows(y, yforg, user)
        rng.shuffle(gen)
        splits.append(
            UserSplit(
                user=int(user),
                references=gen[:num_ref].copy(),
                test_genuine=gen[-num_test:].copy(),
                skilled=np.flatnonzero((y == user) & forg),
            )
        )
    return splits


def draw_dev_negatives(
    y: np.ndarray, yforg: np.ndarray, dev_users: np.ndarray, per_user: int, rng: np.random.RandomState
) -> np.ndarray:
    """``per_user`` random genuine rows of every development user (increasing id), concatenated."""
    if per_user <= 0:
        return np.empty(0, dtype=np.int64)
    check_min_genuine(y, yforg, dev_users, per_user, f"forg_from_dev={per_user}")
    return np.concatenate(
        [rng.choice(genuine_rows(y, yforg, u), per_user, replace=False) for u in dev_users]
    ).astype(np.int64)


def draw_exp_negatives(
    splits: Sequence[UserSplit], per_user: int, rng: np.random.RandomState
) -> list[np.ndarray]:
    """For each user (in ``splits`` order), ``per_user`` reference rows of every other user.

    The other users are visited in the iteration order of ``set(users) - {user}`` exactly as the
    reference does; for small non-negative ids that order is increasing, for larger ids it follows
    CPython's int hashing. It is deterministic, and keeping it keeps the draws identical.
    """
    if per_user <= 0:
        return [np.empty(0, dtype=np.int64) for _ in splits]
    if per_user > min(len(s.references) for s in splits):
        raise ValueError(f"forg_from_exp={per_user} exceeds the number of references per user")
    by_user = {s.user: s.references for s in splits}
    users = np.array([s.user for s in splits])
    out = []
    for split in splits:
        others = list(set(users).difference({split.user}))
        drawn = [rng.choice(by_user[int(o)], per_user, replace=False) for o in others]
        out.append(np.concatenate(drawn).astype(np.int64) if drawn else np.empty(0, dtype=np.int64))
    return out


def draw_query_sets(
    splits: Sequence[UserSplit], test_protocol: str, rng: np.random.RandomState, num_per_class: int
) -> list[QuerySet]:
    """Test queries per user (see module docstring). ``"balanced"`` needs ``num_per_class`` skilled
    forgeries per user and ``num_per_class`` other users; ``"sigver"`` draws nothing."""
    check_test_protocol(test_protocol)
    test_gen = [s.test_genuine for s in splits]
    if test_protocol == "sigver":
        out = []
        for i, split in enumerate(splits):
            others = [g for j, g in enumerate(test_gen) if j != i]
            random = np.concatenate(others) if others else np.empty(0, dtype=np.int64)
            out.append(QuerySet(split.test_genuine, random, split.skilled))
        return out

    short = [(s.user, len(s.skilled)) for s in splits if len(s.skilled) < num_per_class]
    if short:
        listed = ", ".join(f"user {u}: {n}" for u, n in short[:10])
        raise ValueError(
            f"balanced test protocol needs {num_per_class} skilled forgeries per user; got {listed}"
        )
    if len(splits) - 1 < num_per_class:
        raise ValueError(
            f"balanced test protocol needs {num_per_class} other exploitation users for random forgeries; "
            f"only {len(splits) - 1} available"
        )
    users = np.array([s.user for s in splits])
    out = []
    for i, split in enumerate(splits):
        skilled = rng.choice(split.skilled, num_per_class, replace=False)
        genuine = rng.choice(split.test_genuine, num_per_class, replace=False)
        chosen = rng.choice(np.delete(np.arange(len(users)), i), num_per_class, replace=False)
        random = np.array([rng.choice(test_gen[j]) for j in chosen], dtype=np.int64)
        out.append(QuerySet(genuine, random, skilled))
    return out


def merge_exp_dev(
    exp_set: tuple[np.ndarray, np.ndarray, np.ndarray], dev_set: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Join features of two sources (e.g. CEDAR exploitation users, GPDS development users) into one
    matrix for :func:`sigbench.verification.protocol.run_protocol`.

    Development ids are shifted above the exploitation ids so the two sets cannot collide. Returns
    ``(features, y, yforg, exp_users, dev_users)``. A different feature dimension (features from two
    different extractors) is a ValueError.
    """
    (fe, ye, fge), (fd, yd, fgd) = exp_set, dev_set
    fe, fd = np.asarray(fe), np.asarray(fd)
    if fe.ndim != 2 or fd.ndim != 2 or fe.shape[1] != fd.shape[1]:
        raise ValueError(
            f"exploitation features {fe.shape} and development features {fd.shape} must be 2-D with the "
            "same dimension; were they extracted by the same model?"
        )
    ye, yd = np.asarray(ye, dtype=np.int64), np.asarray(yd, dtype=np.int64)
    offset = int(ye.max()) + 1 - int(yd.min()) if len(ye) and len(yd) else 0
    yd = yd + max(offset, 0)
    features = np.concatenate([fe, fd.astype(fe.dtype, copy=False)])
    y = np.concatenate([ye, yd])
    yforg = np.concatenate([np.asarray(fge), np.asarray(fgd)])
    return features, y, yforg, np.unique(ye), np.unique(yd)


def score_query_set(
    score_rows: Callable[[np.ndarray], np.ndarray], queries: QuerySet
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score a user's genuine, random and skilled queries with one call on the concatenated rows.

    Every verifier here scores rows independently (SVM decision values, distances), so one call gives
    the same numbers as the reference's three calls, with a third of the overhead.
    """
    rows = np.concatenate([queries.genuine, queries.random, queries.skilled]).astype(np.int64)
    scores = np.asarray(score_rows(rows)) if rows.size else np.empty(0)
    a, b = len(queries.genuine), len(queries.genuine) + len(queries.random)
    return scores[:a], scores[a:b], scores[b:]
