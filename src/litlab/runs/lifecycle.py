"""A run's life in its folder: `running` when it starts, then `ok`, `failed`, `interrupted` or `pruned`.

Every way out of the task goes through `run_lifecycle`, so no folder is left saying less than it should:
a finished run writes its metrics and then `ok`; an exception writes error.txt and `failed`; SIGINT or
SIGTERM writes `interrupted` with the epochs done (last.ckpt stays, so `ckpt_path=last` resumes it)
and the process exits 130 or 143; a search trial stopped by its pruner writes `pruned` with why (its
epoch, its last value: runs/trial.py). A folder that holds an earlier run (a resume) is written only once
the resume is accepted (`begin()`): a refused one leaves that run's record as it was.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from litlab.runs.status import (
    RunInterrupted,
    in_multirun,
    is_lightning_sigterm,
    is_trial_pruned,
    record_failure,
    signals_interrupt,
    stop_signal,
    write_status,
)

log = logging.getLogger(__name__)

# What status.json says of a fit, kept when a run stopped while testing only tests on resume.
FIT_SUMMARY = ("epochs", "max_epochs", "stopped_by")


def stopped_by(trainer: Any) -> str:
    """What ended a fit: fast_dev_run, max_epochs, max_steps, early_stopping, converged (a full-batch L-BFGS
    epoch that left every weight as it was: callbacks/converged.py), or stopped (max_time...)."""
    from litlab.callbacks.converged import StopWhenConverged

    if trainer.fast_dev_run:
        return "fast_dev_run"
    max_epochs = trainer.max_epochs
    if max_epochs is not None and max_epochs >= 0 and trainer.current_epoch >= max_epochs:
        return "max_epochs"
    if 0 < trainer.max_steps <= trainer.global_step:
        return "max_steps"
    for callback in trainer.early_stopping_callbacks:
        if callback.stopped_epoch > 0 or callback.wait_count >= callback.patience:  # epoch 0 counts too
            return "early_stopping"
    if any(isinstance(c, StopWhenConverged) and c.converged_epoch is not None for c in trainer.callbacks):
        return "converged"
    return "stopped"


def job_overrides() -> list[str]:
    """The command-line overrides of this run (Hydra's), but the resume request itself."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return sorted(o for o in HydraConfig.get().overrides.task if not o.lstrip("+~").startswith("ckpt_path="))


def job_title(task_name: str, overrides: list[str]) -> str:
    """This run's title for its figures and reports (runs/layout.run_title): in a sweep, the values the
    sweep varied; otherwise every override that says what the run is."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from litlab.runs.layout import run_title, swept_keys

    swept = None
    if in_multirun():
        hydra = HydraConfig.get()
        swept = swept_keys(hydra.sweep.dir, OmegaConf.select(hydra, "sweeper.params", default=None))
    return run_title(task_name, overrides, swept)


class RunRecord:
    """What the lifecycle knows of the run: its folder and, once built, its trainer (for the epochs)."""

    def __init__(self, run_dir: Path, resuming: bool) -> None:
        self.run_dir = run_dir
        self.resuming = resuming
        self.begun = False
        self.trainer: Any = None
        self.overrides = job_overrides()
        # Kept in every status written: who runs (a live run is not resumed by another) and with what.
        self.details: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()}
        self.details["overrides"] = self.overrides

    def write(self, status: str, **details: Any) -> None:
        """status.json with this run's details, updated by `details`."""
        self.details.update(details)
        write_status(self.run_dir, status, **self.details)

    def begin(self) -> None:
        """The checks are passed and training begins: from here on the folder is this run's to write."""
        self.begun = True
        self.write("running")

    def owns_folder(self) -> bool:
        """Whether failures go into the folder: a refused resume (another experiment, nothing left to
        train) leaves the old run's folder as it was."""
        return self.begun or not self.resuming

    def epochs_done(self) -> int:
        """Training epochs finished so far (the current epoch, if cut short, does not count)."""
        return int(self.trainer.current_epoch) if self.trainer is not None else 0

    def fit_done(self, best: str | None, train_metrics: dict[str, float], fit: dict[str, Any]) -> None:
        """Training ended; what is left is testing. A run stopped from here on resumes by testing only.
        `train_metrics`: the tested epoch's; `fit`: metrics.json's fit section (runs/fit_report.py)."""
        self.write(
            "running", fit_done=True, best_checkpoint=best, train_metrics=train_metrics, fit=fit,
            **self.fit_summary(),
        )  # fmt: skip

    def fit_summary(self) -> dict[str, Any]:
        """Epochs done, the epoch limit and what ended the fit (for deciding whether it may go on)."""
        if self.trainer is None:
            return {}
        return {
            "epochs": self.epochs_done(),
            "max_epochs": self.trainer.max_epochs,
            "stopped_by": stopped_by(self.trainer),
        }

    def finish(self) -> None:
        """Mark the run ok: call after its results are written."""
        if "stopped_by" not in self.details:
            self.details.update(self.fit_summary())
        self.write("ok")


@contextmanager
def run_lifecycle(run_dir: Path, resuming: bool = False) -> Iterator[RunRecord]:
    """Around the whole task; see the module docstring. `resuming`: the folder holds an earlier run."""
    record = RunRecord(run_dir, resuming)
    try:
        with signals_interrupt():
            try:
                yield record
            except BaseException as error:
                if is_lightning_sigterm(error):  # Lightning's synchronised stop at a batch boundary
                    raise RunInterrupted(stop_signal()) from error
                raise
    except RunInterrupted as stop:
        signal_name = signal.Signals(stop.signum).name
        if record.owns_folder():
            record.write("interrupted", signal=signal_name, epochs=record.epochs_done())
        log.warning(
            "Interrupted by %s after %d finished epoch(s): %s keeps checkpoints/last.ckpt; continue with "
            "ckpt_path=last", signal_name, record.epochs_done(), run_dir,
        )  # fmt: skip
        raise
    except Exception as error:
        if record.owns_folder() and is_trial_pruned(error):
            record.write("pruned", reason=str(error), epochs=getattr(error, "epochs", record.epochs_done()))
        elif record.owns_folder():
            record_failure(run_dir, error, **record.details)
        raise
