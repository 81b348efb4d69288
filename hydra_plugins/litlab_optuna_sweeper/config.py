"""The sweeper's config, `hydra/sweeper=litlab_optuna`: exactly the arguments of LitlabOptunaSweeper."""
# No `from __future__ import annotations`: Hydra imports plugin modules without sys.modules, where
# dataclasses would look the string annotations up.

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class LitlabOptunaSweeperConf:
    """hydra.sweeper: what to search, how many trials, the sampler and pruner by name, the study's store."""

    _target_: str = "hydra_plugins.litlab_optuna_sweeper.sweeper.LitlabOptunaSweeper"
    # minimize or maximize: the optimized metric's mode decides (runtime/objective.py)
    direction: str = "${optuna_direction:${optimized_metric_mode}}"
    n_trials: int = 20  # the study's total: a resumed study runs what is left
    n_jobs: int = 1  # trials at once (a parallel launcher runs them: hydra/launcher=joblib)
    sampler: str = "tpe"  # tpe, random, gp, qmc
    seed: Any = "${oc.select:seed,null}"  # the sampler's seed: the run's seed
    # Each sampler's and pruner's arguments by its name (the chosen one's are used), e.g.
    # sampler_args: {tpe: {n_startup_trials: 6}}; pruner_args: {median: {n_warmup_steps: 5}}
    sampler_args: dict[str, Any] = field(default_factory=dict)
    pruner: str = "none"  # none, median, successive_halving, hyperband
    pruner_args: dict[str, Any] = field(default_factory=dict)
    # Names the study and its folder, logs/<task_name>/searches/<study_name>/.
    study_name: str = "${task_name}-${oc.select:hydra.runtime.choices.hparams_search,search}"
    storage: Any = None  # null: <sweep dir>/study.journal; or a journal file, or a database URL
    params: Any = None  # key: grammar, e.g. model.optimizer.lr: tag(log, interval(0.001, 0.3))


ConfigStore.instance().store(
    group="hydra/sweeper", name="litlab_optuna", node=LitlabOptunaSweeperConf, provider="litlab"
)
