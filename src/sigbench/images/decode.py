"""Decode one page of an image file into the 8-bit pixels every sigbench tool sees.

Pillow decodes (it reads headers lazily, knows the modes, EXIF and multi-frame TIFF); the rules on top are
the ones a scan or phone photo needs and that a plain ``cv2.imread`` / ``Image.convert`` gets wrong:

* **size first**: the pixel count is checked from the header, before anything is decoded, against
  ``max_pixels`` (a 65-byte PNG may declare 20000 x 20000 pixels: 1.2 GB as RGB, several times that in the
  float copies a tool makes);
* **transparency on white paper**: RGBA / LA / palette or grey with a transparent colour are composited on
  white, ``round((c * a + 255 * (255 - a)) / 255)`` (a transparent pixel is paper, not black ink);
* **EXIF orientation** is applied (the same eight transposes as ``PIL.ImageOps.exif_transpose``), so a phone
  photo is upright in every tool; for PNG only an ``eXIf`` chunk before the pixel data counts, as in web
  browsers, so the header alone gives the upright size;
* **16-bit grey and colour** (PNG, TIFF) are scaled with rounding, ``round(v * 255 / 65535)``; Pillow keeps
  only the high byte of 16-bit colour, so those pages are decoded by OpenCV, which keeps all 16 bits;
* **grey** is ITU-R BT.601 luma as OpenCV computes it (``cv2.COLOR_RGB2GRAY``), the formula
  :func:`sigbench.data.preprocess.to_grayscale` uses, so grey pixels are the same whichever tool asks.

Every failure is an :class:`ImageReadError` (a ``ValueError``) whose message starts with the file's path.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import cv2
import numpy as np
from PIL import ExifTags, Image

#: Default pixel-count limit (width x height of one page): 100 Mpx is an A4 page at 1200 dpi (~140 Mpx)
#: cropped a little, well above any scan or phone photo, and about 300 MB as RGB.
DEFAULT_MAX_PIXELS = 100_000_000

#: Pillow modes of 16-bit grey pixels (scaled to 8 bits, never clipped).
_GREY_16 = {"I;16", "I;16B", "I;16L", "I;16N"}
#: Modes converted to RGB by Pillow's own colour conversion.
_OTHER_COLOUR = {"CMYK", "YCbCr", "LAB", "HSV"}
#: EXIF orientation -> the transpose that makes the page upright (PIL.ImageOps.exif_transpose's table).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


#: A file to read: a path, or an open binary file (its ``name`` attribute, if any, names it in errors).
Source = str | os.PathLike | BinaryIO


def name_of(source: Source) -> str:
    """How errors name ``source``: the path, or an open file's ``name``."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<image in memory>"))


class ImageReadError(ValueError):
    """A file that cannot be read as an image; the message starts with its path."""


class ImageTooLargeError(ImageReadError):
    """A page with more pixels than the configured limit (checked from the header, nothing decoded)."""


class MultiPageError(ImageReadError):
    """A file of several pages given to a tool that takes one image per file."""


def check_max_pixels(max_pixels: int | None, what: str = "max_pixels") -> int | None:
    """``max_pixels`` as an int (``None``: no limit of ours); a clear error for zero or negative values."""
    if max_pixels is None:
        return None
    if (
        isinstance(max_pixels, bool)
        or not isinstance(max_pixels, (int, float))
        or max_pixels != int(max_pixels)
        or max_pixels <= 0
    ):
        raise ValueError(f"{what}={max_pixels!r}: expected a positive number of pixels (or null: no limit)")
    return int(max_pixels)


def check_pixels(path: Source, width: int, height: int, max_pixels: int | None) -> None:
    """Raise :class:`ImageTooLargeError` naming ``path`` when ``width x height`` exceeds ``max_pixels``."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name_of(path)}: {width} x {height} = {width * height / 1e6:.1f} Mpx is more than the limit of "
            f"{max_pixels / 1e6:g} Mpx (max_pixels={max_pixels}); raise max_pixels if the file is genuine"
        )


@contextmanager
def open_image(path: Source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[Image.Image]:
    """The file opened by Pillow (header only) with its first page's size checked; closed on exit.

    Pillow's own decompression-bomb guard (``2 x PIL.Image.MAX_IMAGE_PIXELS``, ~179 Mpx) still applies above
    ours and is reported the same way; its warning below that is silenced, ``max_pixels`` being the limit.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(
            f"{name_of(path)}: larger than Pillow's decompression-bomb limit ({err})"
        ) from None
    except FileNotFoundError:
        raise ImageReadError(f"{name_of(path)}: cannot read the image: the file does not exist") from None
    except (OSError, SyntaxError, ValueError) as err:  # Pillow's errors for unknown / truncated files
        raise ImageReadError(
            f"{name_of(path)}: cannot read the image (not an image, or an unknown format: {err})"
        ) from None
    with image:
        width, height = upright_size(image)
        check_pixels(path, width, height, max_pixels)
        yield image


def frame_count(image: Image.Image) -> int:
    """Pages (TIFF directories, animation frames) of an open image."""
    return int(getattr(image, "n_frames", 1))


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of the current page, read from the header only."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1  # Pillow would decode the whole file to look for a late eXIf chunk; browsers ignore it too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed EXIF blocks warn; they simply carry no orientation
        try:
            value = image.getexif().get(ExifTags.Base.Orientation, 1)
        except (OSError, SyntaxError, ValueError, TypeError):
            return 1
    return int(value) if value in _UPRIGHT else 1


def upright_size(image: Image.Image) -> tuple[int, int]:
    """``(width, height)`` of the current page once its EXIF orientation is applied."""
    width, height = image.size
    return (height, width) if orientation(image) in (5, 6, 7, 8) else (width, height)


def _rawmode(image: Image.Image) -> str:
    """How the pixels are stored in the file (``RGB;16B`` ...), from the first tile descriptor."""
    if not image.tile:
        return ""
    args = image.tile[0].args
    return str(args[0] if isinstance(args, tuple) else args)


def scale_16_to_8(values: np.ndarray) -> np.ndarray:
    """``round(v * 255 / 65535)`` as uint8, exactly (integer arithmetic; no ties since 65535 is odd).

    ``v * 255 + 32767`` stays below 2**32, so uint32 suffices (half the memory traffic of int64)."""
    wide = np.clip(values, 0, 65535).astype(np.uint32)
    wide *= 255
    wide += 32767
    wide //= 65535
    return wide.astype(np.uint8)


def on_white(values: np.ndarray) -> np.ndarray:
    """``H x W x (C+1)`` uint8 with alpha last -> ``H x W x C`` composited on white paper, rounded:
    ``(c * a + 255 * (255 - a) + 127) // 255``, whose largest value (65152) fits uint16."""
    alpha = values[..., -1:].astype(np.uint16)
    out = values[..., :-1].astype(np.uint16)
    out *= alpha
    out += 255 * (255 - alpha) + 127
    out //= 255
    return out.astype(np.uint8)


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> grey uint8 with OpenCV's BT.601 luma; a 2-D array is returned as it is."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _high_depth_colour(path: Source, image: Image.Image, index: int) -> np.ndarray:
    """A 16-bit RGB(A) / grey+alpha page through OpenCV (all 16 bits; BGR(A) or BGRA order)."""
    if isinstance(path, (str, os.PathLike)):
        data = np.fromfile(str(path), np.uint8)
    else:
        path.seek(0)
        data = np.frombuffer(path.read(), np.uint8)
    if image.format == "TIFF":
        ok, pages = cv2.imdecodemulti(data, cv2.IMREAD_UNCHANGED, range=(index, index + 1))
        page = pages[0] if ok and pages else None
    else:
        page = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if page is None or page.ndim != 3 or page.shape[2] not in (3, 4):
        raise ImageReadError(f"{name_of(path)}: cannot decode the 16-bit colour page {index + 1}")
    page = cv2.cvtColor(page, cv2.COLOR_BGRA2RGBA if page.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return scale_16_to_8(page) if page.dtype == np.uint16 else page.astype(np.uint8)


def _eight_bit(image: Image.Image, path: Source) -> np.ndarray:
    """The current (loaded) page as uint8: grey ``H x W``, RGB, or with alpha last (composited later)."""
    mode = image.mode
    if mode in _GREY_16:
        return scale_16_to_8(np.asarray(image))
    if mode == "I":  # 32-bit integers: only read when they hold 16-bit values (as some writers store them)
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageReadError(f"{name_of(path)}: 32-bit integer pixels outside 0..65535 are not supported")
        return scale_16_to_8(values)
    if mode == "F":  # floating-point TIFF: 0..1 is the convention of scientific / HDR writers
        values = np.nan_to_num(np.asarray(image, np.float64), nan=0.0)
        return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    if mode in ("RGBa", "PA") or (mode in ("P", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")
    elif mode == "La" or (mode == "L" and "transparency" in image.info):
        image = image.convert("LA")
    elif mode == "1":
        image = image.convert("L")
    elif mode == "P" or mode in _OTHER_COLOUR:
        image = image.convert("RGB")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise ImageReadError(f"{name_of(path)}: unsupported pixel mode {mode!r}")
    return np.asarray(image)


def decode_page(
    path: Source, image: Image.Image, index: int = 0, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Page ``index`` of an open image as upright uint8, grey ``H x W`` or RGB ``H x W x 3``.

    The page's size is checked before it is decoded; decoding errors (truncated data) name the file.
    """
    try:
        image.seek(index)
        check_pixels(path, *upright_size(image), max_pixels)
        turn = _UPRIGHT.get(orientation(image))
        if ";16" in _rawmode(image) and image.mode in ("RGB", "RGBA", "LA"):  # before load() drops the tiles
            pixels = _high_depth_colour(path, image, index)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
            pixels = _eight_bit(image, path)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(f"{name_of(path)}: page {index + 1} is too large ({err})") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as err:
        reason = f"{type(err).__name__}: {err}"
        raise ImageReadError(
            f"{name_of(path)}: cannot read the image: page {index + 1} does not decode ({reason})"
        ) from None
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        pixels = on_white(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if turn is not None:
        pixels = np.asarray(Image.fromarray(pixels).transpose(turn))
    return np.ascontiguousarray(pixels)


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """Grey ``H x W`` -> ``H x W x 3`` (an RGB array is returned as it is)."""
    return np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels


def read_single(path: Source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The one page of ``path`` (grey or RGB uint8); a file of several pages is refused."""
    with open_image(path, max_pixels) as image:
        pages = frame_count(image)
        if pages > 1:
            raise MultiPageError(
                f"{name_of(path)}: has {pages} pages and this tool takes one image per file; split the pages "
                "(or use a tool that reads pages: sigbench-detect, sigbench-segment)"
            )
        return decode_page(path, image, 0, max_pixels)


def read_rgb(path: Source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as ``H x W x 3`` uint8 RGB, upright, transparency on white, 16 bits scaled."""
    return as_rgb(read_single(path, max_pixels))


def read_grey(path: Source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as ``H x W`` uint8 grey: ``to_grey(read_rgb(path))``, exactly."""
    return to_grey(read_single(path, max_pixels))


def image_size(path: Source, max_pixels: int | None = None) -> tuple[int, int]:
    """Upright ``(width, height)`` of the first page, from the header (nothing decoded)."""
    with open_image(path, max_pixels) as image:
        return upright_size(image)
