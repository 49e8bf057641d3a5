"""Writer splits, crops, and the accelerator-resident path of the DataModule."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch

from sigbench.data.datamodule import SignatureDataModule
from sigbench.data.loaders import ResidentBatchLoader
from sigbench.data.transforms import batch_crop, to_model_input
from tests.helpers import make_toy_dataset


def module(**kwargs) -> SignatureDataModule:
    args = {
        "dataset": make_toy_dataset(users=8, genuine=6, forgeries=2),
        "train_users": [0, 6],
        "holdout_users": [6, 8],
        "val_fraction": 1 / 3,
        "batch_size": 4,
    }
    args.update(kwargs)
    dm = SignatureDataModule(**args)
    dm.setup("fit")
    return dm


def test_sample_split_keeps_writers_apart_and_validates_every_writer() -> None:
    dm = module()
    ds = dm.dataset
    assert dm.num_classes == 6
    train_users, val_users = set(ds.y[dm.train_index]), set(ds.y[dm.val_index])
    assert train_users == val_users == set(range(6))
    assert set(ds.y[dm.holdout_index]) == {6, 7}
    assert not set(dm.train_index) & set(dm.val_index)
    # genuine only without include_forgeries: 6 writers x 6 genuine, a third of each for validation
    assert (ds.yforg[dm.train_index] == 0).all() and len(dm.train_index) == 24 and len(dm.val_index) == 12
    # the held-out set keeps forgeries (they are the skilled queries)
    assert (ds.yforg[dm.holdout_index] == 1).sum() == 4
    assert dm.val_loader_kinds == ["classification", "verification"]


def test_include_forgeries_and_labels() -> None:
    dm = module(include_forgeries=True)
    ds = dm.dataset
    assert (ds.yforg[dm.train_index] == 1).sum() == 12
    np.testing.assert_array_equal(dm.labels[dm.train_index], ds.y[dm.train_index])  # users 0..5 -> 0..5


def test_user_split_moves_whole_writers() -> None:
    dm = module(split="users", val_fraction=0.5)
    ds = dm.dataset
    assert dm.num_classes == 3 and dm.val_index.size == 0
    assert not set(ds.y[dm.train_index]) & set(ds.y[dm.holdout_index])
    assert len(set(ds.y[dm.holdout_index])) == 5


def test_split_errors_name_the_option() -> None:
    with pytest.raises(ValueError, match="share writers"):
        module(train_users=[0, 7])
    with pytest.raises(ValueError, match="data.holdout_users"):
        module(holdout_users=[20, 30])
    with pytest.raises(ValueError, match="data.split"):
        SignatureDataModule(make_toy_dataset(), split="random")


def test_loader_crops_and_keeps_uint8() -> None:
    dm = module()
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].dtype == torch.uint8 and batch["x"].shape == (4, 1, 150, 220)
    val = next(iter(dm.val_dataloader()[0]))
    ds = dm.dataset
    first = dm.val_index[0]
    np.testing.assert_array_equal(val["x"][0, 0].numpy(), ds.x[first, 0, 10:160, 11:231])  # centre crop


def test_batch_crop_equals_per_image_slicing() -> None:
    x = torch.randint(0, 255, (5, 1, 20, 30), dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [3, 7], [10, 20], [1, 2], [10, 0]])
    out = batch_crop(x, (10, 10), offsets)
    for i, (oy, ox) in enumerate(offsets.tolist()):
        assert torch.equal(out[i], x[i, :, oy : oy + 10, ox : ox + 10])


def test_resident_loader_is_reproducible_and_covers_the_set() -> None:
    ds = make_toy_dataset(users=4, genuine=5, forgeries=0)
    args = (ds.x, ds.y, ds.yforg, ds.y, (150, 220), 6, "cpu")
    a, b = ResidentBatchLoader(*args, seed=3), ResidentBatchLoader(*args, seed=3)
    batches_a, batches_b = list(a), list(b)
    assert len(batches_a) == len(a) == 4
    assert all(torch.equal(p["x"], q["x"]) for p, q in zip(batches_a, batches_b, strict=True))
    assert sorted(torch.cat([p["user"] for p in batches_a]).tolist()) == sorted(ds.y.tolist())
    second_epoch = list(a)
    assert not torch.equal(second_epoch[0]["x"], batches_a[0]["x"])  # a new shuffle and crop each epoch


def test_augmentation_from_albumentations_is_applied() -> None:
    flip = A.Compose([A.HorizontalFlip(p=1.0)])
    dm = module(augmentation=flip, batch_size=64, input_size=(170, 242))  # crop = whole image
    ds = dm.dataset
    batch = next(iter(dm.train_dataloader()))
    flipped = {ds.x[i, 0, :, ::-1].tobytes() for i in dm.train_index}
    originals = {ds.x[i, 0].tobytes() for i in dm.train_index}
    assert all(img[0].numpy().tobytes() in flipped - originals for img in batch["x"])
    with pytest.raises(ValueError, match="device_resident"):
        SignatureDataModule(make_toy_dataset(), augmentation=flip, device_resident=True)


def test_model_input_is_float_in_unit_range() -> None:
    x = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    torch.testing.assert_close(to_model_input(x), torch.tensor([[[[0.0, 1.0]]]]))
