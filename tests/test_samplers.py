"""P x K batches: composition, forgeries, epoch length, determinism, and both data paths."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from sigbench.data.datamodule import SignatureDataModule
from sigbench.data.samplers import PKSampler
from tests.helpers import make_toy_dataset

LABELS = np.repeat(np.arange(10), 6)  # 10 writers x 6 samples
YFORG = np.tile([0, 0, 0, 0, 1, 1], 10)  # the last 2 of each writer are forgeries


def test_every_batch_has_p_distinct_writers_with_k_genuine_samples_each() -> None:
    sampler = PKSampler(LABELS, p=4, k=3, epoch_batches=7, seed=1, yforg=YFORG)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 7
    for batch in batches:
        assert batch.shape == (12,)
        writers, counts = np.unique(LABELS[batch], return_counts=True)
        assert len(writers) == 4 and set(counts) == {3}
        assert (YFORG[batch] == 0).all()  # forgeries excluded by default
        for w in writers:  # k <= genuine count: no sample twice
            assert len(set(batch[LABELS[batch] == w])) == 3


def test_forgeries_can_be_included_and_short_writers_are_drawn_with_replacement() -> None:
    with_forg = PKSampler(LABELS, p=2, k=6, epoch_batches=20, seed=0, yforg=YFORG, include_forgeries=True)
    assert any((YFORG[b] == 1).any() for b in with_forg)
    genuine_only = PKSampler(LABELS, p=2, k=6, epoch_batches=3, seed=0, yforg=YFORG)  # 4 genuine < k = 6
    for batch in genuine_only:
        assert (YFORG[batch] == 0).all() and len(batch) == 12


def test_epoch_length_defaults_to_one_pass_and_p_is_capped_by_the_writers() -> None:
    assert len(PKSampler(LABELS, p=2, k=2, yforg=YFORG)) == 40 // 4  # 40 genuine samples
    capped = PKSampler(LABELS, p=50, k=2, epoch_batches=1)
    assert capped.p == 10 and len(np.unique(LABELS[next(iter(capped))])) == 10


def test_batches_are_deterministic_per_seed_and_change_across_epochs() -> None:
    a = PKSampler(LABELS, p=3, k=2, epoch_batches=5, seed=7)
    b = PKSampler(LABELS, p=3, k=2, epoch_batches=5, seed=7)
    first_a, first_b = list(a), list(b)
    assert all(np.array_equal(x, y) for x, y in zip(first_a, first_b, strict=True))
    second_a = list(a)
    assert not all(np.array_equal(x, y) for x, y in zip(first_a, second_a, strict=True))
    b.set_epoch(1)
    assert all(np.array_equal(x, y) for x, y in zip(second_a, list(b), strict=True))
    other_seed = list(PKSampler(LABELS, p=3, k=2, epoch_batches=5, seed=8))
    assert not all(np.array_equal(x, y) for x, y in zip(first_a, other_seed, strict=True))


def test_ranks_draw_different_batches() -> None:
    from torch.utils.data import DistributedSampler

    data = list(range(len(LABELS)))
    r0 = PKSampler(LABELS, p=3, k=2, epoch_batches=3, seed=0, sampler=DistributedSampler(data, 2, 0))
    r1 = PKSampler(LABELS, p=3, k=2, epoch_batches=3, seed=0, sampler=DistributedSampler(data, 2, 1))
    assert not all(np.array_equal(x, y) for x, y in zip(r0, r1, strict=True))


def test_invalid_settings_are_named() -> None:
    with pytest.raises(ValueError, match="p and k"):
        PKSampler(LABELS, p=0, k=2)
    with pytest.raises(ValueError, match="epoch_batches"):
        PKSampler(LABELS, p=2, k=2, epoch_batches=0)
    with pytest.raises(ValueError, match="no training sample"):
        PKSampler(LABELS, yforg=np.ones_like(LABELS))


@pytest.mark.parametrize("resident", [False, True])
def test_datamodule_serves_pk_batches_in_both_paths(resident: bool) -> None:
    ds = make_toy_dataset(users=8, genuine=6, forgeries=2)
    dm = SignatureDataModule(
        ds,
        train_users=[0, 6],
        holdout_users=[6, 8],
        val_fraction=0.0,
        include_forgeries=True,
        device_resident=resident,
        sampler=functools.partial(PKSampler, p=3, k=2, epoch_batches=4, seed=0),
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    for batch in batches:
        assert batch["x"].shape == (6, 1, 150, 220) and batch["x"].dtype == torch.uint8
        writers, counts = torch.unique(batch["y"], return_counts=True)
        assert len(writers) == 3 and counts.tolist() == [2, 2, 2]
        assert int(batch["yforg"].sum()) == 0  # the sampler drops the forgeries dm included
        assert torch.equal(batch["user"], torch.as_tensor(dm.class_users)[batch["y"]])
