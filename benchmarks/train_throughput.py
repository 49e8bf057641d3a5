"""SigNet training images/s through sigbench (Lightning task + DataModule) vs a plain PyTorch loop on the
same data and device, printed with their ratio (target: sigbench >= 0.9x the plain loop).

On a GPU both use bf16 autocast and channels_last, and both keep the uint8 set on the device (sigbench's
``data.device_resident=true`` path); on a CPU they run in fp32.

    .venv/bin/python benchmarks/train_throughput.py                       # CPU, batch 32
    python benchmarks/train_throughput.py --device cuda --batch-size 1024 --steps 60
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from sigbench.data.datamodule import SignatureDataModule
from sigbench.data.formats import SignatureDataset
from sigbench.data.transforms import batch_crop, random_offsets, to_model_input
from sigbench.features.losses import SigNetLoss
from sigbench.features.models import SigNet
from sigbench.features.tasks import ClassificationTask


def make_data(n: int, users: int, seed: int = 0) -> SignatureDataset:
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 1, 170, 242)) < 0.08).astype(np.uint8) * 200
    y = np.arange(n) % users
    return SignatureDataset(
        x=x,
        y=y,
        yforg=np.zeros(n, np.int64),
        user_mapping=[str(u) for u in range(users)],
        filenames=[str(i) for i in range(n)],
    )


class StepTimer(pl.Callback):
    """Wall time from the end of the warm-up steps to the end of the last step (synchronised)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.images = warmup, 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            _sync()
            self.start = time.perf_counter()
        elif trainer.global_step > self.warmup:
            self.images += int(batch["x"].shape[0])

    def rate(self) -> float:
        _sync()
        return self.images / (time.perf_counter() - self.start)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def sigbench_rate(ds, args, gpu: bool) -> float:
    dm = SignatureDataModule(
        ds, val_fraction=0.0, batch_size=args.batch_size, device_resident=True, drop_last=True, seed=0
    )
    dm.setup()
    task = ClassificationTask(
        SigNet(args.variant),
        dm.num_classes,
        optimizer=lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True),
        loss=SigNetLoss(),
        channels_last=gpu,
        log_images=False,
    )
    timer = StepTimer(args.warmup)
    trainer = pl.Trainer(
        accelerator="gpu" if gpu else "cpu",
        devices=1,
        precision="bf16-mixed" if gpu else "32-true",
        max_steps=args.warmup + args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        gradient_clip_val=10.0,
        gradient_clip_algorithm="value",
        callbacks=[timer],
        benchmark=gpu,
    )
    trainer.fit(task, datamodule=dm)
    return timer.rate()


def plain_rate(ds, args, gpu: bool) -> float:
    device = torch.device("cuda" if gpu else "cpu")
    x = torch.from_numpy(ds.x).to(device)
    y = torch.from_numpy(ds.y).to(device)
    model = SigNet(args.variant).to(device)
    head = torch.nn.Linear(model.feature_dim, int(ds.y.max()) + 1).to(device)
    if gpu:
        model = model.to(memory_format=torch.channels_last)
    params = [*model.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, nesterov=True)
    gen = torch.Generator(device=device).manual_seed(0)
    n = x.shape[0] // args.batch_size
    images, start = 0, 0.0
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _sync()
            start = time.perf_counter()
        b = step % n
        if b == 0:
            order = torch.randperm(x.shape[0], generator=gen, device=device)
        idx = order[b * args.batch_size : (b + 1) * args.batch_size]
        crops = batch_crop(x[idx], (150, 220), random_offsets(len(idx), (170, 242), (150, 220), gen, device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
            loss = F.cross_entropy(head(model(to_model_input(crops, gpu))), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, 10.0)
        opt.step()
        if step >= args.warmup:
            images += len(idx)
    _sync()
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variant", default="signet")
    parser.add_argument("--samples", type=int, default=0, help="dataset size (default: 8 batches)")
    args = parser.parse_args()
    gpu = args.device == "cuda"
    ds = make_data(args.samples or 8 * args.batch_size, users=64)
    torch.manual_seed(0)
    plain = plain_rate(ds, args, gpu)
    ours = sigbench_rate(ds, args, gpu)
    name = torch.cuda.get_device_name() if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"SigNet ({args.variant}) training, batch {args.batch_size}, {name}")
    print(f"  plain PyTorch loop  {plain:10.1f} images/s")
    print(f"  sigbench            {ours:10.1f} images/s")
    print(f"  ratio               {ours / plain:10.3f}   (target >= 0.9)")


if __name__ == "__main__":
    main()
