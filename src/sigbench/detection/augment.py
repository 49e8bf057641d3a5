"""Box-aware augmentation of document pages (albumentations), the default recipe for detection configs.

Everything geometric moves the boxes with the pixels (``BboxParams`` in ``pascal_voc`` = xyxy pixels), and
boxes that leave the page below ``min_visibility`` are dropped with their labels. Geometry stays mild on
purpose: documents are scanned nearly upright, and a signature rotated by 20 degrees has a box far larger
than its ink, which would teach the detector loose boxes and cost F at IoU 0.75.
"""

from __future__ import annotations

import albumentations as A
import cv2

#: The label field name the data module passes to the augmentation (``aug(image=, bboxes=, labels=)``).
LABEL_FIELD = "labels"


def box_augmentation(
    rotate: float = 2.0,
    scale: tuple[float, float] = (0.85, 1.15),
    translate: float = 0.05,
    brightness_contrast: float = 0.2,
    blur_p: float = 0.2,
    jpeg_p: float = 0.2,
    affine_p: float = 0.5,
    min_visibility: float = 0.3,
) -> A.Compose:
    """Mild affine (rotation in degrees, scale range, translation as a page fraction) on a white background,
    brightness/contrast jitter, blur and JPEG artefacts; each photometric step with its own probability."""
    return A.Compose(
        [
            A.Affine(
                scale=tuple(scale),
                translate_percent=(-translate, translate),
                rotate=(-rotate, rotate),
                border_mode=cv2.BORDER_CONSTANT,
                fill=255,
                p=affine_p,
            ),
            A.RandomBrightnessContrast(
                brightness_limit=brightness_contrast, contrast_limit=brightness_contrast, p=0.5
            ),
            A.GaussianBlur(blur_limit=(3, 5), p=blur_p),
            A.ImageCompression(quality_range=(40, 90), p=jpeg_p),
        ],
        bbox_params=A.BboxParams(
            format="pascal_voc", label_fields=[LABEL_FIELD], min_visibility=min_visibility, clip=True
        ),
    )
