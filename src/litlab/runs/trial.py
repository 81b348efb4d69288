"""A search trial's side of its study: found through the study's storage (the process may be another one
than the search's: joblib, submitit), it reports the monitored metric and stops when the pruner says so.

A trial is the sweep job whose number (`hydra.job.num`) is its trial number: litlab's sweeper launches
trial N as job N. Without cross-validation Optuna's Lightning callback reports the monitored metric after
every validation epoch (step = epoch); under `cv.folds` the running mean of the folds' optimized metric is
reported after each fold (step = fold) and the trial is pruned between folds, since every fold restarts
the epochs and one fold's curve says little of the others. A pruned trial tells the study so itself
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

    def __init__(self, trial: Any, metric: str, pruner: str) -> None:
        self.trial, self.metric, self.pruner = trial, metric, pruner

    def callback(self) -> Any:
        """The Lightning callback that reports `metric` after each validation epoch and prunes."""
        from optuna_integration import PyTorchLightningPruningCallback

        search = self

        class ReportAndPrune(PyTorchLightningPruningCallback):
            """Optuna's callback; the trial it prunes is told PRUNED before the fit stops."""

            def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
                import optuna

                try:
                    super().on_validation_end(trainer, pl_module)
                except optuna.TrialPruned:
                    value = float(trainer.callback_metrics[search.metric])
                    search.prune(f"epoch {pl_module.current_epoch}", value, pl_module.current_epoch + 1)

        return ReportAndPrune(self.trial, self.metric)

    def after_fold(self, fold: int, values: list[float]) -> None:
        """Under CV: report the running mean of the folds done so far; prune when the pruner says so."""
        if not values:
            return
        mean = sum(values) / len(values)
        self.trial.report(mean, step=fold)
        if self.trial.should_prune():
            self.prune(f"fold {fold + 1}", mean)

    def prune(self, where: str, value: float, epochs: int | None = None) -> None:
        """Tell the study this trial is pruned (its last reported `value` is its value), and stop it;
        `epochs`: those it trained (status.json says so)."""
        import optuna
        from optuna.trial import TrialState

        self.trial.study.tell(self.trial.number, state=TrialState.PRUNED, skip_if_finished=True)
        pruned = optuna.TrialPruned(
            f"pruned after {where} by the {self.pruner} pruner: {self.metric} {value:.4g}"
        )
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
    return SearchTrial(optuna.trial.Trial(study, trial_id), metric, sweeper.pruner)
