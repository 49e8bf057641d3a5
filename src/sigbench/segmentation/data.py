"""Signature segmentation data over the AOSSig layout: page images, ink masks and signature quads.

Two modes, one per published recipe:

* ``crops`` (the AOSSig recipe): fixed-size windows (``crop_size`` = [height, width], 128 x 256 by default)
  around each annotated signature, the window placed at a random point of the signature's box each time it is
  drawn (random jitter), plus ``negatives_per_page`` windows at random places of every page so the model
  also sees printed text and learns *not* to mark it. Crops are cut at page resolution (after the optional
  ``long_side`` resize), so a model trained on them segments whole pages at the same scale by tiling
  (``sigbench-segment``). The regions a crop can come from are cut once at set-up and kept in memory: each
  page is decoded once, not once per crop and epoch.
* ``pages``: whole pages resized so their long side is ``long_side`` and padded (white paper, empty mask) to
  a ``long_side`` square, so pages of any shape batch together.

Images are 3-channel uint8 (C x H x W), masks uint8 0/1 (H x W), until the model. Training pages are split
into training and validation pages (``val_fraction``, seeded); the ``test`` pages of the layout are never
read here -- they are for ``sigbench-segment ... gt=``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from sigbench.detection.tiling import resize_long_side
from sigbench.documents.formats import read_quads
from sigbench.images import read_rgb
from sigbench.segmentation.evaluate import read_mask

log = logging.getLogger(__name__)

Source = str | os.PathLike | Callable[[], str | os.PathLike]
MODES = ("crops", "pages")
PAPER = 255  # padding value of images: white paper


@dataclass(frozen=True)
class PageRecord:
    """One page of the layout: image, ink mask and (optional) quad label file."""

    name: str
    image: Path
    mask: Path
    label: Path | None


def find_pages(
    root: str | os.PathLike, split: str = "training", levels: Sequence[str] | None = None
) -> list[PageRecord]:
    """Pages of ``root/L?/data/<split>/*.jpg`` that have a mask in ``anno_mask`` (missing masks are errors).

    ``levels`` restricts to some difficulty levels (``["L1", "L2"]``); ``None`` takes every ``L*`` folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"segmentation data root {root} does not exist")
    present = sorted(p.name for p in root.glob("L*") if p.is_dir())
    chosen = list(levels) if levels is not None else present
    unknown = sorted(set(chosen) - set(present))
    if unknown:
        raise ValueError(f"levels {unknown} not found in {root} (it has {present})")
    records = []
    for level in chosen:
        for image in sorted((root / level / "data" / split).glob("*.jpg")):
            mask = root / level / "anno_mask" / split / f"{image.stem}.png"
            if not mask.exists():
                raise FileNotFoundError(f"{image}: no mask {mask}")
            label = root / level / "anno_label" / split / f"{image.stem}.txt"
            records.append(
                PageRecord(f"{level}/{image.stem}", image, mask, label if label.exists() else None)
            )
    if not records:
        raise ValueError(f"no pages in {root}/{{{','.join(chosen)}}}/data/{split}/*.jpg")
    return records


def read_page(record: PageRecord, long_side: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """RGB image (H x W x 3 uint8), 0/1 mask (H x W uint8) and the scale applied (``long_side`` resize)."""
    rgb = read_rgb(record.image)
    mask = read_mask(record.mask)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"{record.mask}: size {mask.shape[::-1]} differs from its page {rgb.shape[1::-1]}")
    image = rgb
    mask = mask.astype(np.uint8)
    scale = 1.0
    if long_side:
        image, scale = resize_long_side(image, long_side)
        mask = resize_mask(mask, image.shape[:2])
    return image, mask, scale


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A 0/1 mask resized to ``shape`` (H, W): area-averaged then thresholded at one half, so thin strokes
    shrink the way they look rather than vanishing or fattening as nearest-neighbour sampling does."""
    if mask.shape[:2] == tuple(shape):
        return mask
    resized = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return (resized >= 0.5).astype(np.uint8)


def pad_to(image: np.ndarray, shape: tuple[int, int], value: int) -> np.ndarray:
    """Pad bottom / right to ``shape`` (H, W) with ``value``."""
    h, w = image.shape[:2]
    pads = [(0, shape[0] - h), (0, shape[1] - w)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pads, constant_values=value)


def quad_boxes(record: PageRecord, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """Integer boxes (x0, y0, x1, y1), inclusive-exclusive, of the page's quads in resized coordinates,
    clipped to the page; boxes with no area are dropped."""
    if record.label is None:
        return np.zeros((0, 4), dtype=np.int64)
    bounds = np.array([a.bounds() for a in read_quads(record.label)], dtype=np.float64).reshape(-1, 4) * scale
    h, w = shape
    boxes = np.stack(
        [
            np.clip(np.floor(bounds[:, 0]), 0, w),
            np.clip(np.floor(bounds[:, 1]), 0, h),
            np.clip(np.ceil(bounds[:, 2]), 0, w),
            np.clip(np.ceil(bounds[:, 3]), 0, h),
        ],
        axis=1,
    ).astype(np.int64)
    return boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]


@dataclass
class Region:
    """Where crops of one object may come from: a patch of the page (padded to hold every window whose
    centre lies in the object's box) and the range of window corners inside it."""

    image: np.ndarray  # h x w x 3 uint8
    mask: np.ndarray  # h x w uint8 0/1
    corner_max: tuple[int, int]  # the window's top-left corner is drawn from [0, corner_max] (y, x)
    name: str


def cut_region(
    image: np.ndarray, mask: np.ndarray, box: Sequence[int], crop: tuple[int, int], name: str
) -> Region:
    """The patch of the page covering every ``crop`` window centred inside ``box`` (x0, y0, x1, y1);
    outside the page it is white paper with an empty mask."""
    ch, cw = crop
    x0, y0, x1, y1 = (int(v) for v in box)
    top, left = y0 - ch // 2, x0 - cw // 2
    bottom, right = max(y1 - 1, y0) - ch // 2 + ch, max(x1 - 1, x0) - cw // 2 + cw
    h, w = image.shape[:2]
    pad = ((max(0, -top), max(0, bottom - h)), (max(0, -left), max(0, right - w)))
    sy, sx = slice(max(top, 0), min(bottom, h)), slice(max(left, 0), min(right, w))
    patch = np.pad(image[sy, sx], (*pad, (0, 0)), constant_values=PAPER)
    patch_mask = np.pad(mask[sy, sx], pad, constant_values=0)
    return Region(patch, patch_mask, (bottom - top - ch, right - left - cw), name)


class CropDataset(Dataset):
    """Windows of size ``crop`` from :class:`Region` s: a random corner when ``jitter`` (training), the
    centred one otherwise (validation: the same crops every epoch).

    Random corners come from torch's global generator, which Lightning seeds (``seed_everything``) and
    DataLoader workers re-seed per epoch: reproducible runs, different crops every epoch.
    """

    def __init__(
        self, regions: list[Region], crop: tuple[int, int], jitter: bool, augment: Callable | None = None
    ) -> None:
        self.regions = regions
        self.crop = tuple(crop)
        self.jitter = jitter
        self.augment = augment

    def __len__(self) -> int:
        return len(self.regions)

    def __getitem__(self, i: int) -> dict:
        region = self.regions[i]
        ymax, xmax = region.corner_max
        if self.jitter:
            y = int(torch.randint(0, ymax + 1, ()).item())
            x = int(torch.randint(0, xmax + 1, ()).item())
        else:
            y, x = ymax // 2, xmax // 2
        ch, cw = self.crop
        image = region.image[y : y + ch, x : x + cw]
        mask = region.mask[y : y + ch, x : x + cw]
        return to_sample(image, mask, region.name, self.augment)


class PageDataset(Dataset):
    """Whole pages, resized by long side and padded to a square (read from disk on each access)."""

    def __init__(self, records: list[PageRecord], long_side: int, augment: Callable | None = None) -> None:
        self.records = records
        self.long_side = long_side
        self.augment = augment

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        image, mask, _ = read_page(self.records[i], self.long_side)
        side = (self.long_side, self.long_side)
        return to_sample(
            pad_to(image, side, PAPER), pad_to(mask, side, 0), self.records[i].name, self.augment
        )


def to_sample(image: np.ndarray, mask: np.ndarray, name: str, augment: Callable | None) -> dict:
    """``{"image": 3 x H x W uint8, "mask": H x W uint8 0/1, "name"}`` after the joint augmentation."""
    if augment is not None:
        out = augment(image=np.ascontiguousarray(image), mask=np.ascontiguousarray(mask))
        image, mask = out["image"], out["mask"]
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
        "mask": torch.from_numpy(np.ascontiguousarray(mask > 0).astype(np.uint8)),
        "name": name,
    }


def resolve_source(source: Source) -> Path:
    """The data root of a path or of a callable returning one (a cached ``load_or_synthesize``)."""
    root = source() if callable(source) else source
    return Path(root)


class SegmentationDataModule(pl.LightningDataModule):
    """Signature segmentation data (see the module docstring for the two modes).

    Args:
        source: the AOSSig-layout root, or a callable returning it (a ``_partial_`` ``load_or_synthesize``).
        levels: difficulty levels to use (``["L1", "L3"]``); ``None`` = all in the root.
        mode: ``crops`` or ``pages``.
        crop_size: [height, width] of the crops (mode ``crops``).
        long_side: resize pages so their long side has this many pixels first (``None``: native size in
            ``crops`` mode; required in ``pages`` mode).
        val_fraction: fraction of the training pages held out for validation (at least one page).
        augmentation: joint ``f(image=HxWx3 uint8, mask=HxW uint8) -> {"image", "mask"}`` for training,
            e.g. an albumentations ``Compose``.
        negatives_per_page: extra crops per page at random places (text, empty paper) in mode ``crops``.
        max_pages: use at most this many training pages (the first ones in name order); ``None`` = all.
        batch_size, eval_batch_size, num_workers: the loaders.
        seed: seeds the training / validation split and the placement of negative crops.
    """

    num_classes = 1  # one foreground class, signature ink; logits are N x 1 x H x W

    def __init__(
        self,
        source: Source,
        levels: list[str] | None = None,
        mode: str = "crops",
        crop_size: list[int] | None = None,
        long_side: int | None = None,
        val_fraction: float = 0.1,
        augmentation: Callable[..., dict] | None = None,
        negatives_per_page: int = 1,
        max_pages: int | None = None,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 42,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"data.mode={mode!r} is not one of {list(MODES)}")
        crop = tuple(crop_size) if crop_size is not None else (128, 256)
        if len(crop) != 2 or min(crop) < 8:
            raise ValueError(f"data.crop_size must be [height, width] of at least 8 pixels, got {list(crop)}")
        if mode == "pages" and not long_side:
            raise ValueError("data.long_side is required in mode 'pages' (pages are resized to batch them)")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        self.source = source
        self.levels = levels
        self.mode = mode
        self.crop_size = crop
        self.long_side = long_side
        self.val_fraction = val_fraction
        self.augmentation = augmentation
        self.negatives_per_page = negatives_per_page
        self.max_pages = max_pages
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.root: Path | None = None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def prepare_data(self) -> None:
        self.root = resolve_source(self.source)  # synthesises the set on first use

    def split_pages(self, records: list[PageRecord]) -> tuple[list[PageRecord], list[PageRecord]]:
        """Seeded page-level split: crops of one page never land on both sides."""
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(records))
        n_val = max(1, round(self.val_fraction * len(records)))
        if n_val >= len(records):
            raise ValueError(f"{len(records)} training pages are too few to hold out {n_val} for validation")
        val = sorted(order[:n_val].tolist())
        train = sorted(order[n_val:].tolist())
        return [records[i] for i in train], [records[i] for i in val]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if self.root is None:
            self.prepare_data()
        records = find_pages(self.root, "training", self.levels)
        if self.max_pages is not None:
            records = records[: self.max_pages]
        train, val = self.split_pages(records)
        if self.mode == "pages":
            self.train_set = PageDataset(train, self.long_side, self.augmentation)
            self.val_set = PageDataset(val, self.long_side)
        else:
            self.train_set = CropDataset(self.regions(train, 0), self.crop_size, True, self.augmentation)
            self.val_set = CropDataset(self.regions(val, 1), self.crop_size, False)
        log.info(
            "segmentation data: %d training, %d validation samples", len(self.train_set), len(self.val_set)
        )

    def regions(self, records: list[PageRecord], stream: int) -> list[Region]:
        """Crop regions of every signature quad, plus seeded random negatives, of ``records``."""
        rng = np.random.default_rng([self.seed, stream])
        ch, cw = self.crop_size
        out = []
        for record in records:
            image, mask, scale = read_page(record, self.long_side)
            h, w = mask.shape
            for k, box in enumerate(quad_boxes(record, scale, (h, w))):
                out.append(cut_region(image, mask, box, self.crop_size, f"{record.name}#{k}"))
            for k in range(self.negatives_per_page):
                cy = int(rng.integers(min(ch // 2, h - 1), max(h - ch // 2, ch // 2 + 1)))
                cx = int(rng.integers(min(cw // 2, w - 1), max(w - cw // 2, cw // 2 + 1)))
                out.append(
                    cut_region(image, mask, (cx, cy, cx + 1, cy + 1), self.crop_size, f"{record.name}~{k}")
                )
        if not out:
            raise ValueError("no crops: the pages have no quads in anno_label and negatives_per_page is 0")
        return out

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            # BatchNorm (DeepLabV3's pooling branch above all) cannot train on a batch of one sample
            drop_last=train and len(dataset) > self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)
