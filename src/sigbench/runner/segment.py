"""``sigbench-segment``: signature ink masks of page images with a trained segmentation checkpoint.

Pages are read by :func:`sigbench.images.iter_pages`, as ``sigbench-detect`` reads them: images, every page
of a multi-page TIFF or PDF (``<stem>_p001`` ...), all checked before the first mask is written
(``skip_bad``, ``max_pixels``; see :func:`sigbench.images.gather_inputs`).

The model is rebuilt from the config its checkpoint carries. Pages are processed at the scale the model was
trained at -- resized so their long side is the training ``data.long_side`` when there was one -- and cut into
overlapping square tiles; tiles of several pages go through the network together (``batch_size``), their
foreground probabilities are averaged where tiles overlap, resized back to the page's size and thresholded.
Each page gives ``<output>/<stem>.png`` (uint8, 255 on ink), written atomically; ``overlays=true`` adds
``<output>/overlays/<stem>.jpg``. With ``gt=DIR`` the masks are scored with
:func:`sigbench.segmentation.evaluate.evaluate_masks` (fgIoU, F, mean SSIM of AOSSig).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import DictConfig

from sigbench.atomic import atomic_write_bytes, remove_stale_temps_in
from sigbench.checkpoint_io import load_task
from sigbench.detection.tiling import crop_tile, resize_long_side, tile_origins
from sigbench.features.extract import pick_device
from sigbench.images import (
    DEFAULT_DPI,
    DEFAULT_MAX_PIXELS,
    gather_inputs,
    iter_pages,
    skipped_note,
    write_skipped,
)
from sigbench.runner.preflight import check_output
from sigbench.runner.summary import print_summary
from sigbench.runner.validation import ConfigError
from sigbench.segmentation.evaluate import evaluate_masks, read_mask
from sigbench.segmentation.overlay import overlay

DEFAULT_CROP_TILE = 512  # tile side for models trained on crops (fully convolutional: any size works)


@dataclass
class _Page:
    """A page in flight: its resized image, the probability sums of its tiles, and tiles still to come."""

    stem: str
    original: np.ndarray  # the RGB page as read
    work: np.ndarray  # resized RGB page
    prob: np.ndarray
    count: np.ndarray
    pending: int


class Segmenter:
    """Batched, tiled inference of one segmentation task (usable from Python without Hydra).

    Args:
        task: a :class:`~sigbench.segmentation.task.SegmentationTask` (eval mode, on ``device``).
        tile: square tile side in model pixels; overlap: pixels shared by neighbouring tiles.
        long_side: resize pages to this long side before tiling (``None``: native resolution).
        threshold: foreground probability threshold; batch_size: tiles per forward pass.
    """

    def __init__(
        self,
        task: torch.nn.Module,
        tile: int,
        overlap: int,
        long_side: int | None,
        threshold: float,
        batch_size: int,
        device: torch.device,
    ) -> None:
        if tile < 32 or not 0 <= overlap < tile:
            raise ConfigError(f"tile={tile}, overlap={overlap}: need tile >= 32 and 0 <= overlap < tile")
        self.task, self.tile, self.overlap = task, tile, overlap
        self.long_side, self.threshold = long_side, threshold
        self.batch_size, self.device = max(1, batch_size), device

    def _forward(self, tiles: list[np.ndarray]) -> np.ndarray:
        batch = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).to(self.device)
        with torch.inference_mode():
            prob = self.task.foreground_probability(self.task(batch))
        return prob.float().cpu().numpy()

    def masks(
        self, pages_in: Iterable[tuple[str, np.ndarray]]
    ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(stem, rgb page, bool mask)`` per ``(stem, rgb page)``, in order, with tiles batched
        across pages."""
        pages: list[_Page] = []
        queue: list[tuple[_Page, int, int, np.ndarray]] = []

        def flush() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
            if queue:
                probs = self._forward([t for *_, t in queue])
                for (page, x, y, _), prob in zip(queue, probs, strict=True):
                    h, w = page.prob[y : y + self.tile, x : x + self.tile].shape
                    page.prob[y : y + h, x : x + w] += prob[:h, :w]
                    page.count[y : y + h, x : x + w] += 1
                    page.pending -= 1
                queue.clear()
            while pages and pages[0].pending == 0:
                page = pages.pop(0)
                yield page.stem, *self._finish(page)

        for stem, image in pages_in:
            work, _ = resize_long_side(image, self.long_side)
            origins = tile_origins(work.shape[0], work.shape[1], self.tile, self.overlap)
            zeros = np.zeros(work.shape[:2], np.float32)
            page = _Page(stem, image, work, zeros, zeros.copy(), len(origins))
            pages.append(page)
            for x, y in origins:
                queue.append((page, x, y, crop_tile(work, x, y, self.tile)))
                if len(queue) >= self.batch_size:
                    yield from flush()
        yield from flush()

    def _finish(self, page: _Page) -> tuple[np.ndarray, np.ndarray]:
        prob = page.prob / np.maximum(page.count, 1)
        h, w = page.original.shape[:2]
        if prob.shape != (h, w):
            prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        return page.original, prob > self.threshold


def encode_png(image: np.ndarray, path: Path) -> bytes:
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:
        raise ValueError(f"could not encode {path}")
    return data.tobytes()


def write_mask(path: Path, mask: np.ndarray) -> Path:
    """``mask`` as a 0/255 uint8 PNG, atomically."""
    return atomic_write_bytes(path, encode_png(mask.astype(np.uint8) * np.uint8(255), path))


def write_overlay(path: Path, image: np.ndarray, mask: np.ndarray, gt: np.ndarray | None) -> Path:
    rgb = overlay(image, mask, gt)
    return atomic_write_bytes(path, encode_png(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), path))


def training_scale(config: dict) -> tuple[str, int | None]:
    """Mode (``crops`` / ``pages``) and ``long_side`` of the data the checkpoint was trained on."""
    data = config.get("data") or {}
    return str(data.get("mode", "crops")), data.get("long_side")


def segment(cfg: DictConfig) -> dict[str, float]:
    """Run ``sigbench-segment``; returns the ``evaluate_masks`` scores when ``gt`` is given, else ``{}``."""
    if not Path(cfg.ckpt).exists():
        raise ConfigError(f"ckpt: {cfg.ckpt} does not exist")
    check_output(cfg.get("output"), "output")
    out_dir = Path(cfg.output)
    max_pixels, dpi = cfg.get("max_pixels", DEFAULT_MAX_PIXELS), cfg.get("dpi", DEFAULT_DPI)
    checked = gather_inputs(
        cfg.input, out_dir, "sigbench-segment", bool(cfg.get("skip_bad")), max_pixels, dpi
    )
    gt_dir = Path(cfg.gt) if cfg.get("gt") else None
    if gt_dir is not None and not gt_dir.is_dir():
        raise ConfigError(f"gt: {gt_dir} is not a folder")
    device = pick_device(cfg.device)
    task, config = load_task(cfg.ckpt, map_location="cpu", needs="segmentation", tool="sigbench-segment")
    if not hasattr(task, "foreground_probability"):
        raise ConfigError(f"ckpt: {cfg.ckpt} is not a segmentation checkpoint ({type(task).__name__})")
    task = task.to(device)
    mode, trained_long_side = training_scale(config)
    long_side = cfg.long_side if cfg.long_side is not None else trained_long_side
    tile = cfg.tile or (long_side if mode == "pages" and long_side else DEFAULT_CROP_TILE)
    threshold = cfg.threshold if cfg.threshold is not None else float(task.threshold)
    segmenter = Segmenter(
        task, int(tile), int(cfg.overlap), long_side, threshold, int(cfg.batch_size), device
    )
    remove_stale_temps_in(out_dir)  # what a killed earlier run left in its output folder
    pages = ((stem, page) for stem, _, page in iter_pages(checked.files, dpi, max_pixels))
    count = 0
    for stem, image, mask in segmenter.masks(pages):
        write_mask(out_dir / f"{stem}.png", mask)
        if cfg.overlays:
            gt_path = gt_dir / f"{stem}.png" if gt_dir is not None else None
            gt = read_mask(gt_path) if gt_path and gt_path.exists() else None
            write_overlay(out_dir / "overlays" / f"{stem}.jpg", image, mask, gt)
        count += 1
    write_skipped(out_dir, checked.skipped)
    notes = {
        "masks": f"{count} in {out_dir}",
        "tile": f"{tile} (overlap {cfg.overlap}), long side {long_side}",
    }
    metrics: dict[str, float] = {}
    if gt_dir is not None:
        scores = evaluate_masks(gt_dir, out_dir)
        metrics = {k: float(scores[k]) for k in ("f_iou", "f_score", "mssim", "precision", "recall")}
        notes["images scored"] = str(scores["num_images"])
    notes.update(skipped_note(checked.skipped, out_dir))
    print_summary(f"sigbench-segment: {Path(cfg.ckpt).name}", metrics, notes)
    return metrics
