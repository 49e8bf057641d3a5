"""Memory-mapped synthetic populations: bounded parent memory, identical for any worker count, cached."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from sigbench.data.datamodule import SignatureDataModule
from sigbench.data.formats import load_dataset
from sigbench.data.synthetic import (
    cache_config,
    cache_key,
    generate_dataset,
    generate_population,
    load_or_generate_population,
)
from tests.helpers import REPO

WRITERS = 120  # over a hundred writers, one genuine and one forgery each
# Large stored images make the full array (69 MB) dwarf measurement noise; rendering cost is the scan's.
IMG = (450, 640)

_MEASURE = """
import json, sys
import numpy as np
from sigbench.data.formats import load_dataset
from sigbench.data.synthetic import generate_population

def status(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))

def reset_peak():  # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")

# warm-up: one writer first, so one-off costs (lazy imports, bytecode compiled in a fresh install, worker
# start-up) are not counted; what is measured next is what could grow with the population
generate_population(sys.argv[1] + "_warm", 1, 1, 1, seed=9, img_size={img}, num_workers=int(sys.argv[2]))
reset_peak()
before = status("VmRSS")
generate_population(sys.argv[1], {writers}, 1, 1, seed=9, img_size={img}, num_workers=int(sys.argv[2]))
growth = status("VmHWM") - before
reset_peak()
before = status("VmRSS")
whole = np.array(load_dataset(sys.argv[1]).x)  # control: holding the set in memory must show up
control = status("VmHWM") - before
print(json.dumps({{"growth_kib": growth, "control_kib": control}}))
"""


def _generate_measured(path, workers: int) -> dict[str, int]:
    """Generate in a fresh interpreter; returns its peak-RSS growth (KiB) during generation, and the growth
    from then copying the whole set into memory (which shows the measurement can see the set's size)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    code = _MEASURE.format(writers=WRITERS, img=IMG)
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(workers)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_population_streams_with_bounded_memory_and_is_identical_for_1_and_2_workers(tmp_path):
    full_kib = WRITERS * 2 * IMG[0] * IMG[1] / 1024
    growth = {w: _generate_measured(tmp_path / f"w{w}", w) for w in (0, 2)}
    for workers, kib in growth.items():
        assert kib["control_kib"] > 0.9 * full_kib, f"control copy grew only {kib}"
        # rendering's working set (~20 MB for one writer's scans and canvases) does not grow with the set
        assert kib["growth_kib"] < 0.5 * full_kib, f"{workers} workers: {kib} for a {full_kib:.0f} KiB set"
    one, two = load_dataset(tmp_path / "w0"), load_dataset(tmp_path / "w2")
    assert isinstance(one.x, np.memmap) and one.x.shape == (WRITERS * 2, 1, *IMG)
    assert np.array_equal(one.x, two.x)
    for key in ("y", "yforg", "user_mapping", "filenames", "source"):
        assert np.array_equal(getattr(one, key), getattr(two, key)), key
    assert one.x[-1].max() > 0  # the last writer was rendered, not left as preallocated zeros


def test_population_equals_the_in_memory_generator(tmp_path):
    kw = dict(seed=4, first_writer=30, img_size=(40, 60), style="western")
    ref = generate_dataset(5, 2, 3, **kw)
    pop = load_dataset(generate_population(tmp_path / "pop", 5, 2, 3, **kw))
    for key in ("x", "y", "yforg", "user_mapping", "filenames", "source"):
        assert np.array_equal(getattr(pop, key), getattr(ref, key)), key
    marker = json.loads((tmp_path / "pop" / "sigbench_dataset.json").read_text())
    assert (
        {k: marker[k] for k in pop.counts()}
        == pop.counts()
        == {
            "samples": 25,
            "writers": 5,
            "genuine": 10,
            "skilled_forgeries": 15,
            "simple_forgeries": 0,
        }
    )


def test_cache_key_changes_with_seed_count_and_style_not_workers(tmp_path, monkeypatch):
    base = dict(num_writers=300, genuine_per_writer=24, forgeries_per_writer=30, seed=1)
    key = cache_key(cache_config(**base))
    assert cache_key(cache_config(**{**base, "seed": 2})) != key
    assert cache_key(cache_config(**{**base, "num_writers": 301})) != key
    assert cache_key(cache_config(**base, style="western")) != key
    assert cache_key(cache_config(**base, style="classic")) == key
    assert "style" not in cache_config(**base)  # caches made before styles existed keep their keys

    kw = dict(seed=3, img_size=(24, 36), style="western")
    first = load_or_generate_population(tmp_path, 3, 1, 1, num_workers=0, **kw)
    folder = tmp_path / cache_key(cache_config(3, 1, 1, **kw))
    assert folder.is_dir() and isinstance(first.x, np.memmap)
    import sigbench.data.synthetic.population as population

    def refuse(*args, **kwargs):
        raise AssertionError("a cached population was regenerated")

    monkeypatch.setattr(population, "generate_population", refuse)
    again = load_or_generate_population(tmp_path, 3, 1, 1, num_workers=2, **kw)
    assert np.array_equal(again.x, first.x)


def test_datamodule_reads_the_population_through_the_memmap(tmp_path):
    def source():
        return load_or_generate_population(tmp_path, 6, 4, 1, seed=5, img_size=(60, 90), style="western")

    dm = SignatureDataModule(
        source, train_users=[0, 4], holdout_users=[4, 6], input_size=(50, 80), batch_size=4
    )
    dm.setup()
    ds = dm.load()
    assert isinstance(ds.x, np.memmap)
    loader = dm.train_dataloader()
    row = loader.dataset.x  # rows are fetched from the memmap lazily, not copied
    assert not isinstance(row, np.ndarray)
    batch = next(iter(loader))
    assert batch["x"].shape[1:] == (1, 50, 80) and batch["x"].shape[0] == 4
