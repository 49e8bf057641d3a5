"""ROC/DET figures: PNG files and TensorBoard."""

from __future__ import annotations

import numpy as np
import pytest

from sigbench.verification.plots import add_curves_to_tensorboard, plot_det, save_curves

RNG = np.random.default_rng(0)
GEN = [RNG.normal(1, 1, 10) for _ in range(3)]
SK = [RNG.normal(0, 1, 10) for _ in range(3)]
RND = [RNG.normal(-2, 1, 20) for _ in range(3)]


def test_save_curves_writes_pngs(tmp_path):
    paths = save_curves(tmp_path / "plots", GEN, SK, RND, prefix="fold0_")
    assert sorted(p.name for p in paths.values()) == ["fold0_det.png", "fold0_roc.png"]
    for p in paths.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_det_has_one_line_per_forgery_type():
    fig = plot_det(np.concatenate(GEN), SK)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(labels) == 1 and labels[0].startswith("skilled (EER")
    with pytest.raises(ValueError, match="skilled or random"):
        plot_det(GEN)


def test_tensorboard_figures(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    class Recorder:
        def __init__(self):
            self.calls = []

        def add_figure(self, tag, figure, global_step=None):
            self.calls.append((tag, global_step))

    rec = Recorder()
    add_curves_to_tensorboard(rec, GEN, SK, RND, global_step=3, tag="val")
    assert rec.calls == [("val/roc", 3), ("val/det", 3)]
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        add_curves_to_tensorboard(writer, GEN, SK, RND, global_step=1)
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())
