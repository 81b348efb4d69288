"""LightningDataModules and the readers behind them."""

from litlab.data.breast_cancer import BreastCancerDataModule
from litlab.data.caf import CAFDataModule
from litlab.data.cifar10 import CIFAR10DataModule
from litlab.data.classification import ClassificationDataModule
from litlab.data.diabetes import DiabetesDataModule
from litlab.data.image_datamodule import ImageDataModule
from litlab.data.in_memory import InMemoryDataModule
from litlab.data.mnist import MNISTDataModule
from litlab.data.regression import RegressionDataModule
from litlab.data.rows import RowsDataModule
from litlab.data.table import TableDataModule
from litlab.data.toy import (
    GaussianClassesDataModule,
    MoonsDataModule,
    NoisyLineDataModule,
    ParabolaDataModule,
)

__all__ = [
    "BreastCancerDataModule",
    "CAFDataModule",
    "CIFAR10DataModule",
    "ClassificationDataModule",
    "DiabetesDataModule",
    "GaussianClassesDataModule",
    "ImageDataModule",
    "InMemoryDataModule",
    "MNISTDataModule",
    "MoonsDataModule",
    "NoisyLineDataModule",
    "ParabolaDataModule",
    "RegressionDataModule",
    "RowsDataModule",
    "TableDataModule",
]
