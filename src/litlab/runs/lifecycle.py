"""A run's life in its folder: `running` when it starts, then `ok`, `failed` or `interrupted`.

Every way out of the task goes through `run_lifecycle`, so no folder is left saying less than it should:
a finished run writes its metrics and then `ok`; an exception writes error.txt and `failed`; SIGINT or
SIGTERM writes `interrupted` with the epochs done (last.ckpt stays, so `ckpt_path=last` resumes it)
and the process exits 130 or 143.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from litlab.runs.status import RunInterrupted, record_failure, signals_interrupt, write_status

log = logging.getLogger(__name__)


def stopped_by(trainer: Any) -> str:
    """What ended a fit: max_epochs, early_stopping, or stopped (max_steps, max_time, fast_dev_run)."""
    max_epochs = trainer.max_epochs
    if max_epochs is not None and max_epochs >= 0 and trainer.current_epoch >= max_epochs:
        return "max_epochs"
    if any(getattr(callback, "stopped_epoch", 0) for callback in trainer.early_stopping_callbacks):
        return "early_stopping"
    return "stopped"


class RunRecord:
    """What the lifecycle knows of the run: its folder and, once built, its trainer (for the epochs)."""

    def __init__(self, run_dir: Path, resuming: bool) -> None:
        self.run_dir = run_dir
        self.resuming = resuming
        self.begun = False
        self.trainer: Any = None

    def begin(self) -> None:
        """The checks are passed and training begins: from here on the folder is this run's to write."""
        self.begun = True
        write_status(self.run_dir, "running", pid=os.getpid())

    def owns_folder(self) -> bool:
        """Whether failures go into the folder: a refused resume (another experiment, nothing left to
        train) leaves the old run's folder as it was."""
        return self.begun or not self.resuming

    def epochs_done(self) -> int:
        """Training epochs finished so far (the current epoch, if cut short, does not count)."""
        return int(self.trainer.current_epoch) if self.trainer is not None else 0

    def finish(self) -> None:
        """Mark the run ok: call after its results are written (a training run says how its fit ended)."""
        fit = (
            {}
            if self.trainer is None
            else {"epochs": self.epochs_done(), "stopped_by": stopped_by(self.trainer)}
        )
        write_status(self.run_dir, "ok", **fit)


@contextmanager
def run_lifecycle(run_dir: Path, resuming: bool = False) -> Iterator[RunRecord]:
    """Around the whole task; see the module docstring. `resuming`: the folder holds an earlier run,
    which is only written to once `begin()` says the resume was accepted."""
    record = RunRecord(run_dir, resuming)
    try:
        with signals_interrupt():
            yield record
    except RunInterrupted as stop:
        signal_name = str(stop).rsplit(" ", 1)[-1]
        if record.owns_folder():
            write_status(run_dir, "interrupted", signal=signal_name, epochs=record.epochs_done())
        log.warning(
            "Interrupted by %s after %d finished epoch(s): %s keeps checkpoints/last.ckpt; continue with "
            "ckpt_path=last", signal_name, record.epochs_done(), run_dir,
        )  # fmt: skip
        raise
    except Exception as error:
        if record.owns_folder():
            record_failure(run_dir, error)
        raise
