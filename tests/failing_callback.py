"""A Lightning callback that fails the first run that uses it: a sweep with one failing job.

Injected from the command line with PYTHONPATH=tests:
  +callbacks.fail_once._target_=failing_callback.FailOnce +callbacks.fail_once.marker=/tmp/failed
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import Callback


class FailOnce(Callback):
    """Raise in on_fit_start unless `marker` exists; create it first, so only one run fails."""

    def __init__(self, marker: str) -> None:
        self.marker = Path(marker)

    def on_fit_start(self, trainer, pl_module) -> None:
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.marker.open("x").close()  # atomic: of jobs running at once, exactly one creates it
        except FileExistsError:
            return
        raise RuntimeError(f"forced failure (marker {self.marker})")


class StopAtEpoch(Callback):
    """Raise at the end of epoch `epoch` (before its checkpoints): a run killed there, in-process."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError(f"stopped at the end of epoch {self.epoch}")
