"""Run a trained cleaner on uint8 images (ink bright on 0), batched; images of different sizes allowed.

Images of one batch are zero-padded at the bottom / right to the largest of the batch and cropped back after
the network: zero is background in the inverted domain, so padding adds only empty paper (results can differ
from an unpadded run within a receptive field of the padded edge, where the paper ends). The cleaner runs in
eval mode, so BatchNorm uses its running statistics and batch mates do not influence each other. Images are
sorted by size first so that batches hold similar sizes (little padding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from sigbench.data.transforms import to_model_input


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def clean_image_list(
    model: nn.Module,
    images: Sequence[np.ndarray],
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> list[np.ndarray]:
    """Cleaned copies (uint8 H x W) of uint8 H x W images of any sizes, in the input order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i, img in enumerate(images):
        if img.dtype != np.uint8 or img.ndim != 2:
            raise ValueError(f"image {i}: expected uint8 H x W, got {img.dtype} {img.shape}")
    device = torch.device(device)
    model = model.to(device).eval()
    order = sorted(range(len(images)), key=lambda i: images[i].shape)
    out: list[np.ndarray | None] = [None] * len(images)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        h = max(images[i].shape[0] for i in chunk)
        w = max(images[i].shape[1] for i in chunk)
        batch = np.zeros((len(chunk), 1, h, w), dtype=np.uint8)
        for row, i in enumerate(chunk):
            batch[row, 0, : images[i].shape[0], : images[i].shape[1]] = images[i]
        cleaned = _to_uint8(model(to_model_input(torch.from_numpy(batch).to(device))))
        for row, i in enumerate(chunk):
            out[i] = cleaned[row, 0, : images[i].shape[0], : images[i].shape[1]]
    return out  # type: ignore[return-value]


@torch.no_grad()
def clean_images(
    model: nn.Module, images: np.ndarray, batch_size: int = 32, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Cleaned copy of a uint8 ``N x 1 x H x W`` (or ``N x H x W``) array, same shape and dtype."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[1] != 1):
        raise ValueError(
            f"clean_images expects uint8 N x 1 x H x W or N x H x W, got {images.dtype} {images.shape}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    model = model.to(device).eval()
    flat = images.reshape(len(images), 1, *images.shape[-2:])
    out = np.empty_like(flat)
    for start in range(0, len(flat), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(flat[start : start + batch_size])).to(device)
        out[start : start + batch_size] = _to_uint8(model(to_model_input(chunk)))
    return out.reshape(images.shape)
