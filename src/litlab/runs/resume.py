"""The whole resume policy: what `ckpt_path` means for a run, and when there is nothing left to train.

- no ckpt_path: start afresh, but never over a finished run's results (a sweep rerun into its own
  folder without ckpt_path=last);
- `ckpt_path=last` (or the folder's own checkpoints/last.ckpt): continue the run in this folder (chosen
  by runs.layout.run_folder: the latest run of this task, or the sweep job's own folder). A finished run
  (early-stopped, fast_dev_run, or at its max_epochs) is left untouched in a sweep and refused for a
  single run, unless more epochs are asked of a max-epochs run; a run stopped after its fit ended only
  tests; a sweep job with no last.ckpt yet starts afresh;
- another path: that checkpoint, in a new folder, checked to be whole, of this experiment, not finished;
- a cross-validation run (cv.folds) resumes only with `ckpt_path=last` (or one of its folds' last.ckpt),
  with the cv settings it started with: its finished folds are kept, the fold it was in continues from
  its last.ckpt (or only tests, when its fit had ended), and the folds after it start afresh
  (`plan_fold`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from litlab.runs.folds import cv_settings, tested_checkpoint
from litlab.runs.layout import METRICS_FILE, fold_dirs, last_checkpoint, run_of_checkpoint
from litlab.runs.status import in_multirun, read_status
from litlab.runtime.ranks import is_rank_zero

log = logging.getLogger(__name__)


class RunFolderInUse(ValueError):
    """The folder holds a finished run that starting afresh would overwrite."""


@dataclass(frozen=True)
class ResumePlan:
    """What the task does with its folder: train from `checkpoint` (None: afresh), only test
    `checkpoint` (the fit had ended), or nothing at all (`finished`)."""

    checkpoint: str | None = None
    test_only: bool = False
    finished: bool = False  # the run in this folder already ended: leave it as it is
    continue_folds: bool = False  # a cross-validation run goes on: each fold's plan is `plan_fold`


def can_train_longer(status: dict, max_epochs: int | None, run_dir: Path) -> bool:
    """Whether a finished run may go on: it ended at its max_epochs, more are asked, last.ckpt is there."""
    if status.get("stopped_by") != "max_epochs" or not last_checkpoint(run_dir).is_file():
        return False  # early stopping, fast_dev_run, max_steps or max_time ended it: it is done
    done = status.get("max_epochs") or status.get("epochs", 0)
    return max_epochs is not None and (max_epochs < 0 or max_epochs > done)


def finished_message(run_dir: Path, status: dict) -> str:
    """Why a finished run cannot be resumed, and what to do instead."""
    if status.get("cv"):
        return (
            f"the cross-validation run in {run_dir} finished all its {status.get('folds_total', '?')} folds. "
            f"Evaluate it with `python eval.py ckpt_path={run_dir}`, or start a new run without ckpt_path"
        )
    epochs, how = status.get("epochs", "?"), status.get("stopped_by", "itself")
    if how == "max_epochs":
        why = (
            f"it trained all {epochs} epochs of trainer.max_epochs; raise trainer.max_epochs to train longer"
        )
    else:
        last = f"epoch {epochs - 1}" if isinstance(epochs, int) else "its last epoch"  # counted from 0
        why = f"{how.replace('_', ' ')} ended it after {last}, so it is done"
    return (
        f"the run in {run_dir} finished ({why}). Evaluate the checkpoint its test used with "
        f"`python eval.py ckpt_path={tested_checkpoint(run_dir)}`, or start a new run without ckpt_path"
    )


def plan_resume(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> ResumePlan:
    """Decide from `cfg.ckpt_path` and the folder's status what this run does; `overrides` are this
    run's own (a finished sweep job is only kept for the same ones)."""
    ckpt_path = cfg.get("ckpt_path")
    own = ckpt_path and run_of_checkpoint(Path(ckpt_path).absolute()) == run_dir.absolute()
    if ckpt_path and ckpt_path != "last" and own:
        ckpt_path = "last"  # the folder's own last.ckpt (or a fold's): the same as continuing it
    cv = cv_settings(cfg)
    if cv and ckpt_path and ckpt_path != "last":
        raise ValueError(
            f"ckpt_path={ckpt_path} with cv.folds={cv['folds']}: a cross-validation run trains every fold "
            "from its own initialisation, so it resumes only itself: ckpt_path=last, or "
            "<run>/fold_<r>_<k>/checkpoints/last.ckpt. To start from trained weights, run without cv"
        )
    last = last_checkpoint(run_dir)
    status = read_status(run_dir) or {}
    if ckpt_path == "last" and status:
        check_same_cv(cv, status, run_dir)
    if status.get("status") == "ok" and is_rank_zero():  # DDP ranks > 0 follow rank 0 into its run
        if ckpt_path == "last" and can_train_longer(status, cfg.trainer.get("max_epochs"), run_dir):
            return ResumePlan(checkpoint=str(last))
        if ckpt_path == "last" and in_multirun():
            if status.get("overrides", overrides) != overrides:
                raise RunFolderInUse(
                    f"{run_dir} holds a finished run of other overrides ({status['overrides']}, this job: "
                    f"{overrides}); it is kept. Give the sweep another folder (hydra.sweep.dir=...)"
                )
            log.info("%s finished earlier (%s): left as it is", run_dir, status.get("stopped_by"))
            return ResumePlan(finished=True)
        if ckpt_path == "last":
            raise ValueError(f"ckpt_path=last: {finished_message(run_dir, status)}")
        if not ckpt_path:
            raise RunFolderInUse(
                f"{run_dir} already holds a finished run; it is kept. Resume it with ckpt_path=last, "
                "or give the sweep another folder (hydra.sweep.dir=...)"
            )
    if ckpt_path != "last":
        return ResumePlan(checkpoint=str(ckpt_path) if ckpt_path else None)
    if cv and fold_dirs(run_dir):
        return ResumePlan(continue_folds=True)
    plan = continue_in(run_dir, status)
    if plan.checkpoint:
        return plan
    if in_multirun() or not is_rank_zero():  # a sweep job not started yet; rank 0 already chose
        log.info("ckpt_path=last: %s does not exist yet, starting afresh", last)
        return ResumePlan()
    raise ValueError(
        f"ckpt_path=last: no earlier run of task_name={cfg.task_name} has a checkpoints/last.ckpt under "
        f"{Path(cfg.paths.log_dir) / cfg.task_name / 'runs'}; train this experiment first, or give the "
        "checkpoint file: ckpt_path=/path/to/last.ckpt"
    )


def continue_in(run_dir: Path, status: dict) -> ResumePlan:
    """How an unfinished run (or fold) in `run_dir` goes on: only test, when it was stopped after its
    fit ended (a resumed fit would train on); from its last.ckpt; or, with neither, afresh."""
    last = last_checkpoint(run_dir)
    if status.get("fit_done") and status.get("status") in ("running", "interrupted"):
        return ResumePlan(checkpoint=status.get("best_checkpoint") or str(last), test_only=True)
    if last.is_file():
        return ResumePlan(checkpoint=str(last))
    return ResumePlan()


def plan_fold(fold_dir: Path) -> ResumePlan:
    """A fold of a resumed cross-validation run: finished (its metrics.json is written last), or how it
    goes on (`continue_in`)."""
    status = read_status(fold_dir) or {}
    if status.get("status") == "ok" and (fold_dir / METRICS_FILE).is_file():
        return ResumePlan(finished=True)
    return continue_in(fold_dir, status)


def check_same_cv(cv: dict[str, int] | None, status: dict, run_dir: Path) -> None:
    """A resumed run keeps its folds: the same cv settings, or none for a single-split run."""
    before = status.get("cv")
    if before == cv or "status" not in status:
        return

    def settings(values: dict[str, int] | None) -> str:
        if not values:
            return "cv.folds=null"
        vectorize = "true" if values.get("vectorize") else "false"  # a population or the folds one by one
        return f"cv.folds={values['folds']} cv.repeats={values['repeats']} cv.vectorize={vectorize}"

    raise ValueError(
        f"ckpt_path=last: the run in {run_dir} was started with {settings(before)}, this one asks for "
        f"{settings(cv)}; other folds would mix two different experiments in one folder. Resume it with "
        f"{settings(before)}, or start a new run without ckpt_path"
    )


def fit_is_over(checkpoint: dict, max_epochs: int | None) -> bool:
    """Whether the fit that wrote `checkpoint` had ended: it reached max_epochs, or its early stopping
    had run out of patience (resuming it would train an epoch the uninterrupted fit never trained)."""
    if max_epochs is not None and max_epochs >= 0 and checkpoint.get("epoch", -1) + 1 >= max_epochs:
        return True
    return any(
        name.startswith("EarlyStopping") and state.get("wait_count", 0) >= state.get("patience", math.inf)
        for name, state in (checkpoint.get("callbacks") or {}).items()
    )


def check_not_finished(checkpoint: dict, max_epochs: int | None) -> None:
    """Resuming a checkpoint that already reached trainer.max_epochs would train nothing."""
    if max_epochs is not None and max_epochs >= 0 and checkpoint.get("epoch", -1) + 1 >= max_epochs:
        raise ValueError(
            f"the checkpoint already finished epoch {checkpoint['epoch'] + 1} of trainer.max_epochs="
            f"{max_epochs}: nothing is left to train. To train longer, raise it, e.g. "
            f"trainer.max_epochs={2 * max_epochs}"
        )
