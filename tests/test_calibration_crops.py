"""Calibration page crops: the same pixels whichever number of worker processes makes them."""

from __future__ import annotations

import numpy as np

from sigbench.service.calibrate import page_crop, page_crops, synthetic_scans


def test_page_crops_do_not_depend_on_the_number_of_workers():
    images, y, yforg = synthetic_scans([3, 4], genuine=2, forgeries=1)
    one = page_crops(images, y, yforg, n_jobs=1)
    two = page_crops(images, y, yforg, n_jobs=2)
    assert len(one) == len(two) == 6
    for a, b in zip(one, two, strict=True):
        assert a.dtype == np.uint8 and a.ndim == 2
        np.testing.assert_array_equal(a, b)
    # each crop is its own page: index writer * 1000 + 500 * forged + position
    np.testing.assert_array_equal(one[5], page_crop(images[5], 4 * 1000 + 500 + 5))
    assert not np.array_equal(one[0], one[1])
