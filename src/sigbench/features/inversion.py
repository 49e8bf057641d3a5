"""Data-free synthesis of class-conditional signatures from a trained teacher (DeepInversion).

Yin et al. (CVPR 2020) optimise a batch of images, starting from noise, so that the teacher predicts each
image's target class *and* the statistics of every BatchNorm layer's input match that layer's running
mean and variance, i.e. the statistics of the data the teacher was trained on; total-variation and L2 priors
keep the images smooth, and random jitter / flips make them robust.  *Adaptive* DeepInversion adds a
competition term that favours images on which a student disagrees with the teacher, ``1 - JS(teacher,
student)``.  Viana et al. (ICDAR 2024) distil SigNet with such images.

Images live in the model's input space (1 x 150 x 220, [0, 1], ink bright), are clamped to [0, 1] after
every step and stored as uint8 in the sigver format (``y`` = teacher class, ``yforg`` = 0), at the input
size: they are never cropped again.  Long runs are cut into chunks written atomically; a restart skips the
chunks already on disk and the chunks are merged into one file at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sigbench.atomic import atomic_write_text
from sigbench.data.formats import SignatureDataset, load_dataset, save_npz
from sigbench.features.models.signet import INPUT_SIZE

log = logging.getLogger(__name__)


@dataclass
class InversionParams:
    """DeepInversion's loss weights and optimisation settings (defaults: Yin et al.'s ImageNet recipe).

    Attributes:
        iterations: Adam steps per batch.
        lr: Adam learning rate (cosine-annealed to 0 over the iterations).
        main: weight of the target-class cross-entropy.
        bn: weight of the BatchNorm statistics term (``r_feature``).
        first_bn_multiplier: extra weight of the first BatchNorm layer's term.
        tv_l1, tv_l2: total-variation priors (mean absolute / per-image L2 norm of neighbour differences).
        l2: per-image L2 norm prior.
        jitter: random circular shift of up to this many pixels (both axes) at every step.
        flip: random horizontal flip at every step.
        competition: weight of ``1 - JS(teacher, student)`` (Adaptive DeepInversion; needs a student).
        init_scale: images start as uniform noise in ``[0, init_scale]``: dark, like preprocessed
            signatures (background 0), rather than mid-grey.
    """

    iterations: int = 2000
    lr: float = 0.25
    main: float = 1.0
    bn: float = 0.01
    first_bn_multiplier: float = 10.0
    tv_l1: float = 0.0
    tv_l2: float = 1e-4
    l2: float = 1e-5
    jitter: int = 30
    flip: bool = True
    competition: float = 0.0
    init_scale: float = 0.2


# ---- loss terms ----------------------------------------------------------------------------------------
class BatchNormStatistics:
    """Forward hooks on every BatchNorm layer: ``||mean - running_mean||_2 + ||var - running_var||_2`` of
    each layer's input batch, in layer order (use as a context manager; ``clear`` before each forward)."""

    def __init__(self, model: nn.Module) -> None:
        layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not layers:
            raise ValueError("the teacher has no BatchNorm layer: DeepInversion has no statistics to match")
        self.losses: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in layers]

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0].float()
        dims = [0, *range(2, x.dim())]  # every axis but the channel: N x C (fc) or N x C x H x W (conv)
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
        self.losses.append(
            torch.linalg.vector_norm(mean - module.running_mean)
            + torch.linalg.vector_norm(var - module.running_var)
        )

    def clear(self) -> None:
        self.losses.clear()

    def total(self, first_multiplier: float = 1.0) -> torch.Tensor:
        """The sum over layers, the first one weighted by ``first_multiplier``."""
        return first_multiplier * self.losses[0] + sum(self.losses[1:], torch.zeros_like(self.losses[0]))

    def __enter__(self) -> BatchNormStatistics:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()


def image_priors(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Total variation (L1: mean absolute neighbour difference; L2: per-image norm, batch mean) and the
    per-image L2 norm, batch mean, of a B x C x H x W batch."""
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    b = x.shape[0]
    return {
        "tv_l1": dx.abs().mean() + dy.abs().mean(),
        "tv_l2": (dx.reshape(b, -1).norm(dim=1) + dy.reshape(b, -1).norm(dim=1)).mean(),
        "l2": x.reshape(b, -1).norm(dim=1).mean(),
    }


def js_divergence(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (natural log) between the two softmax distributions, batch mean."""
    p, q = F.softmax(logits_a.float(), dim=1), F.softmax(logits_b.float(), dim=1)
    log_m = ((p + q) / 2).clamp_min(1e-12).log()
    return 0.5 * (F.kl_div(log_m, p, reduction="batchmean") + F.kl_div(log_m, q, reduction="batchmean"))


def jitter_flip(x: torch.Tensor, jitter: int, flip: bool, rng: random.Random) -> torch.Tensor:
    """One random circular shift (and maybe a horizontal flip) of the whole batch."""
    if jitter:
        x = torch.roll(x, shifts=(rng.randint(-jitter, jitter), rng.randint(-jitter, jitter)), dims=(2, 3))
    if flip and rng.random() < 0.5:
        x = torch.flip(x, dims=(3,))
    return x


# ---- one batch -----------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    images: torch.Tensor  # uint8 B x 1 x H x W, CPU
    target_probability: float  # teacher's mean probability of the target class on the final images
    teacher_accuracy: float  # fraction of final images the teacher assigns to their target
    bn_loss_start: float  # BatchNorm statistics term (unweighted sum over layers) on the initial noise
    bn_loss_end: float  # ... and on the final images


@torch.no_grad()
def _evaluate(teacher: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> tuple[float, float, float]:
    with BatchNormStatistics(teacher) as stats:
        logits = teacher(x)
        bn = float(stats.total())
    prob = F.softmax(logits.float(), dim=1).gather(1, targets[:, None]).mean()
    return float(prob), float((logits.argmax(1) == targets).float().mean()), bn


def invert_batch(
    teacher: nn.Module,
    targets: torch.Tensor,
    params: InversionParams,
    seed: int = 0,
    student: nn.Module | None = None,
    image_size: tuple[int, int] = INPUT_SIZE,
    on_step: Callable[[], None] | None = None,
) -> BatchResult:
    """Synthesise one image per entry of ``targets`` (teacher classes) on the teacher's device.

    ``teacher`` (and ``student``) map a B x 1 x H x W float batch in [0, 1] to logits and must be in eval
    mode; the student's first ``teacher classes`` outputs are compared with the teacher's.
    """
    if params.competition and student is None:
        raise ValueError("params.competition > 0 needs a student to compete with")
    device = next(teacher.parameters()).device
    targets = targets.to(device)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand((len(targets), 1, *image_size), generator=generator) * params.init_scale
    x = noise.to(device).requires_grad_(True)
    rng = random.Random(seed)
    _, _, bn_start = _evaluate(teacher, x.detach(), targets)
    optimizer = torch.optim.Adam([x], lr=params.lr, betas=(0.5, 0.9), eps=1e-8)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, params.iterations))
    with BatchNormStatistics(teacher) as stats:
        for _ in range(params.iterations):
            stats.clear()
            shifted = jitter_flip(x, params.jitter, params.flip, rng)
            logits = teacher(shifted)
            loss = params.main * F.cross_entropy(logits.float(), targets)
            loss = loss + params.bn * stats.total(params.first_bn_multiplier)
            priors = image_priors(shifted)
            loss = loss + params.tv_l1 * priors["tv_l1"] + params.tv_l2 * priors["tv_l2"]
            loss = loss + params.l2 * priors["l2"]
            if params.competition:
                student_logits = student(shifted)[:, : logits.shape[1]]  # type: ignore[misc]
                agreement = 1.0 - js_divergence(logits, student_logits).clamp(0.0, 1.0)
                loss = loss + params.competition * agreement
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                x.clamp_(0.0, 1.0)
            if on_step is not None:
                on_step()
    final = x.detach()
    prob, acc, bn_end = _evaluate(teacher, final, targets)
    images = final.mul(255.0).round().clamp(0, 255).to(torch.uint8).cpu()
    return BatchResult(images, prob, acc, bn_start, bn_end)


# ---- many batches, in resumable chunks -----------------------------------------------------------------
def plan_targets(num_classes: int, per_class: int, classes: Sequence[int] | None = None) -> np.ndarray:
    """``per_class`` targets for each class, interleaved (0, 1, ..., n-1, 0, 1, ...) so that every batch
    spans many classes, as DeepInversion's BatchNorm statistics (over all classes) assume."""
    chosen = np.arange(num_classes) if classes is None else np.asarray(list(classes), dtype=np.int64)
    if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= num_classes:
        raise ValueError(f"classes must be teacher classes in [0, {num_classes}), got {chosen.tolist()[:10]}")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    return np.tile(chosen, per_class)


def fingerprint(model: nn.Module) -> str:
    """A short digest of a model's weights, so chunks of another teacher are never mixed in."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(f"{float(tensor.detach().cpu().double().sum()):.10e}".encode())
    return digest.hexdigest()[:16]


@dataclass
class InversionReport:
    output: Path
    images: int
    chunks_computed: int
    chunks_skipped: int
    teacher_accuracy: float  # on the final images, over every chunk (skipped ones included)
    target_probability: float
    bn_loss_start: float
    bn_loss_end: float
    extra: dict = field(default_factory=dict)


def _check_spec(chunk_dir: Path, spec: dict) -> None:
    """Keep one inversion's settings per chunk folder: a restart with other settings is refused."""
    path = chunk_dir / "spec.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != spec:
            changed = sorted(k for k in {*spec, *previous} if spec.get(k) != previous.get(k))
            raise ValueError(
                f"{chunk_dir} holds chunks of another inversion (different {', '.join(changed)}); "
                "delete it or choose another output / chunk_dir"
            )
    else:
        atomic_write_text(path, json.dumps(spec, indent=1, sort_keys=True))


def _chunk_dataset(
    images: torch.Tensor, targets: np.ndarray, first: int, num_classes: int
) -> SignatureDataset:
    n = len(targets)
    return SignatureDataset(
        x=images.numpy(),
        y=targets.astype(np.int64),
        yforg=np.zeros(n, dtype=np.int64),
        user_mapping=np.arange(num_classes).astype(str),
        filenames=[f"inverted_{first + i:07d}_class{int(c)}" for i, c in enumerate(targets)],
    )


def merge_chunks(paths: Sequence[Path], output: Path) -> SignatureDataset:
    """Concatenate chunk files (in order) into one npz at ``output`` (written atomically)."""
    parts = [load_dataset(p, mmap=False) for p in paths]
    merged = SignatureDataset(
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        yforg=np.concatenate([p.yforg for p in parts]),
        user_mapping=parts[0].user_mapping,
        filenames=np.concatenate([p.filenames for p in parts]),
        origin=str(output),
    )
    save_npz(merged, output)
    return merged


def invert_to_file(
    teacher: nn.Module,
    num_classes: int,
    output: str | Path,
    per_class: int,
    params: InversionParams | None = None,
    classes: Sequence[int] | None = None,
    batch_size: int = 64,
    chunk_size: int = 512,
    seed: int = 0,
    student: nn.Module | None = None,
    chunk_dir: str | Path | None = None,
    image_size: tuple[int, int] = INPUT_SIZE,
    progress: bool = True,
) -> InversionReport:
    """Invert ``per_class`` images of each teacher class into ``output`` (sigver npz), chunk by chunk.

    Chunk ``i`` holds targets ``[i * chunk_size, (i + 1) * chunk_size)`` of :func:`plan_targets`; each of
    its batches is seeded from ``(seed, i, batch)``, so a chunk is the same whether or not the run was
    interrupted.  Chunks live in ``chunk_dir`` (default ``<output stem>.chunks`` next to ``output``).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    params = params or InversionParams()
    output = Path(output)
    targets = plan_targets(num_classes, per_class, classes)
    if batch_size < 1 or chunk_size < 1:
        raise ValueError(f"batch_size and chunk_size must be >= 1, got {batch_size}, {chunk_size}")
    chunk_dir = Path(chunk_dir) if chunk_dir else output.with_name(f"{output.stem}.chunks")
    chunk_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "params": asdict(params),
        "targets": hashlib.sha256(targets.tobytes()).hexdigest()[:16],
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "seed": seed,
        "image_size": list(image_size),
        "teacher": fingerprint(teacher),
        "student": fingerprint(student) if student is not None and params.competition else None,
    }
    _check_spec(chunk_dir, spec)
    starts = list(range(0, len(targets), chunk_size))
    paths = [chunk_dir / f"chunk_{i:05d}.npz" for i in range(len(starts))]
    stats: list[dict] = []
    computed = 0
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, disable=not progress) as bar:
        batches = sum(-(-len(targets[s : s + chunk_size]) // batch_size) for s in starts)
        steps = bar.add_task("inverting", total=batches * params.iterations)
        for i, (start, path) in enumerate(zip(starts, paths, strict=True)):
            chunk_targets = targets[start : start + chunk_size]
            stats_path = path.with_suffix(".json")
            if path.exists() and stats_path.exists():
                stats.append(json.loads(stats_path.read_text()))
                bar.advance(steps, -(-len(chunk_targets) // batch_size) * params.iterations)
                continue
            images, batch_stats = [], []
            for b in range(0, len(chunk_targets), batch_size):
                result = invert_batch(
                    teacher,
                    torch.as_tensor(chunk_targets[b : b + batch_size]),
                    params,
                    seed=hash_seed(seed, i, b),
                    student=student,
                    image_size=image_size,
                    on_step=lambda: bar.advance(steps),
                )
                images.append(result.images)
                n = len(result.images)
                batch_stats.append(
                    {
                        "n": n,
                        "teacher_accuracy": result.teacher_accuracy * n,
                        "target_probability": result.target_probability * n,
                        "bn_loss_start": result.bn_loss_start * n,
                        "bn_loss_end": result.bn_loss_end * n,
                    }
                )
            chunk_stats = {k: sum(s[k] for s in batch_stats) for k in batch_stats[0]}
            # the stats go first: a chunk that exists always has its stats
            atomic_write_text(stats_path, json.dumps(chunk_stats, indent=1, sort_keys=True))
            save_npz(_chunk_dataset(torch.cat(images), chunk_targets, start, num_classes), path)
            stats.append(chunk_stats)
            computed += 1
            log.info(
                "chunk %d/%d: teacher accuracy %.3f on its %d images",
                i + 1,
                len(starts),
                chunk_stats["teacher_accuracy"] / chunk_stats["n"],
                chunk_stats["n"],
            )
    merge_chunks(paths, output)
    total = sum(s["n"] for s in stats)
    mean = {k: sum(s[k] for s in stats) / total for k in stats[0] if k != "n"}
    return InversionReport(
        output=output,
        images=total,
        chunks_computed=computed,
        chunks_skipped=len(starts) - computed,
        teacher_accuracy=mean["teacher_accuracy"],
        target_probability=mean["target_probability"],
        bn_loss_start=mean["bn_loss_start"],
        bn_loss_end=mean["bn_loss_end"],
    )


def hash_seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256(",".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
