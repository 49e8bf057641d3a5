"""``sigbench-invert``: synthesise training-like signatures from a trained teacher, without its data.

    sigbench-invert teacher=outputs/quickstart/runs/.../checkpoints/last.ckpt per_class=20
    sigbench-invert teacher=signet.pth teacher_variant=signet output=inverted.npz params.iterations=2000
    sigbench-invert teacher=T.ckpt student=S.ckpt params.competition=0.2     # Adaptive DeepInversion

The result is a sigver npz (``y`` = teacher class) for ``data=distillation data.inverted=...``.  Re-running
the same command after an interruption continues from the chunks already written next to ``output``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from sigbench.cli.command import hydra_command
from sigbench.features.inversion import InversionParams

PROG = "sigbench-invert"


@dataclass
class InvertSchema:
    """The typed top level of ``conf/invert.yaml`` (a typo or a wrong type fails at composition)."""

    name: str = "invert"
    teacher: str = MISSING  # a sigbench checkpoint or a sigver weight file
    teacher_variant: str = "signet"  # SigNet variant of a sigver weight file
    student: str | None = None  # the competing student (params.competition > 0)
    student_variant: str = "signet"
    output: str = MISSING
    chunk_dir: str | None = None  # default: <output stem>.chunks next to the output
    per_class: int = 10
    classes: list[int] | None = None  # teacher classes to invert (default: all)
    batch_size: int = 64
    chunk_size: int = 512
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    params: InversionParams = field(default_factory=InversionParams)
    paths: Any = None


def register_invert_schema() -> None:
    ConfigStore.instance().store(name="invert_schema", node=InvertSchema)


register_invert_schema()


def run(cfg: DictConfig):  # -> InversionReport
    """Load the teacher (and student), invert into ``cfg.output``; plain Python below this point."""
    from sigbench.features.extract import pick_device
    from sigbench.features.inversion import invert_to_file
    from sigbench.features.teacher import load_teacher
    from sigbench.runner.preflight import check_output

    check_output(cfg.output, "output", "file")
    check_output(cfg.chunk_dir, "chunk_dir")
    device = pick_device(cfg.device)
    teacher = load_teacher(cfg.teacher, cfg.teacher_variant).to(device)
    params = InversionParams(**OmegaConf.to_container(cfg.params, resolve=True))
    student = None
    if params.competition:
        if not cfg.student:
            raise ValueError("params.competition > 0 needs student=PATH (a checkpoint or sigver weight file)")
        student = load_teacher(cfg.student, cfg.student_variant).to(device)
    return invert_to_file(
        teacher,
        teacher.num_classes,
        cfg.output,
        per_class=cfg.per_class,
        params=params,
        classes=list(cfg.classes) if cfg.classes is not None else None,
        batch_size=cfg.batch_size,
        chunk_size=cfg.chunk_size,
        seed=cfg.seed,
        student=student,
        chunk_dir=cfg.chunk_dir,
        progress=cfg.progress,
    )


@hydra_command("invert")
def main(cfg: DictConfig) -> None:
    from sigbench.runner.summary import print_summary

    try:
        report = run(cfg)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"{PROG}: {err}") from None
    print_summary(
        f"{PROG}: {report.images} images",
        {
            "teacher accuracy": report.teacher_accuracy,
            "target probability": report.target_probability,
            "BN statistics loss, start": report.bn_loss_start,
            "BN statistics loss, end": report.bn_loss_end,
        },
        {
            "output": str(report.output),
            "chunks": f"{report.chunks_computed} computed, {report.chunks_skipped} already on disk",
        },
    )


if __name__ == "__main__":
    main()
