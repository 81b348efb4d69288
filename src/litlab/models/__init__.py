"""Nets (plain nn.Modules) and the LightningModules that train them."""

from litlab.models.classifier import Classifier
from litlab.models.nets import MLP, ConvNet
from litlab.models.regressor import Regressor
from litlab.models.supervised import SupervisedModule

__all__ = ["MLP", "Classifier", "ConvNet", "Regressor", "SupervisedModule"]
