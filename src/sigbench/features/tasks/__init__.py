"""LightningModules: one per way of learning signature features."""

from sigbench.features.tasks.classification import ClassificationTask
from sigbench.features.tasks.metric import MetricTask

__all__ = ["ClassificationTask", "MetricTask"]
