"""The training task: seed, read the data, size the model from it, fit, test the best checkpoint, write
the run's results, and say in the run's folder how it ended. With `cv.folds` it does so for every fold
(litlab.data.folds cuts them; litlab.runs.folds writes their folders and the aggregate).

Run it through the entry point: `python train.py experiment=diabetes` (see conf/train.yaml). Where things
live: the run folder and its files in litlab.runs, checkpoints in litlab.checkpoints, process-wide
helpers in litlab.runtime; data sets, models and callbacks are tied in by `_target_` in conf/.
"""

from __future__ import annotations

import logging
import random
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import litlab  # noqa: F401  (registers the config resolvers)
from litlab.population.run import vectorize_requested, vectorized_by_auto
from litlab.runs.files import read_metrics, write_config, write_metrics
from litlab.runs.folds import (
    CrossValidationResults,
    check_cv_config,
    check_one_process,
    cv_enabled,
    cv_settings,
    fold_config,
    fold_seed,
)
from litlab.runs.layout import ERROR_FILE, written
from litlab.runs.lifecycle import FIT_SUMMARY, RunRecord, job_title, run_lifecycle
from litlab.runs.resume import (
    ResumePlan,
    RunFolderInUse,
    check_not_finished,
    fit_is_over,
    plan_fold,
    plan_resume,
)
from litlab.runs.status import (
    RunInterrupted,
    in_multirun,
    is_trial_pruned,
    read_status,
    record_failure,
    stop_at_batch_boundary,
    sweeper_value,
)
from litlab.runs.trial import search_trial
from litlab.runtime.cli import entry_point, quick_exit
from litlab.runtime.console import set_up_console
from litlab.runtime.ddp_launch import ddp_ranks_for_this_job
from litlab.runtime.errors import errors_in_one_line
from litlab.runtime.groups import instantiate_each
from litlab.runtime.logging import log_hparams
from litlab.runtime.objective import check_logged, check_objective
from litlab.runtime.ranks import is_rank_zero, launched_by_ddp
from litlab.runtime.resolvers import REPO_ROOT
from litlab.runtime.sizes import check_typed_sizes
from litlab.runtime.threads import thread_count, torch_threads

if TYPE_CHECKING:
    import lightning as L

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float | None:
    """Train and test one configuration; return the metric named by `cfg.optimized_metric`."""
    # This run's own folder: new for a fresh run (never shared, even by runs started in the same
    # millisecond), the continued run's for ckpt_path=last (runs/layout.py chose it before Hydra's log
    # file went there).
    run_dir = Path(cfg.paths.output_dir)
    earlier = read_status(run_dir)  # the folder holds an earlier run: written only once a resume is accepted
    with torch_threads(thread_count(cfg)), run_lifecycle(run_dir, resuming=earlier is not None) as run:
        check_cv_config(cfg, run.overrides)
        plan = plan_resume(cfg, run_dir, run.overrides)
        if plan.finished:  # a finished sweep job rerun with ckpt_path=last: leave it as it is
            return optimized_metric(cfg, read_metrics(run_dir))
        import lightning as L  # deferred: printing or checking a config never imports torch

        set_up_console(cfg.get("verbose", False))
        check_config(cfg)
        vectorized = vectorize_requested(cfg)
        trial = search_trial(cfg)  # a trial of a search with a pruner: it reports to its study
        draw_seed_if_unseeded(cfg)
        L.seed_everything(cfg.seed, workers=True)

        datamodule = setup_data(cfg)
        cfg.title = job_title(cfg.task_name, run.overrides)  # its figures' and reports' (config.yaml has it)
        config = OmegaConf.to_container(cfg, resolve=True)
        # Without cv one "fold": the data module's own split, in the run folder itself.
        cv = (
            CrossValidationResults(run_dir, cfg.cv.folds, cfg.cv.repeats, cfg.title)
            if cv_enabled(cfg)
            else None
        )
        folds = datamodule.folds(cfg.cv.folds, cfg.cv.repeats) if cv else [None]
        if vectorized == "auto":
            vectorized = bool(cv) and vectorized_by_auto(cfg)
        if cv:
            run.details.update(cv=cv_settings(cfg), folds_total=len(folds))
        if vectorized:  # every fold at once, as one population (litlab.population)
            from litlab.population.run import train_population

            last_step = train_population(
                cfg, config, datamodule, folds, cv, run, plan, shows_model_summary(cfg, 0)
            )
        else:
            trainer, metrics = train_each_fold(
                cfg, config, datamodule, folds, cv, run, plan, earlier or {}, trial
            )
            last_step = trainer.global_step if trainer else 0  # the last fold's last step
        if cv:  # the means (and their spread, in metrics.json) over the folds
            metrics = cv.write(cfg.get("optimized_metric"))
            if is_rank_zero():  # the run's own loggers: its CV means beside each fold's run
                log_hparams(instantiate_each(cfg.get("logger")), cfg, run.overrides, metrics, last_step)
            # The last fold's epochs would misdescribe the run: it ended by training every fold.
            run.details.update(folds_done=len(folds), stopped_by="cross_validation")
            for key in ("fold", "fit", *FIT_SUMMARY[:2]):
                run.details.pop(key, None)
        value = optimized_metric(cfg, metrics)  # a wrong name fails the run before it says ok
        if is_rank_zero():  # under DDP only rank 0 writes the run's files
            if not cv:
                write_metrics(run_dir, metrics, run.details.get("fit"))
            write_config(run_dir, cfg)
            if not in_multirun():  # HParams' experiment summary (a sweep's: when it ends, runs/summary.py)
                from litlab.runtime.hparams import write_experiments

                write_experiments(run_dir, cfg.paths.log_dir)
            run.finish()
            log.info("Run dir: %s (%s)", run_dir, written(run_dir))
    return value


def train_each_fold(
    cfg: DictConfig, config: dict[str, Any], datamodule: Any, folds: list[Any], cv: Any, run: RunRecord,
    plan: ResumePlan, earlier: dict[str, Any], trial: Any,
) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """Fit and test each fold in turn (without cv the one split, in the run folder itself); returns the
    last trainer and the last fold's metrics."""
    import lightning as L

    trainer, metrics = None, {}
    for n, fold in enumerate(folds):
        fold_cfg, fold_plan, record, fit_before, fold_dir = cfg, plan, run, earlier or {}, None
        if fold is not None:  # this fold's rows (preprocessing refitted), own folder, status and seed
            fold_dir = cv.fold_dir(fold.name)
            fold_plan = plan_fold(fold_dir) if plan.continue_folds else ResumePlan()
            if fold_plan.finished:  # done by an earlier process of this run: kept
                cv.restore(fold, list(cfg.from_data.class_names))
                continue
            datamodule.use_fold(fold)
            fold_cfg = fold_config(cfg, fold_dir)
            fit_before = read_status(fold_dir) or {}
            record = RunRecord(fold_dir, resuming=False)
            L.seed_everything(fold_seed(cfg.seed, n), workers=True, verbose=False)
        checkpoint_path = check_resumable(fold_plan, config, cfg, fold_dir)
        if fold_dir is not None and checkpoint_path is None and not fold_plan.test_only:
            shutil.rmtree(fold_dir, ignore_errors=True)  # a fold begun afresh begins in an empty folder
        model = instantiate(cfg.model)
        check_logged(cfg.get("optimized_metric"), model.metric_names())
        pruning = [trial.callback()] if trial and not cv else []  # under cv: between folds, below
        trainer = build_trainer(fold_cfg, config, shows_model_summary(cfg, n), pruning)
        run.trainer = record.trainer = trainer
        if fold is not None:
            check_one_process(trainer, cfg)
            run.details.update(fold=fold.name, folds_done=n)
            record.begin()
        run.begin()  # the checks are passed: from here on the folder records this run (and fold)

        with ddp_ranks_for_this_job(trainer.world_size):
            if fold_plan.test_only:  # stopped after its fit ended: what is left is the test
                kept = (*FIT_SUMMARY, "fit")
                record.details.update({k: fit_before[k] for k in kept if k in fit_before})
                metrics = validate_and_test(trainer, model, datamodule, fold_plan.checkpoint, not cv)
                metrics.update(fit_before.get("train_metrics", {}))
            else:
                metrics = fit_and_test(
                    trainer, model, datamodule, checkpoint_path, cfg.monitor.metric, record, not cv
                )
            if cv:  # the best checkpoint's outputs on the fold's test rows: out-of-fold predictions
                cv.add_tested(fold, metrics, trainer, model, datamodule, cfg.from_data.class_names,
                              record.details.get("fit"))  # fmt: skip
                record.finish()
                if trial:
                    trial.after_fold(n, cv.values(cfg.optimized_metric))
                tested = (f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith("test/"))
                log.info("%s (%d of %d): %s", fold.name, n + 1, len(folds), ", ".join(tested))
            if trainer.is_global_zero:
                log_hparams(trainer.loggers, cfg, run.overrides, metrics, trainer.global_step)
    return trainer, metrics


def check_config(cfg: DictConfig) -> None:
    """Errors a config can show before anything is read or built."""
    seed = cfg.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed={seed!r} is not an integer; give seed=<integer> or seed=null (draw one)")
    check_objective(cfg.monitor.metric, cfg.monitor.mode, option="monitor.metric")
    check_objective(cfg.get("optimized_metric"), cfg.get("optimized_metric_mode"))


def setup_data(cfg: DictConfig):
    """The data module, read and split, before any model exists: its sizes, class and feature names go
    to `cfg.from_data`, where the model's config reads them (and config.yaml records them). Under cv it
    must be one that folds, said before anything is read."""
    datamodule = instantiate(cfg.data)
    if cv_enabled(cfg):
        from litlab.data.folds import check_can_fold

        check_can_fold(datamodule, cfg.cv.folds, cfg.cv.get("repeats"))
    datamodule.prepare_data()
    datamodule.setup("fit")
    described = datamodule.describe()
    check_typed_sizes(cfg, described, f"the data ({type(datamodule).__name__})")
    OmegaConf.update(cfg, "from_data", described, force_add=True)
    return datamodule


def draw_seed_if_unseeded(cfg: DictConfig) -> None:
    """`seed: null` draws a seed once and writes it into the config, so the split, the checkpoints,
    config.yaml and eval.py all know it; the ranks a DDP launcher starts take rank 0's draw."""
    if cfg.get("seed") is not None:  # seed 0 is a seed
        return
    import os

    if not launched_by_ddp() and int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", 1))) > 1:
        raise ValueError(
            "seed=null with processes started outside Lightning (torchrun, srun): each would draw its "
            "own seed and its own data split; give seed=<integer>"
        )
    inherited = os.environ.get("PL_GLOBAL_SEED") if launched_by_ddp() else None
    seed = int(inherited) if inherited else random.randrange(2**31)
    OmegaConf.update(cfg, "seed", seed, force_add=True)
    log.info("seed=null: drew seed %d (it is in config.yaml and the checkpoints)", seed)


def check_resumable(
    plan: ResumePlan, config: dict[str, Any], cfg: DictConfig, fold_dir: Path | None = None
) -> str | None:
    """Before any weights are loaded: a checkpoint that is whole, of this experiment, with epochs left
    (or, to test only, a finished fit). A CV fold (`fold_dir`) whose fit had ended with no record of it
    (killed between its last checkpoint and its test) is trained again from its seed: resumed, it could
    give neither its final train metrics nor, under early stopping, the same epochs."""
    checkpoint_path = plan.checkpoint
    if not checkpoint_path:
        return None
    from litlab.checkpoints.contents import stored_config
    from litlab.checkpoints.identity import check_same_experiment
    from litlab.checkpoints.io import load_checkpoint

    checkpoint = load_checkpoint(checkpoint_path, mmap=True)
    check_same_experiment(stored_config(checkpoint), config)
    if fold_dir is not None and not plan.test_only and fit_is_over(checkpoint, cfg.trainer.get("max_epochs")):
        log.info("%s: its fit had ended but its test had not begun; training the fold again", fold_dir.name)
        return None
    if plan.test_only:
        log.info("Its fit had ended: testing %s", checkpoint_path)
    else:
        check_not_finished(checkpoint, cfg.trainer.get("max_epochs"))
        log.info("Resuming from %s: epoch %d done", checkpoint_path, checkpoint.get("epoch", -1))
    return checkpoint_path


def shows_model_summary(cfg: DictConfig, fold_number: int) -> bool:
    """One model summary per run (its first fold) and per sweep (its first job): those of parallel jobs
    would interleave, and the folds' repeat the first's (`verbose=true`: every one)."""
    if cfg.get("verbose", False):
        return True
    return fold_number == 0 and (not in_multirun() or HydraConfig.get().job.num == 0)


def build_trainer(
    cfg: DictConfig, config: dict[str, Any], model_summary: bool = True, extra: list[Any] | None = None
):
    """The Trainer with the configured callbacks (and `extra` ones) and loggers, refused when it would
    train nothing."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from litlab.callbacks.progress_bar import shows_progress
    from litlab.checkpoints.contents import RunState

    loggers = instantiate_each(cfg.get("logger"))
    callbacks = [*instantiate_each(cfg.get("callbacks")), RunState(config), *(extra or [])]
    # Without a checkpoint callback of ours Lightning would add its own, into the logger's folder.
    checkpointing = any(isinstance(callback, ModelCheckpoint) for callback in callbacks)
    quiet = {} if model_summary else {"enable_model_summary": False}
    if not shows_progress(callbacks):  # none for this output
        quiet["enable_progress_bar"] = False
    trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, enable_checkpointing=checkpointing, **quiet
    )
    check_trains_something(trainer)
    return trainer


def check_trains_something(trainer) -> None:
    """A trainer that would fit no batch would test random weights and report them as a result."""
    nothing = {
        "trainer.max_epochs": trainer.max_epochs == 0,
        "trainer.max_steps": trainer.max_steps == 0,
        "trainer.limit_train_batches": trainer.limit_train_batches == 0,
    }
    zero = [name for name, is_zero in nothing.items() if is_zero]
    if zero:
        raise ValueError(
            f"{zero[0]}=0 trains nothing: the run would test untrained weights. Give it a positive value "
            f"(e.g. {zero[0]}={'1.0' if 'limit' in zero[0] else '10'}); to test a trained model use "
            "`python eval.py ckpt_path=...`"
        )


def fit_and_test(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    checkpoint_path: str | None,
    monitor: str,
    run: RunRecord,
    verbose: bool = True,
) -> dict[str, float]:
    """Fit, then validate and test the best checkpoint: the final train/, val/ and test/ metrics. `run`
    (the run's record, or a CV fold's) records that the fit ended, so one stopped while testing resumes
    by testing."""
    from litlab.checkpoints.callbacks import best_checkpoint
    from litlab.runs.fit_report import fit_section, stop_line
    from litlab.runs.layout import best_epoch

    with stop_at_batch_boundary(trainer):  # SIGINT / SIGTERM: every rank stops at the same step
        trainer.fit(model, datamodule=datamodule, ckpt_path=checkpoint_path)
    best = best_checkpoint(trainer, monitor)
    log.info(stop_line(trainer, monitor, best))
    # The tested epoch's train metrics, beside its val/ and test/ (read before the test loads the best).
    train_metrics = model.train_metrics_at(best_epoch(best) if best else None)
    run.fit_done(best, train_metrics, fit_section(trainer, best, model.train_metrics_at(None)))
    return {**train_metrics, **validate_and_test(trainer, model, datamodule, best, verbose)}


def validate_and_test(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    checkpoint: str | None,
    verbose: bool = True,
) -> dict[str, float]:
    """val/ and test/ metrics of `checkpoint` (None: the model's current weights); `verbose`: print
    Lightning's table of the test metrics (a CV fold prints one line instead)."""
    # Validation of the best checkpoint goes to metrics.json only: the loggers already hold
    # the per-epoch curve, and a second point at the last step would misdraw it.
    fit_loggers, trainer.loggers = trainer.loggers, []
    metrics = dict(
        (trainer.validate(model, datamodule=datamodule, ckpt_path=checkpoint, verbose=False) or [{}])[0]
    )
    trainer.loggers = fit_loggers  # under fast_dev_run, Lightning's DummyLogger
    metrics.update(trainer.test(model, datamodule=datamodule, ckpt_path=checkpoint, verbose=verbose)[0])
    return {name: float(value) for name, value in sorted(metrics.items())}


def optimized_metric(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper optimises, looked up by name in the run's metrics."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise KeyError(
            f"optimized_metric={name!r} is not a metric of this run; pick one of {sorted(metrics)}"
        )
    return metrics[name]


# An absolute path: Hydra reads a relative one as a Python package when litlab is imported.
@entry_point
@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: `litlab-train experiment=diabetes` or `python train.py ...`.

    A single run's user error (a bad value, a missing file) ends in one line naming the fix
    (runtime/errors.py); other errors raise. In a multirun one failing job (a diverging learning
    rate, a combination that does not fit in memory) must not end the sweep: its folder says failed
    (error.txt holds the traceback), and the sweeper gets None; the sweep summary lists it as
    failed; a search trial its pruner stopped (runs/trial.py) returns None too, its folder says pruned.
    SIGINT or SIGTERM ends the run, or the whole sweep, with exit code 130 or 143.
    """
    quick_exit()  # a joblib worker's exit too (the process that started the run has it already)
    with errors_in_one_line():  # a single run's user error: one line (a sweep's job: below)
        try:
            value = train(cfg)
        except RunInterrupted as stop:
            if in_multirun():  # Hydra's end-of-sweep callback will not run: say now what the jobs hold
                from litlab.runs.summary import write_summary

                sweep = Path(HydraConfig.get().sweep.dir)
                metric, mode = cfg.get("optimized_metric"), cfg.get("optimized_metric_mode")
                write_summary(sweep, metric, mode, cfg.paths.log_dir, cfg.monitor.metric)
            sys.exit(stop.exit_code)
        except Exception as error:
            if not in_multirun():
                raise
            if is_trial_pruned(error):  # its folder says pruned, its study knows
                log.info("Trial %s", error)
                return None
            if isinstance(error, RunFolderInUse):
                log.error("Job not run: %s", error)
                return None
            job_dir = Path(HydraConfig.get().runtime.output_dir)  # the job config may be what failed
            if read_status(job_dir) is None:  # failed before its run began (a config error)
                record_failure(job_dir, error)
            log.error("Job failed; the sweep goes on. Traceback in %s", job_dir / ERROR_FILE, exc_info=error)
            return None
    return sweeper_value(value) if in_multirun() else value
