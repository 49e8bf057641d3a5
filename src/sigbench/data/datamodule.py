"""LightningDataModule over a sigver-format set: writer splits, crops, augmentation, and the resident path.

Three disjoint roles for writers, because signature verification is judged on writers the features never
saw: *training writers* (the classifier's classes), *validation* samples of those writers (user accuracy),
and *held-out writers* whose genuine signatures and forgeries give the verification EER logged every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from sigbench.data.formats import SignatureDataset, load_dataset, user_range
from sigbench.data.loaders import ResidentBatchLoader, SignatureTorchDataset

DatasetSource = SignatureDataset | str | Path | Callable[[], SignatureDataset]


class SignatureDataModule(pl.LightningDataModule):
    """Splits a signature set into training / validation / held-out writers and serves batches.

    Args:
        dataset: a :class:`SignatureDataset`, a path to an npz / dataset folder, or a callable returning a
            dataset (e.g. the synthetic generator as a Hydra ``_partial_``), called in ``setup``.
        train_users: writers to train on, ``[first, last)`` or a list of ids; ``None`` = every writer that
            is not held out.
        holdout_users: writers for the per-epoch verification EER; never trained on.
        split: ``"samples"`` validates on a fraction of each training writer's genuine samples (user
            accuracy); ``"users"`` moves that fraction of training writers to the held-out side instead.
        val_fraction: the fraction used by ``split``.
        include_forgeries: train on the training writers' skilled forgeries too (SigNet-F).
        input_size: crop fed to the model (random for training, centre otherwise).
        augmentation: a callable ``f(image=HxW uint8) -> {"image": ...}`` such as an albumentations Compose.
        device_resident: keep the uint8 training set on the accelerator and crop there (no DataLoader).
        seed: for the sample split (the writer split is deterministic).
        trust_pickle: read a dataset file whose arrays hold pickled objects (sigver's ``user_mapping``
            dict); off by default because unpickling a file can run code (see :mod:`sigbench.data.formats`).
        sampler: a factory ``f(labels=, yforg=) -> iterable of index arrays`` into the training subset, such
            as :class:`sigbench.data.samplers.PKSampler` as a Hydra ``_partial_``; it replaces shuffled
            batches of ``batch_size`` in both paths (metric losses need several samples per writer).
    """

    def __init__(
        self,
        dataset: DatasetSource,
        train_users: Sequence[int] | None = None,
        holdout_users: Sequence[int] | None = None,
        split: str = "samples",
        val_fraction: float = 0.1,
        include_forgeries: bool = False,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        input_size: Sequence[int] = (150, 220),
        augmentation: Callable[..., dict] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        device_resident: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        sampler: Callable[..., Iterable[np.ndarray]] | None = None,
        trust_pickle: bool = False,
    ) -> None:
        super().__init__()
        if split not in ("samples", "users"):
            raise ValueError(f"data.split={split!r} must be 'samples' or 'users'")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        if device_resident and augmentation is not None:
            raise ValueError(
                "data.augmentation runs on the CPU; it cannot be combined with data.device_resident"
            )
        self.source = dataset
        self.train_users_arg = train_users
        self.holdout_users_arg = holdout_users
        self.split = split
        self.val_fraction = val_fraction
        self.include_forgeries = include_forgeries
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.input_size = tuple(int(v) for v in input_size)
        self.augmentation = augmentation
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.device_resident = device_resident
        self.drop_last = drop_last
        self.seed = seed
        self.sampler = sampler
        self.trust_pickle = trust_pickle
        self.dataset: SignatureDataset | None = None
        self.class_users: np.ndarray = np.empty(0, dtype=np.int64)

    # ---- setup ---------------------------------------------------------------------------------------
    def load(self) -> SignatureDataset:
        if self.dataset is None:
            source = self.source
            if isinstance(source, (str, Path)):
                self.dataset = load_dataset(source, trust_pickle=self.trust_pickle)
            elif isinstance(source, SignatureDataset):
                self.dataset = source
            else:
                self.dataset = source()
        return self.dataset

    def setup(self, stage: str | None = None) -> None:
        if self.class_users.size:
            return
        ds = self.load()
        all_users = ds.users
        holdout = (
            np.intersect1d(user_range(self.holdout_users_arg), all_users)
            if self.holdout_users_arg is not None
            else np.empty(0, dtype=np.int64)
        )
        if self.holdout_users_arg is not None and holdout.size == 0:
            raise ValueError(
                f"data.holdout_users={list(self.holdout_users_arg)} selects no writer of {ds.origin}"
            )
        if self.train_users_arg is None:
            train = np.setdiff1d(all_users, holdout)
        else:
            train = np.intersect1d(user_range(self.train_users_arg), all_users)
        if train.size == 0:
            raise ValueError(f"data.train_users={self.train_users_arg} selects no writer of {ds.origin}")
        overlap = np.intersect1d(train, holdout)
        if overlap.size:
            raise ValueError(f"data.train_users and data.holdout_users share writers {overlap[:10].tolist()}")
        rng = np.random.default_rng(self.seed)
        if self.split == "users" and self.val_fraction > 0:
            moved = rng.choice(train, size=max(1, int(round(train.size * self.val_fraction))), replace=False)
            train = np.setdiff1d(train, moved)
            holdout = np.union1d(holdout, moved)
        self.class_users = train
        self.holdout_users = holdout

        in_train = np.isin(ds.y, train)
        wanted = in_train & ((ds.yforg == 0) | (self.include_forgeries & (ds.yforg == 1)))
        candidates = np.flatnonzero(wanted)
        val_mask = np.zeros(len(ds), dtype=bool)
        if self.split == "samples" and self.val_fraction > 0:
            genuine = candidates[ds.yforg[candidates] == 0]
            for user in train:  # per writer so every class keeps training and validation samples
                own = genuine[ds.y[genuine] == user]
                k = int(round(own.size * self.val_fraction))
                if k and own.size - k >= 1:
                    val_mask[rng.choice(own, size=k, replace=False)] = True
        self.train_index = np.setdiff1d(candidates, np.flatnonzero(val_mask))
        self.val_index = np.flatnonzero(val_mask)
        self.holdout_index = np.flatnonzero(np.isin(ds.y, holdout))
        self.labels = np.full(len(ds), -1, dtype=np.int64)
        self.labels[in_train] = np.searchsorted(train, ds.y[in_train])

    @property
    def num_classes(self) -> int:
        return int(self.class_users.size)

    @property
    def val_loader_kinds(self) -> list[str]:
        """What each validation loader is for, in order, so the task knows how to score it."""
        kinds = []
        if self.val_index.size:
            kinds.append("classification")
        if self.holdout_index.size:
            kinds.append("verification")
        return kinds

    # ---- loaders -------------------------------------------------------------------------------------
    def _torch_dataset(self, index: np.ndarray, crop: str, augment: Callable | None) -> SignatureTorchDataset:
        ds = self.load()
        return SignatureTorchDataset(
            ds.x[index] if not isinstance(ds.x, np.memmap) else _LazyRows(ds.x, index),
            self.labels[index],
            ds.yforg[index],
            ds.y[index],
            self.input_size,
            crop=crop,
            augment=augment,
        )

    def _loader(self, index: np.ndarray, train: bool) -> DataLoader:
        dataset = self._torch_dataset(
            index, "random" if train else "center", self.augmentation if train else None
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            drop_last=train and self.drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _train_batches(self) -> Iterable[np.ndarray] | None:
        """The configured batch sampler over the training subset (``None``: shuffled batches)."""
        if self.sampler is None:
            return None
        idx = self.train_index
        return self.sampler(labels=self.labels[idx], yforg=self.load().yforg[idx])

    def train_dataloader(self) -> DataLoader | ResidentBatchLoader:
        batches = self._train_batches()
        if self.device_resident:
            ds = self.load()
            idx = self.train_index
            return ResidentBatchLoader(
                ds.x[idx],
                self.labels[idx],
                ds.yforg[idx],
                ds.y[idx],
                self.input_size,
                self.batch_size,
                self._device(),
                crop="random",
                shuffle=True,
                drop_last=self.drop_last,
                seed=self.seed,
                sampler=batches,
            )
        if batches is not None:
            dataset = self._torch_dataset(self.train_index, "random", self.augmentation)
            return DataLoader(
                dataset,
                batch_sampler=batches,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                persistent_workers=self.num_workers > 0,
            )
        return self._loader(self.train_index, train=True)

    def val_dataloader(self) -> list[DataLoader]:
        loaders = []
        if self.val_index.size:
            loaders.append(self._loader(self.val_index, train=False))
        if self.holdout_index.size:
            loaders.append(self._loader(self.holdout_index, train=False))
        return loaders

    def holdout_dataloader(self) -> DataLoader:
        return self._loader(self.holdout_index, train=False)


class _LazyRows:
    """Row view of a memory-mapped array, so worker processes read only the samples they need."""

    def __init__(self, array: np.ndarray, index: np.ndarray) -> None:
        self.array, self.index = array, index
        self.shape = (len(index), *array.shape[1:])

    def __getitem__(self, i: int) -> np.ndarray:
        return self.array[self.index[i]]

    def __len__(self) -> int:
        return len(self.index)
