"""Which files count as images, how each kind reads (transparency, EXIF, 16 bits, pages, size limit), and
how a bad one is reported."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from sigbench.data.preprocess import to_grayscale
from sigbench.images import (
    BadInputsError,
    ImageTooLargeError,
    MultiPageError,
    check_inputs,
    check_max_pixels,
    find_images,
    image_size,
    iter_pages,
    read_grey,
    read_rgb,
)
from sigbench.images.decode import on_white, scale_16_to_8
from tests.helpers import header_only_png


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


# ------------------------------------------------------------------------------------ files made in code


def _page() -> np.ndarray:
    """A 12 x 17 RGB page whose every pixel differs (so a flip or rotation cannot go unnoticed)."""
    return (np.arange(12 * 17 * 3, dtype=np.int64).reshape(12, 17, 3) * 7 % 256).astype(np.uint8)


def _on_white_by_hand(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Compositing on white paper in floating point, rounded: the reference for the integer formula."""
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.rint(colour.astype(np.float64) * a + 255.0 * (1.0 - a)).astype(np.uint8)


def test_transparent_pixels_become_white_paper(tmp_path) -> None:
    page = _page()
    alpha = np.tile(np.linspace(0, 255, 17).round().astype(np.uint8), (12, 1))
    alpha[0, 0], page[0, 0] = 0, 0  # a fully transparent black pixel is paper
    Image.fromarray(np.dstack([page, alpha]), "RGBA").save(tmp_path / "rgba.png")
    expected = _on_white_by_hand(page, alpha)
    rgb = read_rgb(tmp_path / "rgba.png")
    np.testing.assert_array_equal(rgb, expected)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    grey = page[:, :, 1]
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(
        read_grey(tmp_path / "la.png"), _on_white_by_hand(grey[..., None], alpha)[..., 0]
    )
    # a palette with one transparent entry: that entry is paper, the others keep their colour
    palette = Image.fromarray(np.array([[0, 1], [2, 0]], np.uint8), "P")
    palette.putpalette([10, 20, 30, 200, 0, 0, 0, 90, 0] + [0] * 759)
    palette.save(tmp_path / "p.png", transparency=0)
    assert read_rgb(tmp_path / "p.png").tolist() == [
        [[255, 255, 255], [200, 0, 0]],
        [[0, 90, 0], [255, 255, 255]],
    ]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_does(tmp_path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(_page()).save(path, exif=exif)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(read_rgb(path), expected)
    assert image_size(path) == (expected.shape[1], expected.shape[0])
    if orientation != 1:
        assert not np.array_equal(read_rgb(path), _page()) or expected.shape != _page().shape


def test_rotated_phone_jpeg_is_upright(tmp_path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held rotated: viewers turn the picture 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    stored = np.full((40, 90, 3), 255, np.uint8)
    stored[5:15, 5:30] = 0  # ink at the stored image's top left
    Image.fromarray(stored).save(path, exif=exif, quality=100)
    rgb = read_rgb(path)
    assert rgb.shape == (90, 40, 3) and image_size(path) == (40, 90)
    with Image.open(path) as image:
        np.testing.assert_array_equal(rgb, np.asarray(ImageOps.exif_transpose(image)))
    ink = np.argwhere(rgb[:, :, 0] < 128)
    assert ink[:, 1].min() >= 40 - 15 and ink[:, 0].max() < 30  # top right once upright


def test_16_bit_grey_and_colour_are_scaled_with_rounding(tmp_path) -> None:
    values = np.array([[0, 257, 32768, 65535, 1000, 128]], np.uint16)
    by_hand = [0, 1, 128, 255, 4, 0]  # round(v * 255 / 65535): 127.50 -> 128, 3.89 -> 4, 0.499 -> 0
    assert np.rint(values.astype(np.float64) * 255 / 65535).astype(int).tolist() == [by_hand]
    Image.fromarray(values).save(tmp_path / "g16.png")
    cv2.imwrite(str(tmp_path / "g16.tif"), values)
    for name in ("g16.png", "g16.tif"):
        assert read_grey(tmp_path / name).tolist() == [by_hand], name
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    colour[0, 0] = [65535, 32768, 1000]
    expected = np.rint(colour.astype(np.float64) * 255 / 65535).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "c16.png"), colour[:, :, ::-1])  # OpenCV writes BGR
    cv2.imwrite(str(tmp_path / "c16.tif"), colour[:, :, ::-1])
    for name in ("c16.png", "c16.tif"):
        rgb = read_rgb(tmp_path / name)
        np.testing.assert_array_equal(rgb, expected, err_msg=name)
        assert rgb[0, 0].tolist() == [255, 128, 4]
    # with alpha: scaled, then on white
    alpha = np.full((5, 7), 65535, np.uint16)
    alpha[0, 0] = 0
    cv2.imwrite(str(tmp_path / "c16a.png"), np.dstack([colour[:, :, ::-1], alpha]))
    rgba = read_rgb(tmp_path / "c16a.png")
    assert rgba[0, 0].tolist() == [255, 255, 255]
    np.testing.assert_array_equal(rgba[1:], expected[1:])


def test_pages_of_a_multi_page_tiff_are_read_one_by_one(tmp_path) -> None:
    first, second = _page(), 255 - _page()[:, :9]
    Image.fromarray(first).save(tmp_path / "two.tif", save_all=True, append_images=[Image.fromarray(second)])
    pages = list(iter_pages([tmp_path / "two.tif"]))
    assert [stem for stem, _, _ in pages] == ["two_p001", "two_p002"]
    np.testing.assert_array_equal(pages[0][2], first)
    np.testing.assert_array_equal(pages[1][2], second)
    with pytest.raises(MultiPageError, match=r"two.tif: has 2 pages"):
        read_rgb(tmp_path / "two.tif")
    with pytest.raises(MultiPageError, match=r"two.tif: has 2 pages"):
        read_grey(tmp_path / "two.tif")


def test_pixel_limit_is_checked_from_the_header(tmp_path) -> None:
    bomb = tmp_path / "bomb.png"
    header_only_png(bomb, 20000, 20000, bit_depth=1)  # 400 Mpx declared in a file of well under 100 bytes
    assert bomb.stat().st_size < 100
    big = tmp_path / "big.png"
    header_only_png(big, 12000, 9000)  # 108 Mpx: above the default limit, below Pillow's own guard
    for reader in (read_rgb, read_grey, lambda p: list(iter_pages([p]))):
        with pytest.raises(ImageTooLargeError, match="bomb.png"):
            reader(bomb)
        with pytest.raises(ImageTooLargeError, match=r"big.png: 12000 x 9000 = 108.0 Mpx .* max_pixels"):
            reader(big)
    expected = r"(?s)2 input file\(s\) cannot be read.*big.png: 12000 x 9000.*bomb.png: larger"
    with pytest.raises(BadInputsError, match=expected):
        check_inputs([big, bomb])
    small = tmp_path / "small.png"
    Image.fromarray(_page()).save(small)
    with pytest.raises(ImageTooLargeError, match=r"small.png: 17 x 12 = "):
        read_rgb(small, max_pixels=203)
    assert read_rgb(small, max_pixels=204).shape == (12, 17, 3)  # exactly at the limit is allowed
    assert read_rgb(big.with_name("small.png"), max_pixels=None).shape == (12, 17, 3)
    with pytest.raises(ValueError, match="max_pixels=0"):
        check_max_pixels(0)


def test_grey_is_the_same_formula_everywhere(tmp_path) -> None:
    page = _page()
    Image.fromarray(page).save(tmp_path / "rgb.png")
    grey = read_grey(tmp_path / "rgb.png")
    np.testing.assert_array_equal(grey, cv2.cvtColor(read_rgb(tmp_path / "rgb.png"), cv2.COLOR_RGB2GRAY))
    np.testing.assert_array_equal(grey, to_grayscale(page))
    # BT.601 by hand, within OpenCV's fixed-point rounding
    by_hand = page.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey - by_hand).max() <= 0.5 + 1e-3


def test_integer_formulas_equal_the_rounded_real_ones_for_every_input() -> None:
    """Every (colour, alpha) pair and every 16-bit value, against float arithmetic rounded to nearest."""
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    pairs = np.stack([colour, alpha], axis=-1).astype(np.uint8)
    real = colour * (alpha / 255.0) + 255.0 * (1.0 - alpha / 255.0)
    np.testing.assert_array_equal(on_white(pairs)[..., 0], np.rint(real).astype(np.uint8))
    values = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(scale_16_to_8(values), np.rint(values * 255.0 / 65535.0).astype(np.uint8))
