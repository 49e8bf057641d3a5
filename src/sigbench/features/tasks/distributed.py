"""Evaluation outputs collected under data-parallel training, put back in dataset order on every rank.

Lightning shards validation sets with ``DistributedSampler(shuffle=False)``: rank ``r`` sees positions
``r, r + W, r + 2W, ...`` of the index list padded (by repeating its start) to a multiple of ``W``.  So after
an all-gather (``W x n`` per tensor), reading column-major gives positions ``0, 1, 2, ...`` and cutting at the
dataset length drops the padding: every rank then holds exactly the single-process arrays and computes the
same held-out metrics.  In a single process nothing happens.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_lightning as pl
import torch


def world_size(module: pl.LightningModule) -> int:
    return int(module.trainer.world_size) if module._trainer is not None else 1


def gather_in_order(
    module: pl.LightningModule, tensors: Sequence[torch.Tensor], total: int | None
) -> list[torch.Tensor]:
    """All-gather per-rank shards (same length on every rank) and restore the first ``total`` in order
    (``None``: keep the padding, when the set size is unknown)."""
    world = world_size(module)
    if world == 1:
        return list(tensors)
    out = []
    for t in tensors:
        gathered = module.all_gather(t.to(module.device))  # W x n x ...
        ordered = gathered.transpose(0, 1).reshape(-1, *t.shape[1:])
        out.append(ordered[:total].cpu())
    return out


def shard(index: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """``DistributedSampler(shuffle=False)``'s share of ``index`` for ``rank`` (padded by repetition)."""
    if world == 1:
        return index
    per_rank = -(-len(index) // world)
    padded = torch.cat([index, index[: per_rank * world - len(index)]]) if len(index) else index
    return padded[rank::world]
