"""LightningDataModules and the readers behind them."""

from litlab.data.breast_cancer import BreastCancerDataModule
from litlab.data.caf import CAFDataModule
from litlab.data.diabetes import DiabetesDataModule
from litlab.data.tensor_datamodule import TensorDataModule

__all__ = ["BreastCancerDataModule", "CAFDataModule", "DiabetesDataModule", "TensorDataModule"]
