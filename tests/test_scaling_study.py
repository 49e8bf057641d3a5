"""scripts/scaling_study.py: its rows and protocols exist, and its table shows what the runs measured."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.helpers import CONF, REPO, SHARED_DATA
from tests.train_helpers import compose_train


def load_study():
    spec = importlib.util.spec_from_file_location("scaling_study", REPO / "scripts" / "scaling_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STUDY = load_study()


def test_every_row_and_protocol_has_its_config():
    for row, overrides in STUDY.ROWS.items():
        (experiment,) = (o.split("=", 1)[1] for o in overrides if o.startswith("experiment="))
        assert (CONF / "experiment" / f"{experiment}.yaml").is_file(), row
    for protocol in STUDY.PROTOCOLS:
        assert (CONF / "protocol" / f"{protocol}.yaml").is_file(), protocol


def write_results(folder, protocol_kind: str, metrics: dict[str, tuple[float, float]]) -> None:
    target = folder / protocol_kind
    target.mkdir(parents=True)
    summary = {"metrics": {k: {"mean": m, "std": s} for k, (m, s) in metrics.items()}}
    (target / "results.json").write_text(json.dumps({"summary": summary, "folds": []}))


def test_table_shows_mean_over_seeds_fold_std_and_each_seed(tmp_path):
    for seed, (eer, std, user) in {1: (0.10, 0.02, 0.05), 2: (0.14, 0.04, 0.07)}.items():
        run = tmp_path / "writers_100" / f"seed{seed}"
        write_results(
            run / "study_eval" / "kaggle_wd", "wd", {"EER": (eer, std), "EER_userthresholds": (user, 0)}
        )
        (run / "metrics.json").write_text(json.dumps({"timings_s": {"data": 30.0, "train": 60.0 * seed}}))
    # a row without finished evaluations is left out
    (tmp_path / "writers_1000" / "seed1").mkdir(parents=True)
    lines = STUDY.table(["writers_100", "writers_1000"], tmp_path).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert len(lines) == 3 and lines[2].startswith("| writers_100 |")
    cells = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|")), strict=True))
    assert cells["seeds"] == "1, 2"
    assert cells["train min"] == "2.0"  # (1.5 + 2.5) / 2 minutes
    assert cells["kaggle_wd EER"] == "12.0 ± 3.0 (10.0 / 14.0)"
    assert cells["kaggle_wd EER_userthresholds"] == "6.0 ± 0.0 (5.0 / 7.0)"
    assert cells["nisdcc_wi EER"] == "-"


def test_run_one_skips_what_is_done(tmp_path, monkeypatch):
    run = tmp_path / "quickstart" / "seed3"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    for protocol in STUDY.PROTOCOLS:
        write_results(run / "study_eval" / protocol, "x", {"EER": (0.1, 0.0)})
    calls = []
    monkeypatch.setattr(STUDY, "_run", lambda cmd, log, threads: calls.append(cmd))
    assert "done" in STUDY.run_one("quickstart", 3, 1, tmp_path)
    assert calls == []
    (run / "study_eval" / "kaggle_wi" / "x" / "results.json").unlink()
    STUDY.run_one("quickstart", 3, 1, tmp_path)
    assert len(calls) == 1 and "protocol=kaggle_wi" in calls[0] and calls[0][0].endswith("sigbench-eval")


@pytest.mark.parametrize(
    ("protocol", "users"),
    [("kaggle_wd", 21), ("kaggle_wi", 21), ("nisdcc_wd", 12), ("nisdcc_wi", 12)],
)
def test_real_set_protocols_fit_their_sets(protocol, users, tmp_path):
    """The options ask for no more genuine signatures than each real set holds, and the protocol runs."""
    if not (SHARED_DATA / "kaggle_sign_data").is_dir():
        pytest.skip(f"the real sets are read from {SHARED_DATA}, which is absent")
    from hydra.utils import instantiate

    from sigbench.data.formats import user_range
    from sigbench.verification.protocol import run_protocol

    cfg = compose_train(
        ["experiment=quickstart", f"+protocol@evaluation.p={protocol}"], tmp_path, tmp_path / "cache"
    )
    spec = OmegaConf.to_container(cfg.evaluation.p, resolve=True)
    dataset = instantiate(cfg.evaluation.p.data.dataset)()
    assert np.unique(dataset.y).size == users
    features = np.random.default_rng(0).normal(size=(len(dataset.y), 8))
    folds = run_protocol(
        features,
        dataset.y,
        dataset.yforg,
        spec["name"],
        exp_users=user_range(spec["exp_users"]),
        dev_users=user_range(spec["dev_users"]),
        folds=2,
        seed=0,
        **spec["options"],
    )
    assert len(folds) == 2 and 0.2 < folds[0]["all_metrics"]["EER"] < 0.8  # random features: chance level
