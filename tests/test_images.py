"""Which files count as images, in which order, and how a bad one is reported."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sigbench.images import find_images, read_grey, read_rgb


def _write(path, value: int = 200) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((4, 5, 3), value, np.uint8))


def test_folder_listing_is_sorted_filtered_and_optionally_recursive(tmp_path) -> None:
    for name in ("b.png", "a.JPG", "notes.txt", "sub/c.png"):
        if name.endswith(".txt"):
            (tmp_path / name).write_text("x")
        else:
            _write(tmp_path / name)
    assert [p.name for p in find_images(tmp_path)] == ["a.JPG", "b.png"]
    assert [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path, recursive=True)] == [
        "a.JPG",
        "b.png",
        "sub/c.png",
    ]
    assert find_images(tmp_path / "b.png") == [tmp_path / "b.png"]


def test_errors_name_the_option_and_the_path(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="gt: .*missing does not exist"):
        find_images(tmp_path / "missing", what="gt")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"input: .*notes.txt is not one of the supported types"):
        find_images(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="no files of the supported types"):
        find_images(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png: cannot read"):
        read_rgb(tmp_path / "broken.png")


def test_readers_convert_channels(tmp_path) -> None:
    path = tmp_path / "x.png"
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR order
    cv2.imwrite(str(path), bgr)
    rgb = read_rgb(path)
    assert rgb.shape == (2, 3, 3) and rgb[0, 0].tolist() == [255, 0, 0]
    grey = read_grey(path)
    assert grey.shape == (2, 3) and grey[0, 0] == 76  # ITU-R BT.601: round(0.299 * 255)
