"""Image files in, arrays out: the one place that decides which files count as images and how they read.

Every tool (``sigbench-prepare`` and the dataset cache, ``-detect``, ``-segment``, ``-clean``, the page and
training-data readers) reads through here, so a file gives the same pixels whatever reads it:

* :mod:`~sigbench.images.files` -- which files of a folder are images; outputs never listed as inputs;
* :mod:`~sigbench.images.decode` -- one page to uint8 RGB / grey: size limit before decoding, transparency
  on white, EXIF orientation, 16-bit scaled, one grey formula;
* :mod:`~sigbench.images.pages` -- pages of multi-page TIFFs and PDFs, one at a time, named alike;
* :mod:`~sigbench.images.inputs` -- a folder run's inputs checked before any output, and ``skip_bad``.
"""

from sigbench.images.decode import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    ImageTooLargeError,
    MultiPageError,
    check_max_pixels,
    image_size,
    read_grey,
    read_rgb,
    to_grey,
)
from sigbench.images.files import IMAGE_SUFFIXES, check_output_folder, find_images
from sigbench.images.inputs import (
    SKIPPED_FILE,
    BadInputsError,
    CheckedInputs,
    SkippedFile,
    check_inputs,
    gather_inputs,
    skipped_note,
    write_skipped,
)
from sigbench.images.pages import DEFAULT_DPI, PDF_SUFFIX, file_pages, iter_pages, page_stem

__all__ = [
    "DEFAULT_DPI",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "PDF_SUFFIX",
    "SKIPPED_FILE",
    "BadInputsError",
    "CheckedInputs",
    "ImageReadError",
    "ImageTooLargeError",
    "MultiPageError",
    "SkippedFile",
    "check_inputs",
    "check_max_pixels",
    "check_output_folder",
    "file_pages",
    "find_images",
    "gather_inputs",
    "image_size",
    "iter_pages",
    "page_stem",
    "read_grey",
    "read_rgb",
    "skipped_note",
    "to_grey",
    "write_skipped",
]
