"""LightningModules: one per way of learning signature features."""

from sigbench.features.tasks.classification import ClassificationTask

__all__ = ["ClassificationTask"]
