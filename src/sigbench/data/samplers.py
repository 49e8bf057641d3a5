"""P writers x K samples per batch (an "m-per-class" sampler), for triplet and contrastive losses.

A metric loss learns only from pairs inside a batch, so every batch must hold several samples of each of
its writers: random batches of 32 from hundreds of writers would contain almost no positive pair.

The sampler yields arrays of indices into the training subset, so it serves both data paths: as the
``batch_sampler`` of a DataLoader and as the ``sampler`` of the accelerator-resident loader.  Under
distributed training each rank draws its own batches (the generator is seeded with seed, epoch and rank),
so the global batch is ``world_size x P x K``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch.distributed as dist
from torch.utils.data import BatchSampler, DistributedSampler, Sampler

log = logging.getLogger(__name__)


class PKSampler(BatchSampler):
    """Batches of ``p`` writers with ``k`` samples each.

    Each batch draws ``p`` distinct writers uniformly and ``k`` samples of each, without replacement when the
    writer has ``k`` samples or more and with replacement otherwise.  When fewer than ``p`` writers are
    available the batch takes them all (with a warning), so small datasets still train.

    It subclasses :class:`~torch.utils.data.BatchSampler` only so that Lightning, under DDP, can hand it a
    ``DistributedSampler`` (the ``sampler`` argument) instead of refusing a foreign batch sampler; the
    distributed sampler is used for its rank and world size, never for its order.

    Args:
        labels: writer label of every sample of the training subset.
        p: writers per batch.
        k: samples per writer.
        epoch_batches: batches per epoch; ``None`` = ``len(labels) // (p * k)`` (at least 1), i.e. about
            one pass over the samples.
        seed: base seed; epoch ``e`` on rank ``r`` uses ``(seed, e, r)``.
        yforg: forgery flag of every sample; forgeries (``yforg > 0``) are left out unless
            ``include_forgeries``.
        include_forgeries: sample skilled forgeries too (they carry the label of the writer they imitate).
        sampler: set by Lightning under DDP (a ``DistributedSampler``); otherwise ``torch.distributed``
            tells the rank when it is initialised.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        p: int = 32,
        k: int = 2,
        epoch_batches: int | None = None,
        seed: int = 0,
        yforg: Sequence[int] | np.ndarray | None = None,
        include_forgeries: bool = False,
        sampler: Sampler | None = None,
    ) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"data.sampler: p and k must be >= 1, got p={p}, k={k}")
        if epoch_batches is not None and epoch_batches < 1:
            raise ValueError(f"data.sampler.epoch_batches must be >= 1 or null, got {epoch_batches}")
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        keep = np.ones(len(labels), dtype=bool)
        if yforg is not None and not include_forgeries:
            keep = np.asarray(yforg).reshape(-1) == 0
        usable = np.flatnonzero(keep & (labels >= 0))
        if usable.size == 0:
            raise ValueError("data.sampler: no training sample to draw from")
        order = np.argsort(labels[usable], kind="stable")
        self.writers, starts = np.unique(labels[usable][order], return_index=True)
        self.groups = np.split(usable[order], starts[1:])  # sample indices of each writer
        if p > len(self.writers):
            log.warning(
                "data.sampler.p=%d but only %d training writers: every batch takes all of them",
                p,
                len(self.writers),
            )
        self.p, self.k = min(int(p), len(self.writers)), int(k)
        self.num_samples = int(usable.size)
        self.epoch_batches = int(epoch_batches or max(1, self.num_samples // (self.p * self.k)))
        self.seed, self.epoch = int(seed), 0
        self.include_forgeries = include_forgeries
        self.sampler = sampler
        # what Lightning reads from batch samplers
        self.batch_size, self.drop_last = self.p * self.k, False

    def __len__(self) -> int:
        return self.epoch_batches

    def set_epoch(self, epoch: int) -> None:
        """Pin the epoch (the DataLoader path counts epochs by itself otherwise)."""
        self.epoch = int(epoch)

    def _rank(self) -> int:
        if isinstance(self.sampler, DistributedSampler):
            return int(self.sampler.rank)
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank()
        return 0

    def __iter__(self) -> Iterator[np.ndarray]:
        if isinstance(self.sampler, DistributedSampler):  # Lightning sets its epoch, resumes included
            self.epoch = int(self.sampler.epoch)
        rng = np.random.default_rng([self.seed, self.epoch, self._rank()])
        self.epoch += 1
        for _ in range(self.epoch_batches):
            chosen = rng.choice(len(self.writers), size=self.p, replace=False)
            batch = [
                rng.choice(group, size=self.k, replace=len(group) < self.k)
                for group in (self.groups[w] for w in chosen)
            ]
            yield np.concatenate(batch)
