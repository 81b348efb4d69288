"""Callbacks: progress display, figures and reports written to the loggers."""

from litlab.callbacks.classification_report import ClassificationReport
from litlab.callbacks.figures import DataFigure
from litlab.callbacks.learning_rate import LearningRateMonitor
from litlab.callbacks.progress_bar import progress_bar

__all__ = ["ClassificationReport", "DataFigure", "LearningRateMonitor", "progress_bar"]
