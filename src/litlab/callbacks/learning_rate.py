"""The learning-rate curve, while a scheduler changes the rate."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import LearningRateMonitor as LightningLearningRateMonitor


class LearningRateMonitor(LightningLearningRateMonitor):
    """Lightning's LearningRateMonitor, off without a scheduler (a constant rate draws no curve) or
    without a logger; the model names the curve train/lr (models/supervised.py)."""

    active = False

    def __init__(self, logging_interval: str | None = "epoch", **kwargs: Any) -> None:
        super().__init__(logging_interval=logging_interval, **kwargs)  # the schedulers step once an epoch

    def on_train_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        self.active = bool(trainer.lr_scheduler_configs) and bool(trainer.loggers)
        if self.active:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self.active:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self.active:
            super().on_train_epoch_start(trainer, *args, **kwargs)
