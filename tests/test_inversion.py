"""DeepInversion: the images it makes convince the teacher and match its BatchNorm statistics; each loss
term equals its definition; chunked runs resume without recomputing what is on disk; the CLI's config."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError

from sigbench.data.formats import load_dataset
from sigbench.features import inversion
from sigbench.features.inversion import (
    BatchNormStatistics,
    InversionParams,
    image_priors,
    invert_batch,
    invert_to_file,
    js_divergence,
    plan_targets,
)
from sigbench.runner.conf import conf_dir
from tests.distill_helpers import SMALL, tiny_teacher

FAST = InversionParams(iterations=30, lr=0.1, bn=0.05, first_bn_multiplier=1.0, jitter=2, flip=False)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def teacher():
    return tiny_teacher(num_classes=4, seed=0)


def test_inverted_images_convince_the_teacher_and_match_its_batchnorm_statistics(teacher) -> None:
    targets = torch.arange(8) % 4
    result = invert_batch(teacher, targets, FAST, seed=3, image_size=SMALL)
    assert result.images.dtype == torch.uint8 and result.images.shape == (8, 1, *SMALL)
    assert result.target_probability > 0.6  # chance: 0.25
    assert result.teacher_accuracy >= 0.75
    assert result.bn_loss_end < 0.8 * result.bn_loss_start
    # the stored uint8 images keep what was learnt
    logits = teacher(result.images)
    assert float((logits.argmax(1) == targets).float().mean()) >= 0.75


def test_batchnorm_term_is_the_distance_between_batch_and_running_statistics() -> None:
    bn = torch.nn.BatchNorm2d(2).eval()
    bn.running_mean.copy_(torch.tensor([0.5, -1.0]))
    bn.running_var.copy_(torch.tensor([2.0, 0.25]))
    x = torch.arange(2 * 2 * 3 * 1, dtype=torch.float32).reshape(2, 2, 3, 1) / 7.0
    mean_sq = var_sq = 0.0
    for c in range(2):
        values = [float(x[b, c, i, 0]) for b in range(2) for i in range(3)]
        mu = sum(values) / len(values)
        var = sum((v - mu) ** 2 for v in values) / len(values)
        mean_sq += (mu - float(bn.running_mean[c])) ** 2
        var_sq += (var - float(bn.running_var[c])) ** 2
    expected = math.sqrt(mean_sq) + math.sqrt(var_sq)
    with BatchNormStatistics(bn) as stats:
        bn(x)
        assert stats.total() == pytest.approx(expected, rel=1e-5)
        assert stats.total(first_multiplier=3.0) == pytest.approx(3 * expected, rel=1e-5)


def test_image_priors_and_js_divergence_equal_their_sums() -> None:
    x = torch.tensor([[[[0.0, 1.0, 0.5], [0.2, 0.2, 0.9]]], [[[1.0, 0.0, 0.0], [0.0, 0.3, 0.3]]]])
    b, h, w = 2, 2, 3
    dx = [
        [float(x[i, 0, r, c + 1] - x[i, 0, r, c]) for r in range(h) for c in range(w - 1)] for i in range(b)
    ]
    dy = [
        [float(x[i, 0, r + 1, c] - x[i, 0, r, c]) for r in range(h - 1) for c in range(w)] for i in range(b)
    ]
    tv_l1 = sum(abs(d) for i in range(b) for d in dx[i]) / (b * h * (w - 1))
    tv_l1 += sum(abs(d) for i in range(b) for d in dy[i]) / (b * (h - 1) * w)
    tv_l2 = (
        sum(math.sqrt(sum(d * d for d in dx[i])) + math.sqrt(sum(d * d for d in dy[i])) for i in range(b)) / b
    )
    l2 = sum(math.sqrt(sum(float(v) ** 2 for v in x[i].flatten())) for i in range(b)) / b
    priors = image_priors(x)
    assert float(priors["tv_l1"]) == pytest.approx(tv_l1, rel=1e-5)
    assert float(priors["tv_l2"]) == pytest.approx(tv_l2, rel=1e-5)
    assert float(priors["l2"]) == pytest.approx(l2, rel=1e-5)

    a = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    c = torch.tensor([[0.0, 1.0, 0.0], [3.0, -2.0, 0.0]])
    js = 0.0
    for i in range(2):
        p = [math.exp(v) / sum(math.exp(u) for u in a[i].tolist()) for v in a[i].tolist()]
        q = [math.exp(v) / sum(math.exp(u) for u in c[i].tolist()) for v in c[i].tolist()]
        m = [(pk + qk) / 2 for pk, qk in zip(p, q, strict=True)]
        js += 0.5 * sum(pk * math.log(pk / mk) for pk, mk in zip(p, m, strict=True))
        js += 0.5 * sum(qk * math.log(qk / mk) for qk, mk in zip(q, m, strict=True))
    assert float(js_divergence(a, c)) == pytest.approx(js / 2, rel=1e-5)
    assert float(js_divergence(a, a)) == pytest.approx(0.0, abs=1e-6)


def test_competition_term_needs_a_student(teacher) -> None:
    params = InversionParams(iterations=1, competition=0.5)
    with pytest.raises(ValueError, match="needs a student"):
        invert_batch(teacher, torch.arange(2), params, image_size=SMALL)
    student = tiny_teacher(num_classes=6, seed=2, steps=1)  # wider head: its first 4 outputs compete
    result = invert_batch(
        teacher,
        torch.arange(2),
        InversionParams(iterations=2, competition=0.5),
        student=student,
        image_size=SMALL,
    )
    assert result.images.shape == (2, 1, *SMALL)


def test_plan_interleaves_classes() -> None:
    assert plan_targets(3, 2).tolist() == [0, 1, 2, 0, 1, 2]
    assert plan_targets(5, 1, classes=[4, 1]).tolist() == [4, 1]
    with pytest.raises(ValueError, match="teacher classes"):
        plan_targets(3, 1, classes=[3])


def test_chunked_inversion_resumes_without_recomputing_chunks_on_disk(teacher, tmp_path, monkeypatch) -> None:
    params = InversionParams(iterations=2, lr=0.1, jitter=1, flip=False)
    out = tmp_path / "inv.npz"
    kwargs = {
        "per_class": 2,
        "params": params,
        "batch_size": 2,
        "chunk_size": 4,
        "image_size": SMALL,
        "progress": False,
    }
    first = invert_to_file(teacher, 4, out, **kwargs)
    assert (first.images, first.chunks_computed, first.chunks_skipped) == (8, 2, 0)
    ds = load_dataset(out)
    assert ds.x.shape == (8, 1, *SMALL) and ds.x.dtype == np.uint8
    assert ds.y.tolist() == [0, 1, 2, 3, 0, 1, 2, 3] and not ds.yforg.any()
    reference = ds.x.copy()

    (tmp_path / "inv.chunks" / "chunk_00001.npz").unlink()  # as if interrupted during chunk 1
    calls = []
    original = inversion.invert_batch
    monkeypatch.setattr(inversion, "invert_batch", lambda *a, **k: calls.append(1) or original(*a, **k))
    second = invert_to_file(teacher, 4, out, **kwargs)
    assert (second.chunks_computed, second.chunks_skipped) == (1, 1)
    assert len(calls) == 2  # chunk 1's two batches, nothing of chunk 0
    np.testing.assert_array_equal(load_dataset(out).x, reference)  # chunks are seeded: same images

    with pytest.raises(ValueError, match="another inversion .*params"):
        invert_to_file(teacher, 4, out, **{**kwargs, "params": InversionParams(iterations=3)})


def test_cli_config_is_typed() -> None:
    from sigbench.cli.invert import register_invert_schema

    register_invert_schema()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("invert", overrides=["teacher=t.ckpt", "output=o.npz", "params.iterations=3"])
        assert cfg.params.iterations == 3 and cfg.per_class == 10
        with pytest.raises((ConfigCompositionException, ConfigKeyError)):
            compose("invert", overrides=["teacher=t.ckpt", "params.iteratons=3"])
        with pytest.raises(ConfigCompositionException):
            compose("invert", overrides=["teacher=t.ckpt", "per_class=many"])
