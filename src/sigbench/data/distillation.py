"""Paired data for distillation with continual learning: inverted images + a continual signature set.

Each training step takes one batch of *inverted* images (synthesised from the teacher, labelled with the
teacher class) and one batch of *continual* data (new writers).  The continual side is an ordinary
:class:`SignatureDataModule` split (training / validation / held-out writers, random crops); the inverted
side is used as it is (150 x 220, no crop, no augmentation) and, as in Viana et al., drawn *with
replacement* to the continual training set's length every epoch, so both sides give the same number of
batches whatever their sizes.  A fraction of the inverted images is held back for the inverted-data
validation accuracy.  Without a continual set (``dataset=None``) this is plain distillation: the inverted
training images, shuffled, once per epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from sigbench.data.datamodule import DatasetSource, SignatureDataModule
from sigbench.data.formats import SignatureDataset, load_dataset
from sigbench.data.loaders import ResidentBatchLoader, SignatureTorchDataset


class WithReplacementBatches:
    """Index batches drawn with replacement from ``range(population)``, ``num_samples`` indices an epoch.

    Serves as a DataLoader ``batch_sampler`` and as a :class:`ResidentBatchLoader` ``sampler``.  Each
    iteration (epoch) draws anew from ``seed + epoch``.
    """

    def __init__(self, population: int, num_samples: int, batch_size: int, seed: int = 0) -> None:
        if population < 1:
            raise ValueError("cannot sample from an empty set")
        if num_samples < 1 or batch_size < 1:
            raise ValueError(f"num_samples and batch_size must be >= 1, got {num_samples}, {batch_size}")
        self.population, self.num_samples, self.batch_size = population, num_samples, batch_size
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def draw(self) -> np.ndarray:
        """The next epoch's indices (``num_samples`` of them, repeats allowed)."""
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        return rng.integers(0, self.population, size=self.num_samples)

    def __iter__(self) -> Iterator[np.ndarray]:
        index = self.draw()
        for start in range(0, self.num_samples, self.batch_size):
            yield index[start : start + self.batch_size]


def inverted_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) positions: a seeded random ``1 - val_fraction`` / ``val_fraction`` split of the samples
    (the reference splits the inverted set 90 / 10 at random, not per class)."""
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    n_train = int((1.0 - val_fraction) * n)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


class DistillationDataModule(SignatureDataModule):
    """A continual :class:`SignatureDataModule` plus inverted images of the teacher's classes.

    Args:
        inverted: the inverted set (npz / folder written by ``sigbench-invert``, or the continual_sigver
            ``data.npz``): 1 x 150 x 220 uint8 images, ``y`` = teacher class.
        dataset: the continual signature set (new writers, held-out writers); ``None`` = plain distillation.
        inverted_users: ``[first, last)``: keep inverted samples with ``y`` in the range and use
            ``y - first`` as the teacher class (the continual_sigver file labels GPDS users 350..881);
            ``None``: every sample, ``y`` is the teacher class.
        inverted_val_fraction: inverted samples held back for the inverted-data validation accuracy.
        inverted_batch_size: inverted images per step (default ``batch_size``).
        The other arguments are :class:`SignatureDataModule`'s, for the continual set (``trust_pickle``
        for the inverted set too: continual_sigver's ``data.npz`` pickles its ``user_mapping``).
    """

    def __init__(
        self,
        inverted: SignatureDataset | str | Path,
        dataset: DatasetSource | None = None,
        inverted_users: Sequence[int] | None = None,
        inverted_val_fraction: float = 0.1,
        inverted_batch_size: int | None = None,
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
        super().__init__(
            dataset=dataset,  # type: ignore[arg-type]  # None: plain distillation (see setup)
            train_users=train_users,
            holdout_users=holdout_users,
            split=split,
            val_fraction=val_fraction,
            include_forgeries=include_forgeries,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            input_size=input_size,
            augmentation=augmentation,
            num_workers=num_workers,
            pin_memory=pin_memory,
            device_resident=device_resident,
            drop_last=drop_last,
            seed=seed,
            sampler=sampler,
            trust_pickle=trust_pickle,
        )
        if not 0.0 <= inverted_val_fraction < 1.0:
            raise ValueError(f"data.inverted_val_fraction must be in [0, 1), got {inverted_val_fraction}")
        if inverted_users is not None and len(inverted_users) != 2:
            raise ValueError(f"data.inverted_users must be [first, last), got {list(inverted_users)}")
        self.inverted_source = inverted
        self.inverted_users = (
            None if inverted_users is None else (int(inverted_users[0]), int(inverted_users[1]))
        )
        self.inverted_val_fraction = inverted_val_fraction
        self.inverted_batch_size = int(inverted_batch_size or batch_size)
        self.inverted: SignatureDataset | None = None

    @property
    def continual(self) -> bool:
        return self.source is not None

    # ---- setup ---------------------------------------------------------------------------------------
    def load(self) -> SignatureDataset:
        if not self.continual:
            raise ValueError(
                "plain distillation has no signature set (data.dataset=null); evaluate with data="
            )
        return super().load()

    def load_inverted(self) -> SignatureDataset:
        """The inverted set, checked: genuine, already at the model's input size, labels = teacher class."""
        if self.inverted is not None:
            return self.inverted
        source = self.inverted_source
        if isinstance(source, SignatureDataset):
            ds = source
        else:
            ds = load_dataset(source, trust_pickle=self.trust_pickle)
        if ds.image_size != self.input_size:
            raise ValueError(
                f"{ds.origin}: inverted images are {list(ds.image_size)}; they are used without cropping, "
                f"so they must be data.input_size={list(self.input_size)}"
            )
        keep = ds.yforg == 0
        if self.inverted_users is not None:
            first, last = self.inverted_users
            keep &= (ds.y >= first) & (ds.y < last)
        if not keep.any():
            raise ValueError(
                f"{ds.origin}: no inverted sample selected (data.inverted_users={self.inverted_users})"
            )
        self.inverted = ds.subset(keep)
        return self.inverted

    def setup(self, stage: str | None = None) -> None:
        if self.continual:
            super().setup(stage)
        else:
            self.train_index = self.val_index = self.holdout_index = np.empty(0, dtype=np.int64)
        if hasattr(self, "inverted_train"):
            return
        ds = self.load_inverted()
        offset = self.inverted_users[0] if self.inverted_users is not None else 0
        self.inverted_labels = (ds.y - offset).astype(np.int64)
        self.inverted_train, self.inverted_val = inverted_split(
            self.inverted_labels, self.inverted_val_fraction, self.seed
        )

    @property
    def teacher_labels(self) -> int:
        """1 + the largest teacher class in the inverted set (must not exceed the teacher's classes)."""
        return int(self.inverted_labels.max()) + 1

    @property
    def val_loader_kinds(self) -> list[str]:
        kinds = super().val_loader_kinds if self.continual else []
        return [*kinds, "inverted"] if self.inverted_val.size else kinds

    # ---- loaders -------------------------------------------------------------------------------------
    def _inverted_dataset(self, index: np.ndarray) -> SignatureTorchDataset:
        ds = self.load_inverted()
        return SignatureTorchDataset(
            ds.x[index], self.inverted_labels[index], ds.yforg[index], ds.y[index], self.input_size, "center"
        )

    def _inverted_train_loader(self) -> DataLoader | ResidentBatchLoader:
        index = self.inverted_train
        # continual: with replacement to the continual set's length; plain: each image once, shuffled
        batches = (
            WithReplacementBatches(len(index), len(self.train_index), self.inverted_batch_size, self.seed)
            if self.continual
            else None
        )
        if self.device_resident:
            ds = self.load_inverted()
            return ResidentBatchLoader(
                ds.x[index],
                self.inverted_labels[index],
                ds.yforg[index],
                ds.y[index],
                self.input_size,
                self.inverted_batch_size,
                self._device(),
                crop="center",
                shuffle=True,
                seed=self.seed,
                sampler=batches,
            )
        dataset = self._inverted_dataset(index)
        common = {"num_workers": self.num_workers, "pin_memory": self.pin_memory}
        if batches is not None:
            return DataLoader(dataset, batch_sampler=batches, **common)
        return DataLoader(dataset, batch_size=self.inverted_batch_size, shuffle=True, **common)

    def train_dataloader(self) -> dict[str, DataLoader | ResidentBatchLoader]:
        """``{"inverted": ..., "continual": ...}`` (Lightning pairs them batch by batch)."""
        loaders = {"inverted": self._inverted_train_loader()}
        if self.continual:
            loaders["continual"] = super().train_dataloader()
        return loaders

    def val_dataloader(self) -> list[DataLoader]:
        loaders = super().val_dataloader() if self.continual else []
        if self.inverted_val.size:
            loaders.append(
                DataLoader(
                    self._inverted_dataset(self.inverted_val),
                    batch_size=self.eval_batch_size,
                    num_workers=self.num_workers,
                )
            )
        return loaders
