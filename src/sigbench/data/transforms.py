"""Crops and conversions shared by the DataLoader path and the accelerator-resident path.

Images stay uint8 until they reach the device; ``to_model_input`` is the single place where they become
float in [0, 1] (the SigNet convention: no mean/std normalisation).
"""

from __future__ import annotations

import numpy as np
import torch


def center_offsets(image_size: tuple[int, int], crop: tuple[int, int]) -> tuple[int, int]:
    return (image_size[0] - crop[0]) // 2, (image_size[1] - crop[1]) // 2


def check_crop(image_size: tuple[int, int], crop: tuple[int, int]) -> None:
    if crop[0] > image_size[0] or crop[1] > image_size[1]:
        raise ValueError(f"data.input_size={list(crop)} is larger than the stored images {list(image_size)}")


def batch_crop(x: torch.Tensor, size: tuple[int, int], offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Crop every image of a B x C x H x W batch at its own offset, in one gather, on x's device.

    ``offsets`` is B x 2 (row, col); ``None`` means the centre crop for all.
    """
    b, _, h, w = x.shape
    if offsets is None:
        oy, ox = center_offsets((h, w), size)
        return x[:, :, oy : oy + size[0], ox : ox + size[1]]
    rows = offsets[:, 0:1] + torch.arange(size[0], device=x.device)  # B x h
    cols = offsets[:, 1:2] + torch.arange(size[1], device=x.device)  # B x w
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # B x h x w x C
    return out.permute(0, 3, 1, 2)


def random_offsets(
    n: int,
    image_size: tuple[int, int],
    crop: tuple[int, int],
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    oy = torch.randint(0, image_size[0] - crop[0] + 1, (n,), generator=generator, device=device)
    ox = torch.randint(0, image_size[1] - crop[1] + 1, (n,), generator=generator, device=device)
    return torch.stack([oy, ox], dim=1)


def to_model_input(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 batch -> float in [0, 1] on the same device (the only conversion on the way to the model)."""
    out = x.float().div_(255.0) if x.dtype == torch.uint8 else x
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def numpy_crop(img: np.ndarray, size: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    return img[..., offset[0] : offset[0] + size[0], offset[1] : offset[1] + size[1]]
