"""Signature detection on document pages (issue 8): the AOSSig / ICDAR-2015 evaluation metric."""

from sigbench.detection.evaluate import evaluate_pages, evaluate_quads, match_page, polygon_iou

__all__ = ["evaluate_pages", "evaluate_quads", "match_page", "polygon_iou"]
