"""The whole resume policy: what `ckpt_path` means for a run, and when there is nothing left to train.

- no ckpt_path: start afresh, but never over a finished run's results (a sweep rerun into its own
  folder without ckpt_path=last);
- `ckpt_path=last`: the run's own checkpoints/last.ckpt (the folder was chosen by runs.layout.run_folder:
  the latest run of this task, or the sweep job's own folder). A finished run (early-stopped, or at
  trainer.max_epochs) is left untouched in a sweep and refused for a single run; a sweep job with
  no last.ckpt yet starts afresh;
- a path: that checkpoint, checked to be whole, of this experiment, and not finished.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from litlab.runs.layout import last_checkpoint
from litlab.runs.status import in_multirun, read_status
from litlab.runtime.ranks import is_rank_zero

log = logging.getLogger(__name__)


class RunFolderInUse(ValueError):
    """The folder holds a finished run that starting afresh would overwrite."""


@dataclass(frozen=True)
class ResumePlan:
    """What the task does with its folder: train from `checkpoint` (None: afresh), or nothing at all."""

    checkpoint: str | None = None
    finished: bool = False  # the run in this folder already ended: leave it as it is


def epochs_left(status: dict, max_epochs: int | None) -> bool:
    """Whether a finished run could train on: it reached max_epochs and more are now asked for."""
    if status.get("stopped_by") != "max_epochs":
        return False  # early stopping (or max_steps, max_time) ended it: it is done
    return max_epochs is None or max_epochs < 0 or status.get("epochs", 0) < max_epochs


def finished_message(run_dir: Path, status: dict) -> str:
    """Why a finished run cannot be resumed, and what to do instead."""
    epochs = status.get("epochs", "?")
    if status.get("stopped_by") == "max_epochs":
        why = (
            f"it trained all {epochs} epochs of trainer.max_epochs; raise trainer.max_epochs to train longer"
        )
    else:
        why = f"it stopped by {status.get('stopped_by', 'itself')} after epoch {epochs}, so it is done"
    return (
        f"ckpt_path=last: the run in {run_dir} finished ({why}). Evaluate it with "
        f"`python eval.py ckpt_path={run_dir}/checkpoints/<best>.ckpt`, or start a new run without ckpt_path"
    )


def plan_resume(cfg: DictConfig, run_dir: Path) -> ResumePlan:
    """Decide from `cfg.ckpt_path` and the folder's status what this run does."""
    ckpt_path = cfg.get("ckpt_path")
    status = read_status(run_dir) or {}
    max_epochs = cfg.trainer.get("max_epochs")
    if not ckpt_path:
        if status.get("status") == "ok" and is_rank_zero():
            raise RunFolderInUse(
                f"{run_dir} already holds a finished run; it is kept. Resume it with ckpt_path=last, "
                "or give the sweep another folder (hydra.sweep.dir=...)"
            )
        return ResumePlan()
    if ckpt_path != "last":
        return ResumePlan(checkpoint=str(ckpt_path))
    if status.get("status") == "ok" and not epochs_left(status, max_epochs):
        if in_multirun():
            log.info("%s finished earlier (%s): left as it is", run_dir, status.get("stopped_by"))
            return ResumePlan(finished=True)
        raise ValueError(finished_message(run_dir, status))
    last = last_checkpoint(run_dir)
    if last.is_file():
        return ResumePlan(checkpoint=str(last))
    if in_multirun() or not is_rank_zero():  # a sweep job not started yet; rank 0 already chose
        log.info("ckpt_path=last: %s does not exist yet, starting afresh", last)
        return ResumePlan()
    raise ValueError(
        f"ckpt_path=last: no earlier run of task_name={cfg.task_name} has a checkpoints/last.ckpt under "
        f"{Path(cfg.paths.log_dir) / cfg.task_name / 'runs'}; train this experiment first, or give the "
        "checkpoint file: ckpt_path=/path/to/last.ckpt"
    )


def check_not_finished(checkpoint: dict, max_epochs: int | None) -> None:
    """Resuming a checkpoint that already reached trainer.max_epochs would train nothing."""
    if max_epochs is not None and max_epochs >= 0 and checkpoint.get("epoch", -1) + 1 >= max_epochs:
        raise ValueError(
            f"the checkpoint already finished epoch {checkpoint['epoch'] + 1} of trainer.max_epochs="
            f"{max_epochs}: nothing is left to train. To train longer, raise it, e.g. "
            f"trainer.max_epochs={2 * max_epochs}"
        )
