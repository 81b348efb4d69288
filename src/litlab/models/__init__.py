"""Nets (plain nn.Modules) and the LightningModules that train them."""

from litlab.models.classifier import Classifier
from litlab.models.nets import MLP, ConvNet

__all__ = ["MLP", "Classifier", "ConvNet"]
