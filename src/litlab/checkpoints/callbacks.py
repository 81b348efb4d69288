"""The run's two checkpoints: the best epoch by the monitored metric, and the latest epoch.

Their folder and file names come from the run folder's layout (runs/layout.py), not from YAML.
"""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from litlab.runs.layout import BEST_NAME, LAST_NAME, checkpoint_dir

log = logging.getLogger(__name__)


class RunCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint that writes into the run folder's checkpoints/ (trainer.default_root_dir)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.dirpath = str(checkpoint_dir(trainer.default_root_dir))
        super().setup(trainer, pl_module, stage)


class BestCheckpoint(RunCheckpoint):
    """checkpoints/epoch_NNN.ckpt of the `save_top_k` best epochs by `monitor`; the task tests the best."""

    def __init__(self, monitor: str, mode: str = "min", save_top_k: int = 1) -> None:
        super().__init__(
            filename=BEST_NAME, monitor=monitor, mode=mode, save_top_k=save_top_k,
            auto_insert_metric_name=False,
        )  # fmt: skip


class LastCheckpoint(RunCheckpoint):
    """checkpoints/last.ckpt after every epoch: what `ckpt_path=last` resumes from.

    Lightning's `save_last` only copies the best checkpoint when it changes; this one follows the
    latest epoch, so a resumed run continues where it stopped.
    """

    def __init__(self) -> None:
        super().__init__(filename=LAST_NAME, enable_version_counter=False)


def best_checkpoint(trainer: L.Trainer, monitor: str) -> str | None:
    """The best checkpoint by `monitor` (found by what it monitors, not by its place in the callbacks),
    or None for the final weights: no checkpoint monitors it, or checkpointing is off."""
    callbacks = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)]
    for callback in callbacks:
        if callback.monitor == monitor and callback.best_model_path:
            return callback.best_model_path
    if any(callback.monitor == monitor for callback in callbacks):
        log.warning("No checkpoint was saved for %s: testing the final weights.", monitor)
    elif callbacks:
        log.warning(
            "No checkpoint callback monitors %s (monitor.metric): testing the final weights.", monitor
        )
    else:
        log.warning(
            "Checkpointing is off (callbacks.best_checkpoint=null, or fast_dev_run): testing the final "
            "weights, not the best epoch by %s.", monitor,
        )  # fmt: skip
    return None
