"""Torch views of a signature set: a map-style Dataset for DataLoader workers, and a loader whose whole
uint8 set lives on the accelerator and is cropped there in one gather per batch.

The resident loader exists because SigNet is small: with a fast GPU, a DataLoader that crops on the CPU and
copies every batch is the bottleneck, while the whole of GPDS-960 at 170 x 242 uint8 is only ~1 GiB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from sigbench.data.transforms import batch_crop, center_offsets, check_crop, numpy_crop, random_offsets


class SignatureTorchDataset(Dataset):
    """Items are dicts ``{"x": uint8 1 x h x w, "y": label, "yforg": 0/1/2, "user": original user id}``.

    Args:
        x: uint8 N x 1 x H x W (may be memory-mapped).
        labels: the training label of each sample (writer index 0..C-1 for the classifier, or -1).
        crop: ``"random"`` (training) or ``"center"`` (evaluation).
        augment: a callable on an H x W uint8 array returning the same (e.g. an albumentations Compose).
    """

    def __init__(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        yforg: np.ndarray,
        users: np.ndarray,
        input_size: tuple[int, int],
        crop: str = "center",
        augment: Callable[..., dict] | None = None,
    ) -> None:
        if crop not in ("random", "center"):
            raise ValueError(f"crop must be 'random' or 'center', got {crop!r}")
        self.x, self.labels, self.yforg, self.users = x, labels, yforg, users
        self.input_size = tuple(input_size)
        self.image_size = (int(x.shape[2]), int(x.shape[3]))
        check_crop(self.image_size, self.input_size)
        self.crop = crop
        self.augment = augment

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        img = np.asarray(self.x[i])  # 1 x H x W uint8
        if self.augment is not None:
            img = self.augment(image=img[0])["image"][None]
        if self.crop == "random":
            oy = int(torch.randint(0, img.shape[1] - self.input_size[0] + 1, ()).item())
            ox = int(torch.randint(0, img.shape[2] - self.input_size[1] + 1, ()).item())
        else:
            oy, ox = center_offsets(img.shape[1:], self.input_size)
        img = np.ascontiguousarray(numpy_crop(img, self.input_size, (oy, ox)))
        return {
            "x": torch.from_numpy(img),
            "y": torch.tensor(int(self.labels[i])),
            "yforg": torch.tensor(int(self.yforg[i])),
            "user": torch.tensor(int(self.users[i])),
        }


class ResidentBatchLoader:
    """Batches cropped on the device from a uint8 set that was moved there once.

    Iterating gives ``len(self)`` batches (dicts like :class:`SignatureTorchDataset` items, batched).
    Shuffling and crop offsets come from a generator seeded with ``seed + epoch`` so runs are reproducible.
    """

    def __init__(
        self,
        x: np.ndarray | torch.Tensor,
        labels: np.ndarray,
        yforg: np.ndarray,
        users: np.ndarray,
        input_size: tuple[int, int],
        batch_size: int,
        device: torch.device | str,
        crop: str = "random",
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        sampler: object | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.x = torch.as_tensor(np.asarray(x)).to(self.device)
        self.labels = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        self.yforg = torch.as_tensor(yforg, dtype=torch.long, device=self.device)
        self.users = torch.as_tensor(users, dtype=torch.long, device=self.device)
        self.input_size = tuple(input_size)
        self.image_size = (int(self.x.shape[2]), int(self.x.shape[3]))
        check_crop(self.image_size, self.input_size)
        self.batch_size, self.crop, self.shuffle, self.drop_last = batch_size, crop, shuffle, drop_last
        self.seed, self.epoch = seed, 0
        self.sampler = sampler

    def __len__(self) -> int:
        if self.sampler is not None:
            return len(self.sampler)
        n = int(self.x.shape[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        if self.sampler is not None:
            for idx in self.sampler:
                yield torch.as_tensor(idx, device=self.device)
            return
        n = int(self.x.shape[0])
        order = (
            torch.randperm(n, generator=generator, device=self.device)
            if self.shuffle
            else torch.arange(n, device=self.device)
        )
        for b in range(len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(self.seed + self.epoch)
        self.epoch += 1
        for idx in self._batches(generator):
            imgs = self.x[idx]
            offsets = (
                random_offsets(len(idx), self.image_size, self.input_size, generator, self.device)
                if self.crop == "random"
                else None
            )
            yield {
                "x": batch_crop(imgs, self.input_size, offsets),
                "y": self.labels[idx],
                "yforg": self.yforg[idx],
                "user": self.users[idx],
            }
