"""(noisy, clean) pairs made on the fly from any signature set, for training the SignVer cleaner.

The writer split is :class:`sigbench.data.datamodule.SignatureDataModule`'s own (same ``train_users`` /
``holdout_users`` / ``val_fraction`` semantics), so a cleaner trained with the extractor's data config
never sees the held-out writers on which the downstream verification is measured. Training pairs get new
clutter every time a sample is drawn (seeded through torch's generator, which Lightning seeds per worker);
validation pairs are fixed: sample ``i`` of the set is always cluttered by ``sample_rng(seed, i)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from sigbench.cleaning.noise import Clutter, add_clutter, sample_rng
from sigbench.data.datamodule import DatasetSource, SignatureDataModule
from sigbench.data.transforms import center_offsets, check_crop, numpy_crop


class CleaningPairs(Dataset):
    """Items ``{"noisy": uint8 1 x h x w, "clean": uint8 1 x h x w}`` from rows ``index`` of ``x``.

    Args:
        x: uint8 N x 1 x H x W (may be memory-mapped).
        index: rows of ``x`` to serve.
        size: the ``(h, w)`` crop, taken before the clutter is drawn (so the crop is fully cluttered).
        random: random crops and fresh clutter per draw (training) or centre crops with the fixed clutter
            of ``sample_rng(seed, row)`` (validation).
    """

    def __init__(
        self,
        x: np.ndarray,
        index: np.ndarray,
        size: tuple[int, int],
        clutter: Clutter,
        random: bool,
        seed: int = 0,
    ) -> None:
        check_crop((int(x.shape[2]), int(x.shape[3])), tuple(size))
        self.x, self.index, self.size = x, np.asarray(index), tuple(int(s) for s in size)
        self.clutter, self.random, self.seed = clutter, random, seed

    def __len__(self) -> int:
        return int(self.index.size)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = int(self.index[i])
        img = np.asarray(self.x[row])[0]
        if self.random:
            oy = int(torch.randint(0, img.shape[0] - self.size[0] + 1, ()).item())
            ox = int(torch.randint(0, img.shape[1] - self.size[1] + 1, ()).item())
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        else:
            oy, ox = center_offsets(img.shape, self.size)
            rng = sample_rng(self.seed, row)
        clean = np.ascontiguousarray(numpy_crop(img, self.size, (oy, ox)))
        noisy = add_clutter(clean, rng, self.clutter)
        return {"noisy": torch.from_numpy(noisy[None]), "clean": torch.from_numpy(clean[None])}


class CleaningDataModule(pl.LightningDataModule):
    """Serves cleaning pairs from a signature set.

    Args:
        dataset: a :class:`SignatureDataset`, an npz / dataset folder path, or a callable returning one (the
            synthetic generator as a Hydra ``_partial_``).
        train_users, holdout_users, val_fraction, include_forgeries: the writer split, exactly as in
            :class:`SignatureDataModule`; the cleaner trains on the training writers' samples, validates on
            their held-back genuine samples and never touches ``holdout_users``.
        clutter: what to draw (:class:`Clutter`); ``None`` = the defaults.
        patch_size: training crop ``(h, w)``; smaller than ``input_size`` makes CPU training cheaper (the
            network is fully convolutional). ``None`` = ``input_size``.
        input_size: validation crop, the extractor's input (centre crop).
        max_val_samples: validate on at most this many samples (the first ones of the held-back split).
        seed: for the sample split and the fixed validation clutter.
    """

    num_classes = 0  # no writer head: the runner passes this to the task

    def __init__(
        self,
        dataset: DatasetSource,
        train_users: Sequence[int] | None = None,
        holdout_users: Sequence[int] | None = None,
        val_fraction: float = 0.1,
        include_forgeries: bool = True,
        clutter: Clutter | None = None,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        patch_size: Sequence[int] | None = None,
        input_size: Sequence[int] = (150, 220),
        max_val_samples: int | None = 128,
        num_workers: int = 0,
        pin_memory: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(
                f"data.val_fraction must be in (0, 1) (validation pairs are needed), got {val_fraction}"
            )
        self.split = SignatureDataModule(
            dataset,
            train_users=train_users,
            holdout_users=holdout_users,
            val_fraction=val_fraction,
            include_forgeries=include_forgeries,
            input_size=input_size,
            seed=seed,
        )
        self.clutter = clutter if clutter is not None else Clutter()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.input_size = tuple(int(v) for v in input_size)
        self.patch_size = tuple(int(v) for v in patch_size) if patch_size is not None else self.input_size
        if len(self.patch_size) != 2 or len(self.input_size) != 2:
            raise ValueError("data.patch_size and data.input_size must be [height, width]")
        self.max_val_samples = max_val_samples
        self.num_workers, self.pin_memory, self.seed = num_workers, pin_memory, seed

    def setup(self, stage: str | None = None) -> None:
        self.split.setup(stage)
        val = self.split.val_index
        self.val_index = val[: self.max_val_samples] if self.max_val_samples is not None else val
        self.train_index = self.split.train_index
        if self.val_index.size == 0:
            raise ValueError(
                "data: no validation samples; raise data.val_fraction or give more samples per writer"
            )

    def _loader(self, index: np.ndarray, train: bool) -> DataLoader:
        pairs = CleaningPairs(
            self.split.load().x,
            index,
            self.patch_size if train else self.input_size,
            self.clutter,
            random=train,
            seed=self.seed,
        )
        return DataLoader(
            pairs,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_index, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_index, train=False)
