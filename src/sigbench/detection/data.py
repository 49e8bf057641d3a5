"""Detection data: annotated pages (any of the formats in :mod:`.pages`) as a Lightning data module.

Each item is one page -- or one tile of a page when ``tile_size`` is set -- resized so that the page's
longer side is ``long_side``, augmented box-aware, as a ``3 x H x W`` uint8 tensor with a torchvision target
``{"boxes": (N, 4) float32 xyxy, "labels": (N,) int64 0-based}`` and a ``meta`` dict (page name, scale,
tile origin). Images stay uint8 until the model (:class:`sigbench.detection.models.Detector`).

Splits follow the AOSSig layout: training pages minus a seeded validation fraction train, the ``test``
split is held out for :meth:`DetectionDataModule.test_dataloader` and for ``sigbench-detect`` evaluation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from sigbench.detection.augment import LABEL_FIELD
from sigbench.detection.pages import PageRecord, read_pages
from sigbench.detection.tiling import clip_boxes, crop_tile, resize_long_side, tile_origins
from sigbench.images import read_rgb

log = logging.getLogger(__name__)
PathSource = str | os.PathLike | Callable[[], str | os.PathLike]
Item = tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, Any]]


def scaled_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """``(height, width)`` of a page after :func:`resize_long_side` (computed from its header size)."""
    if long_side is None:
        return height, width
    scale = long_side / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


class PageDataset(Dataset):
    """Pages (or tiles of pages) with their boxes; see the module docstring for what an item is.

    Args:
        records: the pages.
        long_side: every page is resized so that its longer side has this many pixels (``None``: as is).
        tile_size: cut each (resized) page into overlapping square tiles of this size (``None``: whole pages).
        tile_overlap: pixels shared by neighbouring tiles; make it larger than a signature so that every
            signature is whole in at least one tile.
        augmentation: ``f(image=, bboxes=, labels=) -> dict`` such as an albumentations Compose with
            ``BboxParams(format="pascal_voc", label_fields=["labels"])``; re-seeded per item from torch's
            RNG so that runs are reproducible under ``seed_everything`` whatever the worker count.
        min_visibility: a box cut by a tile border is kept when at least this fraction of it is inside.
    """

    def __init__(
        self,
        records: Sequence[PageRecord],
        long_side: int | None = 1024,
        tile_size: int | None = None,
        tile_overlap: int = 128,
        augmentation: Callable[..., dict] | None = None,
        min_visibility: float = 0.3,
    ) -> None:
        self.records = list(records)
        self.long_side = long_side
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.augmentation = augmentation
        self.min_visibility = min_visibility
        self.items: list[tuple[int, int, int]] = []
        for index, record in enumerate(self.records):
            if tile_size is None:
                self.items.append((index, 0, 0))
                continue
            height, width = scaled_size(record.width, record.height, long_side)
            self.items.extend((index, x, y) for x, y in tile_origins(height, width, tile_size, tile_overlap))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> Item:
        index, x0, y0 = self.items[item]
        record = self.records[index]
        image, scale = resize_long_side(read_rgb(record.image), self.long_side)
        boxes, labels = record.boxes * scale, record.labels
        name = record.name
        if self.tile_size is not None:
            image = crop_tile(image, x0, y0, self.tile_size)
            boxes, labels = clip_boxes(boxes, labels, x0, y0, self.tile_size, self.min_visibility)
            name = f"{record.name}@{x0}_{y0}"
        else:
            height, width = image.shape[:2]
            boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        if self.augmentation is not None:
            if hasattr(self.augmentation, "set_random_seed"):
                self.augmentation.set_random_seed(int(torch.randint(0, 2**31 - 1, ())))
            out = self.augmentation(image=image, bboxes=boxes, **{LABEL_FIELD: labels})
            image = out["image"]
            boxes = np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4)
            labels = np.asarray(out[LABEL_FIELD], dtype=np.int64)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        # torchvision rejects degenerate boxes; a sub-pixel sliver left by clipping is no object anyway
        solid = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        target = {
            "boxes": torch.as_tensor(boxes[solid]),
            "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1)[solid]),
        }
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return tensor, target, {"name": name, "scale": scale, "origin": (x0, y0), "image": str(record.image)}


def collate_pages(
    batch: Sequence[Item],
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]], list[dict]]:
    """Detection batches are lists: pages differ in size and in their number of boxes."""
    images, targets, metas = zip(*batch, strict=True)
    return list(images), list(targets), list(metas)


class DetectionDataModule(pl.LightningDataModule):
    """Annotated pages for training, validating and testing a detector.

    Args:
        source: the data root (or COCO file), or a callable returning it -- e.g. a ``_partial_``
            ``sigbench.documents.synthesize.load_or_synthesize`` that synthesises the pages on first use.
        format: ``aossig``, ``coco``, ``yolo`` or ``gedi`` (:mod:`sigbench.detection.pages`).
        classes: the detector's classes; objects of other classes are ignored.
        levels: AOSSig difficulty levels to read (``None``: every ``L?`` folder present).
        val_fraction: share of the training pages held out (seeded) for validation metrics.
        long_side, tile_size, tile_overlap, min_visibility: page geometry (see :class:`PageDataset`).
        augmentation: box-aware augmentation for training items only.
        batch_size: pages (or tiles) per step; ``num_workers``: DataLoader processes.
        seed: the validation split's seed.
    """

    def __init__(
        self,
        source: PathSource,
        format: str = "aossig",
        classes: Sequence[str] = ("signature",),
        levels: Sequence[str] | None = None,
        val_fraction: float = 0.1,
        long_side: int | None = 1024,
        tile_size: int | None = None,
        tile_overlap: int = 128,
        augmentation: Callable[..., dict] | None = None,
        batch_size: int = 4,
        num_workers: int = 0,
        seed: int = 0,
        min_visibility: float = 0.3,
    ) -> None:
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        self.source = source
        self.format = format
        self.classes = list(classes)
        self.levels = list(levels) if levels is not None else None
        self.val_fraction = val_fraction
        self.geometry = {"long_side": long_side, "tile_size": tile_size, "tile_overlap": tile_overlap}
        self.min_visibility = min_visibility
        self.augmentation = augmentation
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.num_classes = len(self.classes)
        self._root: Path | None = None
        self.train_pages: list[PageRecord] | None = None
        self.val_pages: list[PageRecord] = []
        self.test_pages: list[PageRecord] | None = None

    @property
    def root(self) -> Path:
        """The data root, materialised (synthesised) on first access when ``source`` is a callable."""
        if self._root is None:
            self._root = Path(self.source() if callable(self.source) else self.source)
        return self._root

    def prepare_data(self) -> None:
        self.root  # noqa: B018 - synthesise / check the data once, before any worker starts

    def read(self, split: str) -> list[PageRecord]:
        return read_pages(self.root, self.format, split, self.classes, self.levels)

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", "validate", None) and self.train_pages is None:
            pages = self.read("training")
            if not pages:
                raise FileNotFoundError(f"{self.root}: no training pages in format {self.format!r}")
            order = np.random.default_rng(self.seed).permutation(len(pages))
            n_val = int(round(self.val_fraction * len(pages))) if len(pages) > 1 else 0
            if self.val_fraction > 0:
                n_val = min(max(n_val, 1), len(pages) - 1)
            self.val_pages = [pages[i] for i in sorted(order[:n_val])]
            self.train_pages = [pages[i] for i in sorted(order[n_val:])]
            log.info(
                "detection data %s: %d training, %d validation pages", self.root, len(self.train_pages), n_val
            )
        if stage in ("test", None) and self.test_pages is None:
            self.test_pages = self.read("test")

    def dataset(self, pages: Sequence[PageRecord], augment: bool = False) -> PageDataset:
        augmentation = self.augmentation if augment else None
        return PageDataset(
            pages, augmentation=augmentation, min_visibility=self.min_visibility, **self.geometry
        )

    def _loader(self, dataset: PageDataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate_pages,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset(self.train_pages or [], augment=True), shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.dataset(self.val_pages), shuffle=False) if self.val_pages else []

    def test_dataloader(self) -> DataLoader | list:
        return self._loader(self.dataset(self.test_pages or []), shuffle=False) if self.test_pages else []
