"""SignVer cleaner: remove printed clutter (lines, words, stamps, speckle) from signature images.

``noise`` makes (noisy, clean) pairs on the fly, ``data`` serves them, ``models`` / ``task`` train an
image-to-image network with PSNR / SSIM metrics, and ``apply`` runs a trained cleaner on arrays.
"""
