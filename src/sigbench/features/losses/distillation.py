"""Knowledge distillation with continual learning (Viana et al., ICDAR 2024; notes section 5).

A student with ``n_teacher + C_new`` outputs learns from two batches per step:

* inverted data (images synthesised from the teacher): ``KD_d``, the KL divergence from the teacher's
  softmax to the student's over the student's full width, the teacher logits zero-padded to that width;
* continual data (new writers): ``CE_c`` on the student's new-class outputs and ``KD_p``, the KL divergence
  on the teacher-class outputs, which keeps the old classes' relations while the new ones are learnt.

``loss = d_lamb * KD_d + c_lamb * CE_c + p_lamb * KD_p`` (1, 1, 1.7 and T = 1 in the paper).  Without a
continual batch (plain distillation) the loss is ``KD_d`` alone, as in the reference code.

Quirks kept from the reference, each with a named alternative: zero-padding gives the new classes a
non-zero teacher probability in ``KD_d`` (``padding="mask"`` gives them none), and there is no ``T^2``
factor (``t_squared=True`` multiplies each KL term by ``T^2``, Hinton et al.'s gradient-scale correction).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from sigbench.features.losses.signet import LossOutput

PADDINGS = ("zeros", "mask")


def pad_logits(logits: torch.Tensor, width: int, padding: str = "zeros") -> torch.Tensor:
    """Widen B x n teacher logits to B x ``width``: zeros (reference) or -inf (probability exactly 0)."""
    if padding not in PADDINGS:
        raise ValueError(f"padding={padding!r} is not one of {list(PADDINGS)}")
    extra = width - logits.shape[1]
    if extra < 0:
        raise ValueError(f"cannot pad {logits.shape[1]} teacher logits to a narrower student ({width})")
    if extra == 0:
        return logits
    value = 0.0 if padding == "zeros" else float("-inf")
    return F.pad(logits, (0, extra), value=value)


def kl_batchmean(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """``KL(softmax(t/T) || softmax(s/T))`` summed over classes, averaged over the batch (``batchmean``)."""
    log_p = F.log_softmax(student_logits.float() / temperature, dim=1)
    q = F.softmax(teacher_logits.float() / temperature, dim=1)
    return F.kl_div(log_p, q, reduction="batchmean")


class DistillationLoss:
    """``d_lamb * KD_d + c_lamb * CE_c + p_lamb * KD_p``; only ``KD_d`` for plain distillation.

    Args:
        d_lamb, c_lamb, p_lamb: weights of the three terms (1, 1, 1.7 in Viana et al.).
        temperature: softmax temperature ``T`` of both KL terms (1 in the paper).
        t_squared: multiply the KL terms by ``T^2`` (not in the reference).
        padding: how the teacher logits are widened for ``KD_d``: ``"zeros"`` (reference) or ``"mask"``.
    """

    requires_forgeries = False
    interface = "distillation"  # the call a task makes (checked against the task's loss_interface)

    def __init__(
        self,
        d_lamb: float = 1.0,
        c_lamb: float = 1.0,
        p_lamb: float = 1.7,
        temperature: float = 1.0,
        t_squared: bool = False,
        padding: str = "zeros",
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature}")
        if padding not in PADDINGS:
            raise ValueError(f"loss.padding={padding!r} is not one of {list(PADDINGS)}")
        self.d_lamb, self.c_lamb, self.p_lamb = float(d_lamb), float(c_lamb), float(p_lamb)
        self.temperature = float(temperature)
        self.t_squared = t_squared
        self.padding = padding

    def kl(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        scale = self.temperature**2 if self.t_squared else 1.0
        return scale * kl_batchmean(student_logits, teacher_logits, self.temperature)

    def __call__(
        self,
        student_inverted: torch.Tensor,
        teacher_inverted: torch.Tensor,
        student_continual: torch.Tensor | None = None,
        teacher_continual: torch.Tensor | None = None,
        y_continual: torch.Tensor | None = None,
    ) -> LossOutput:
        """Logits of the inverted batch (student B x (n + C), teacher B x n) and of the continual batch
        (``y_continual`` indexes the new classes, 0..C-1); without the continual batch: plain ``KD_d``."""
        n_teacher = teacher_inverted.shape[1]
        padded = pad_logits(teacher_inverted, student_inverted.shape[1], self.padding)
        kd_d = self.kl(student_inverted, padded)
        if student_continual is None:
            return LossOutput(kd_d, {"kd_d": kd_d.detach()})
        if teacher_continual is None or y_continual is None:
            raise ValueError("a continual batch needs its teacher logits and labels")
        ce_c = F.cross_entropy(student_continual[:, n_teacher:].float(), y_continual)
        kd_p = self.kl(student_continual[:, :n_teacher], teacher_continual[:, :n_teacher])
        total = self.d_lamb * kd_d + self.c_lamb * ce_c + self.p_lamb * kd_p
        parts = {"kd_d": kd_d.detach(), "ce_c": ce_c.detach(), "kd_p": kd_p.detach()}
        return LossOutput(total, parts)
