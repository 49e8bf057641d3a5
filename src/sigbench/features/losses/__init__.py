"""Training objectives; each is a small callable returning the total and its logged parts."""

from sigbench.features.losses.metric import MetricLoss, NTXentLoss, TripletLoss
from sigbench.features.losses.signet import LossOutput, SigNetFLoss, SigNetLoss

__all__ = ["LossOutput", "MetricLoss", "NTXentLoss", "SigNetFLoss", "SigNetLoss", "TripletLoss"]
