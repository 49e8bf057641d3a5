"""scripts/demo.py's calibration crops: saved once, read back identical, remade when the writers change."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.helpers import REPO


@pytest.fixture
def demo(monkeypatch):
    spec = importlib.util.spec_from_file_location("demo_script", REPO / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(
        module, "CROP_SETS", {"development": (range(3, 5), 2, 1), "negatives": (range(0, 2), 1, 0)}
    )
    return module


def test_crops_are_saved_and_read_back(demo, tmp_path):
    made = demo.make_crops(tmp_path, jobs=1)
    assert demo.crops_path(tmp_path).is_file()
    read = demo.load_crops(tmp_path, jobs=1)
    assert list(read) == ["development", "negatives"]
    for name, (images, y, yforg) in made.items():
        again_images, again_y, again_yforg = read[name]
        np.testing.assert_array_equal(again_y, y)
        np.testing.assert_array_equal(again_yforg, yforg)
        assert len(again_images) == len(images) == len(y)
        for a, b in zip(images, again_images, strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(read["development"][1], [3, 3, 3, 4, 4, 4])
    np.testing.assert_array_equal(read["development"][2], [0, 0, 1, 0, 0, 1])


def test_crops_for_other_writers_are_made_again(demo, tmp_path, monkeypatch, capsys):
    demo.make_crops(tmp_path, jobs=1)
    monkeypatch.setattr(demo, "CROP_SETS", {"development": (range(5, 6), 2, 0)})
    read = demo.load_crops(tmp_path, jobs=1)
    assert "made for other calibration writers" in capsys.readouterr().out
    np.testing.assert_array_equal(read["development"][1], [5, 5])
