"""A search trial's side of its study: found through the study's storage (the process may be another one
than the search's: joblib, submitit), it reports the monitored metric and stops when the pruner says so.

A trial is the sweep job whose number (`hydra.job.num`) is its trial number: litlab's sweeper launches
trial N as job N. Without cross-validation it reports after every validation epoch (step = epoch) the
monitored metric's best value so far; under `cv.folds` the running mean of the folds' optimized metric
after each fold (step = fold), pruning between folds, since every fold restarts the epochs and one fold's
curve says little of the others.

The callback is litlab's own rather than optuna-integration's PyTorchLightningPruningCallback, which
reports each epoch's value: a trial's result is its best checkpoint's value, and the raw curves of
finished trials rise again as they overfit until early stopping ends them, which lifts the median a
pruner compares with and lets every trial in its patience tail run on. On the diabetes search the
running best prunes far more for the same best (docs/search.md). A pruned trial tells the study so itself
(`PRUNED`, with its last reported value), then stops: its folder says `pruned` (runs/lifecycle.py).
"""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

SWEEPER_TARGET = "hydra_plugins.litlab_optuna_sweeper.sweeper.LitlabOptunaSweeper"


class SearchTrial:
    """The Optuna trial this job is, with the metric it reports (the monitored one)."""

    def __init__(self, trial: Any, metric: str, mode: str, pruner: str) -> None:
        self.trial, self.metric, self.mode, self.pruner = trial, metric, mode, pruner
        self.best: float | None = None  # the metric's best so far (what the best checkpoint holds)

    def callback(self) -> Any:
        """The Lightning callback that reports after each validation epoch and prunes."""
        from lightning.pytorch.callbacks import Callback

        search = self

        class ReportAndPrune(Callback):
            """After each validation epoch: the monitored metric's best so far to the study; pruned?"""

            def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
                if trainer.world_size > 1:  # every rank would have to stop at the same epoch
                    raise ValueError(
                        f"hydra.sweeper.pruner={search.pruner}: pruning a DDP trial ({trainer.world_size} "
                        "processes) is not supported; give hydra.sweeper.pruner=none, or one device"
                    )

            def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
                if trainer.sanity_checking:
                    return
                value = trainer.callback_metrics.get(search.metric)
                if value is None:
                    log.warning("%s was not logged this epoch: nothing reported to the study", search.metric)
                    return
                search.report_epoch(int(trainer.current_epoch), float(value))

        return ReportAndPrune()

    def report_epoch(self, epoch: int, value: float) -> None:
        """Report the best value so far at step `epoch`; prune when the pruner says so."""
        if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
            self.best = value
        self.trial.report(self.best, step=epoch)
        if self.trial.should_prune():
            self.prune(f"epoch {epoch}", f"best {self.metric}", self.best, epochs=epoch + 1)

    def after_fold(self, fold: int, values: list[float]) -> None:
        """Under CV: report the running mean of the folds done so far; prune when the pruner says so."""
        if not values:
            return
        mean = sum(values) / len(values)
        self.trial.report(mean, step=fold)
        if self.trial.should_prune():
            self.prune(f"fold {fold + 1}", f"mean {self.metric} of the folds so far", mean)

    def prune(self, where: str, what: str, value: float, epochs: int | None = None) -> None:
        """Tell the study this trial is pruned (its last reported `value` is its value), and stop it;
        `epochs`: those it trained (status.json says so)."""
        import optuna
        from optuna.trial import TrialState

        self.trial.study.tell(self.trial.number, state=TrialState.PRUNED, skip_if_finished=True)
        pruned = optuna.TrialPruned(f"pruned after {where} by the {self.pruner} pruner: {what} {value:.4g}")
        if epochs is not None:
            pruned.epochs = epochs  # type: ignore[attr-defined]  (read by runs/lifecycle.py)
        raise pruned


def search_trial(cfg: DictConfig) -> SearchTrial | None:
    """This job's trial when it runs in a search of litlab's sweeper with a pruner; else None. Refused
    when the pruner would judge another metric than the search optimises."""
    from hydra.core.hydra_config import HydraConfig

    from litlab.runs.status import in_multirun

    if not in_multirun():
        return None
    hydra = HydraConfig.get()
    sweeper = hydra.sweeper
    if OmegaConf.select(sweeper, "_target_", default=None) != SWEEPER_TARGET or sweeper.pruner == "none":
        return None
    metric = cfg.monitor.metric
    if cfg.get("optimized_metric") != metric:
        raise ValueError(
            f"hydra.sweeper.pruner={sweeper.pruner} judges trials by monitor.metric={metric} while the "
            f"search optimises optimized_metric={cfg.get('optimized_metric')}; give "
            "optimized_metric=${monitor.metric} (the hparams_search configs do) or hydra.sweeper.pruner=none"
        )
    import optuna

    from litlab.runs.study import make_pruner, open_storage, storage_url

    storage = open_storage(storage_url(sweeper.storage, hydra.sweep.dir))
    pruner = make_pruner(sweeper.pruner, OmegaConf.to_container(sweeper.pruner_args))
    study = optuna.load_study(
        study_name=sweeper.study_name, storage=storage, pruner=pruner, sampler=optuna.samplers.RandomSampler()
    )
    number = int(hydra.job.num)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return SearchTrial(optuna.trial.Trial(study, trial_id), metric, cfg.monitor.mode, sweeper.pruner)
