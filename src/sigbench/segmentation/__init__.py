"""Pixel-level signature segmentation on document pages (AOSSig, protocols.md sec. 9).

``evaluate`` (metrics, NumPy + OpenCV only), ``overlay`` (pictures of errors), ``losses``, ``models``
(U-Net on timm encoders, DeepLabV3), ``data`` (the AOSSig layout as crops or pages), ``task`` (the
LightningModule). Only the metrics are imported here, so scoring masks never pulls in torch.
"""

from sigbench.segmentation.evaluate import evaluate_masks, mask_scores

__all__ = ["evaluate_masks", "mask_scores"]
