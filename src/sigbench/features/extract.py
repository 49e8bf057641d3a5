"""Embeddings of stored uint8 images (centre crop, in chunks), shared by validation and ``sigbench-embed``.

Works from the arrays themselves (memory-mapped sets read one chunk at a time) rather than a DataLoader,
so a task can embed the training writers' references at validation time without a second loader.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sigbench.data.transforms import batch_crop, check_crop


@torch.no_grad()
def embed_images(
    features: Callable[[torch.Tensor], torch.Tensor],
    x: np.ndarray,
    input_size: tuple[int, int],
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    index: np.ndarray | None = None,
) -> torch.Tensor:
    """``features`` of the centre ``input_size`` crop of ``x[index]`` (uint8 N x 1 x H x W): float32, CPU."""
    index = np.arange(len(x)) if index is None else np.asarray(index)
    check_crop((int(x.shape[2]), int(x.shape[3])), tuple(input_size))
    out = []
    for start in range(0, len(index), batch_size):
        chunk = torch.as_tensor(np.asarray(x[index[start : start + batch_size]]))
        out.append(features(batch_crop(chunk.to(device), tuple(input_size))).float().cpu())
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def extract_features(
    model: torch.nn.Module,
    x: np.ndarray,
    batch_size: int = 256,
    input_size: tuple[int, int] = (150, 220),
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Features (N x D float32 NumPy) of a whole uint8 set from a plain extractor, in eval mode, for the
    verification protocols (bf16 autocast on a GPU)."""
    from sigbench.data.transforms import to_model_input

    device = pick_device(device) if isinstance(device, str) else device
    model = model.to(device).eval()

    def forward(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return model(to_model_input(batch))

    return embed_images(forward, x, tuple(input_size), batch_size, device).numpy()
