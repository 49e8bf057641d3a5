"""TensorBoard content, read back from the event files: per-epoch score histograms and ROC / DET at each
epoch's step, the labelled held-out grid, run text, a projector, and clean HParams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigbench.runner.tensorboard import clean_hparams, holdout_grid
from sigbench.runner.train import train
from tests.helpers import SHARED_DATA, make_toy_dataset
from tests.train_helpers import TINY_SYNTHETIC, compose_train

pytestmark = pytest.mark.usefixtures("single_thread")


def _events(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(
        str(log_dir), size_guidance={"images": 0, "histograms": 0, "tensors": 0, "scalars": 0}
    )
    acc.Reload()
    return acc


def test_event_files_hold_what_a_researcher_looks_at(tmp_path) -> None:
    external = (SHARED_DATA / "sigcomp2009_nisdcc_preview").exists()
    overrides = [
        "experiment=smoke",
        *TINY_SYNTHETIC,
        "trainer.max_epochs=2",
        "task.log_images=true",
        "callbacks.tensorboard_extras.projector=true",
        "callbacks.tensorboard_extras.holdout_grid=2",
        "~callbacks.progress_bar",
    ]
    if external:
        overrides.append("+validation_set@validation_sets.nisdcc=nisdcc")
    train(compose_train(overrides, tmp_path, tmp_path / "cache"))
    log_dir = tmp_path / "tensorboard"
    acc = _events(log_dir)
    tags = acc.Tags()

    # the epochs' steps, from the logged val/eer scalar
    steps = [e.step for e in acc.Scalars("val/eer")]
    assert len(steps) == 2 and steps[0] < steps[1]
    prefixes = ["val", *(["val_ext/nisdcc"] if external else [])]
    for prefix in prefixes:
        for kind in ("genuine", "skilled", "random"):
            histogram = f"{prefix}/scores/{kind}"
            assert histogram in tags["histograms"], histogram
            assert [e.step for e in acc.Histograms(histogram)] == steps
        for curve in ("roc", "det"):
            assert [e.step for e in acc.Images(f"{prefix}/{curve}")] == steps
    # the genuine histogram holds one count per genuine query of the held-out writers (2 writers x
    # (6 genuine - 2 references)): the histogram is of the scores the EER is computed on
    assert acc.Histograms("val/scores/genuine")[-1].histogram_value.num == 2 * (6 - 2)

    assert [e.step for e in acc.Images("holdout/samples")] == [0]
    for text in ("run/config", "run/overrides", "run/git"):
        assert f"{text}/text_summary" in tags["tensors"], text
    config = acc.Tensors("run/config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "name: smoke" in config and "num_writers: 6" in config
    overrides_text = acc.Tensors("run/overrides/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "(none)" in overrides_text  # composed in-process: no command line

    assert (log_dir / "projector_config.pbtxt").exists()
    assert "holdout" in (log_dir / "projector_config.pbtxt").read_text()

    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")
    starts = [plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info for c in content.values()]
    hparams = next(s.hparams for s in starts if "experiment" in s.hparams)
    assert hparams["experiment"].string_value == "smoke"
    assert "optimizer.lr" in hparams
    assert not any("_target_" in k or "_partial_" in k for k in hparams)
    assert not any(v.string_value.startswith("/") for v in hparams.values())


def test_clean_hparams_drops_hydra_keys_and_absolute_paths(tmp_path) -> None:
    cfg = compose_train(["experiment=quickstart"], tmp_path)
    flat = clean_hparams(cfg)
    assert next(iter(flat)) == "experiment" and flat["experiment"] == "quickstart"
    assert flat["optimizer.lr"] == 0.01 and flat["optimized_metric"] == "val_ext/kaggle/eer"
    assert not any("_target_" in k or "_partial_" in k for k in flat)
    assert not any(isinstance(v, str) and v.startswith("/") for v in flat.values())
    assert "validation_sets.kaggle.dataset.adapter.path" not in flat  # an absolute path
    assert not any(k.startswith(("paths.", "callbacks.")) for k in flat)


def test_holdout_grid_labels_references_genuine_and_forgery() -> None:
    ds = make_toy_dataset(users=3, genuine=5, forgeries=1)
    fig = holdout_grid(ds.x, ds.y, ds.yforg, writers=2, references=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 2 * 5
    assert titles[:5] == ["writer 0: reference 1", "reference 2", "reference 3", "genuine", "skilled forgery"]
    assert titles[5] == "writer 1: reference 1"
    # the forgery panel shows that writer's first skilled forgery
    forged = int(np.flatnonzero((ds.y == 1) & (ds.yforg == 1))[0])
    assert np.array_equal(fig.axes[9].images[0].get_array(), ds.x[forged][0])
    with pytest.raises(ValueError, match="skilled forgery"):
        holdout_grid(ds.x, ds.y, np.zeros_like(ds.yforg))
