"""The run's two checkpoints: the best epoch by the monitored metric, and the latest epoch.

Their folder and file names come from the run folder's layout (runs/layout.py), not from YAML.
"""

from __future__ import annotations

import logging
import time

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from litlab.runs.layout import BEST_NAME, LAST_NAME, checkpoint_dir

log = logging.getLogger(__name__)
clock = time.monotonic  # LastCheckpoint's sense of time (a test moves it)


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
    """checkpoints/last.ckpt at the end of an epoch: what `ckpt_path=last` resumes from.

    Lightning's `save_last` only copies the best checkpoint when it changes; this one follows the
    latest epoch, so a resumed run continues where it stopped. It is written once `every_seconds` of
    training have passed since the last one, and always after the fit's last epoch (0: after every
    epoch). A killed run resumes from the last one written and trains the epochs since again, with the
    random state and callback states of then, so it still ends as an uninterrupted run would; it only
    repeats up to `every_seconds` of work, where a write per epoch would cost the small nets more time
    than it saves (a few ms each, against epochs of a few ms).
    """

    def __init__(self, every_seconds: float = 10.0) -> None:
        super().__init__(filename=LAST_NAME, enable_version_counter=False)
        if every_seconds < 0:
            raise ValueError(f"every_seconds={every_seconds}: give 0 (every epoch) or a number of seconds")
        self.every_seconds = every_seconds
        self.written_at = clock()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.written_at = clock()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._should_save_on_train_epoch_end(trainer) or self.due(trainer):
            super().on_train_epoch_end(trainer, pl_module)  # saves only if this is the saving hook

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._should_save_on_train_epoch_end(trainer) or self.due(trainer):
            super().on_validation_end(trainer, pl_module)  # saves only if this is the saving hook

    def due(self, trainer: L.Trainer) -> bool:
        """Whether this epoch's end writes last.ckpt (asked once per epoch, by the hook that saves)."""
        if trainer.sanity_checking:
            return False
        if clock() - self.written_at >= self.every_seconds or fit_ends_after_this_epoch(trainer):
            self.written_at = clock()
            return True
        return False


def fit_ends_after_this_epoch(trainer: L.Trainer) -> bool:
    """Whether the epoch ending now is the fit's last: early stopping asked to stop, or max_epochs or
    max_steps is reached."""
    max_epochs = trainer.max_epochs
    last_epoch = max_epochs is not None and max_epochs >= 0 and trainer.current_epoch + 1 >= max_epochs
    return bool(trainer.should_stop) or last_epoch or 0 < trainer.max_steps <= trainer.global_step


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
