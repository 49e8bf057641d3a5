"""Combining prepared sets (disjoint user ids, sources, prefixed mappings) and writer-disjoint splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigbench.data.combine import combine_datasets, load_combined, split_by_writers
from sigbench.data.formats import SignatureDataset, save_folder, save_npz
from tests.helpers import make_toy_dataset


def small(users: int, seed: int, size: tuple[int, int] = (170, 242)) -> SignatureDataset:
    ds = make_toy_dataset(users=users, genuine=3, forgeries=1, seed=seed)
    if size != (170, 242):
        ds = SignatureDataset(ds.x[:, :, : size[0], : size[1]], ds.y, ds.yforg, ds.user_mapping, ds.filenames)
    return ds


def test_combine_gives_disjoint_ids_sources_and_prefixed_mapping() -> None:
    a, b = small(3, seed=0), small(2, seed=1)

    both = combine_datasets([a, b], ["cedar", "mcyt"])

    assert len(both) == len(a) + len(b)
    assert both.y[: len(a)].tolist() == a.y.tolist()
    assert both.y[len(a) :].tolist() == (b.y + 3).tolist()
    assert both.user_mapping.tolist() == ["cedar:w0", "cedar:w1", "cedar:w2", "mcyt:w0", "mcyt:w1"]
    assert both.source.tolist() == ["cedar"] * len(a) + ["mcyt"] * len(b)
    np.testing.assert_array_equal(both.x[len(a) :], b.x)
    assert both.yforg.tolist() == [*a.yforg, *b.yforg]
    for name, ds in (("cedar", a), ("mcyt", b)):
        part = both.subset(both.source == name)
        assert [m.split(":", 1)[1] for m in both.user_mapping[part.y]] == ds.user_mapping[ds.y].tolist()


def test_combine_nested_keeps_the_trace() -> None:
    inner = combine_datasets([small(2, 0), small(1, 1)], ["a", "b"])
    outer = combine_datasets([inner, small(1, 2)], ["ab", "c"])
    assert sorted(set(outer.source)) == ["ab/a", "ab/b", "c"]
    assert outer.user_mapping.tolist() == ["ab:a:w0", "ab:a:w1", "ab:b:w0", "c:w0"]
    assert np.unique(outer.y).tolist() == [0, 1, 2, 3]


def test_combine_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unique"):
        combine_datasets([small(1, 0), small(1, 1)], ["x", "x"])
    with pytest.raises(ValueError, match="2 datasets but 1 names"):
        combine_datasets([small(1, 0), small(1, 1)], ["x"])
    with pytest.raises(ValueError, match="different image sizes"):
        combine_datasets([small(1, 0), small(1, 1, size=(150, 220))], ["x", "y"])


def test_split_by_writers_fractions_are_disjoint_and_complete() -> None:
    ds = small(10, seed=3)

    train, val, test = split_by_writers(ds, (0.6, 0.2, 0.2), seed=7)

    users = [set(part.y.tolist()) for part in (train, val, test)]
    assert [len(u) for u in users] == [6, 2, 2]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])
    assert set.union(*users) == set(range(10)) and len(train) + len(val) + len(test) == len(ds)
    for part in (train, val, test):  # a writer's genuine and forgeries travel together
        for u in np.unique(part.y):
            assert (part.y == u).sum() == (ds.y == u).sum()
    again = split_by_writers(ds, (0.6, 0.2, 0.2), seed=7)
    assert [p.filenames.tolist() for p in again] == [p.filenames.tolist() for p in (train, val, test)]
    other = split_by_writers(ds, (0.6, 0.2, 0.2), seed=8)
    assert set(other[0].y.tolist()) != users[0]


def test_split_by_writers_counts_and_errors() -> None:
    ds = small(7, seed=4)
    dev, exp = split_by_writers(ds, (3, 2), seed=0)
    assert len(np.unique(dev.y)) == 3 and len(np.unique(exp.y)) == 2
    assert not set(dev.y.tolist()) & set(exp.y.tolist())
    assert [len(np.unique(p.y)) for p in split_by_writers(ds, (1 / 3, 1 / 3, 1 / 3))] == [3, 2, 2]
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_writers(ds, (0.5, 0.4))
    with pytest.raises(ValueError, match="has 7"):
        split_by_writers(ds, (5, 5))


def test_load_combined_from_npz_and_folder(tmp_path: Path) -> None:
    save_npz(small(2, 0), tmp_path / "cedar.npz")
    save_folder(small(3, 1), tmp_path / "gpds")

    both = load_combined([tmp_path / "cedar.npz", tmp_path / "gpds"])

    assert both.user_mapping.tolist()[:3] == ["cedar:w0", "cedar:w1", "gpds:w0"]
    assert np.unique(both.y).tolist() == list(range(5))
    named = load_combined([str(tmp_path / "gpds")], names=["synthetic"])
    assert set(named.source) == {"synthetic"}
    with pytest.raises(ValueError, match="1 paths but 2 names"):
        load_combined([tmp_path / "gpds"], names=["a", "b"])
