"""The search loop: open (or resume) the study, ask for a trial, launch it as a job, tell its result.

Trial N runs as job N (its folder `N_<values>`): the trial's process finds its trial in the study's
storage by that number (litlab/runs/trial.py), reports to it and, when pruned, tells it so. The sweeper
tells what the job returned (a value: COMPLETE; None, or a job that crashed: FAIL), unless the trial
ended already.

No batch barrier: with n_jobs > 1 each of n_jobs threads launches one trial at a time through the
launcher and asks for the next as soon as its trial ends, so one slow trial holds up only its own
thread. Hydra's launcher API is synchronous (`launch` returns when its jobs end), which is why the
trials are launched one per call. The basic launcher runs jobs in this process, one at a time: it
takes n_jobs=1.
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class LitlabOptunaSweeper(Sweeper):
    """Hydra sweeper: an Optuna study with pruning, stored and resumable (hydra/sweeper=litlab_optuna)."""

    def __init__(
        self,
        direction: str,
        n_trials: int,
        n_jobs: int,
        sampler: str,
        seed: int | None,
        sampler_args: dict[str, Any],
        pruner: str,
        pruner_args: dict[str, Any],
        study_name: str,
        storage: str | None,
        params: dict[str, str] | None,
    ) -> None:
        self.direction, self.n_trials, self.n_jobs = direction, n_trials, n_jobs
        self.sampler, self.seed, self.sampler_args = sampler, seed, dict(sampler_args or {})
        self.pruner, self.pruner_args = pruner, dict(pruner_args or {})
        self.study_name, self.storage, self.params = study_name, storage, dict(params or {})
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.lock = threading.Lock()
        self.left = 0
        self.mine: set[int] = set()  # trial numbers this process launched and has not told yet

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        from litlab.runtime.errors import errors_in_one_line

        with errors_in_one_line():  # a bad search: one line naming the value and the fix, before any trial
            study, space, url = self.open(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        pool = ThreadPoolExecutor(self.n_jobs, thread_name_prefix="trial") if self.n_jobs > 1 else None
        try:
            if pool is None:
                self.run_trials(study, space)
            else:
                for future in [pool.submit(self.run_trials, study, space) for _ in range(self.n_jobs)]:
                    future.result()
        except BaseException:  # SIGINT, SIGTERM, an error: the trials it cut off get their slots back
            self.left = 0  # no thread asks for another trial
            self.cut_off_mine(study)
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=False)
            self.write_results(study, url, sweep_dir)

    def open(self, arguments: list[str]) -> tuple[Any, Any, str]:
        """The study, new or resumed, its search space and its storage's URL, every input checked."""
        from litlab.runs import study as studies
        from litlab.runs.search_space import build_space

        self.check_counts()
        space = build_space(self.params, arguments, self.config)
        # A bad name or argument is said before anything runs.
        pruner = studies.make_pruner(self.pruner, self.pruner_args)
        studies.make_sampler(self.sampler, self.seed, self.sampler_args)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        url = studies.storage_url(self.storage, sweep_dir)
        storage = studies.open_storage(url)
        study = studies.open_study(
            self.study_name, storage, self.direction, space.written, pruner=pruner,
            fixed=studies.trial_config(self.config, space.distributions),
        )  # fmt: skip
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # what the summary reads the swept keys from
        cut_off, told = studies.cut_off_stale_trials(study, sweep_dir, self.config.get("optimized_metric"))
        done = studies.counted(study)
        # A resumed study's sampler starts its random stream further on: it would redraw the first trials.
        seed = None if self.seed is None else int(self.seed) + len(study.get_trials(deepcopy=False))
        study.sampler = studies.make_sampler(self.sampler, seed, self.sampler_args)
        self.left = self.n_trials - done
        resumed = f", resumed with {done} trial(s) kept" if done or cut_off or told else ""
        log.info(
            "Study %s (%s, %s sampler, %s pruner) in %s%s", self.study_name, self.direction, self.sampler,
            self.pruner, url, resumed,
        )  # fmt: skip
        if told:
            log.info("Trial(s) %s had finished when their search died: their results told to the study", told)
        if cut_off:
            log.info("Trial(s) %s were running when their search died: failed, slots sampled again", cut_off)
        if self.left <= 0:
            log.info("The study has its %d trials: nothing to run (raise hydra.sweeper.n_trials)", done)
        return study, space, url

    def check_counts(self) -> None:
        """n_trials and n_jobs: positive, and n_jobs one the launcher can run."""
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ValueError(
                f"hydra.sweeper.n_trials={self.n_trials}: give a positive number of trials, the study's "
                "total (a resumed study counts the trials it has)"
            )
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ValueError(
                f"hydra.sweeper.n_jobs={self.n_jobs}: give the number of trials to run at once, >= 1"
            )
        from hydra._internal.core_plugins.basic_launcher import BasicLauncher

        if self.n_jobs > 1 and isinstance(self.launcher, BasicLauncher):
            raise ValueError(
                f"hydra.sweeper.n_jobs={self.n_jobs} with the basic launcher, which runs one job at a time "
                f"in this process; add hydra/launcher=joblib hydra.launcher.n_jobs={self.n_jobs}, or give "
                "hydra.sweeper.n_jobs=1"
            )

    def run_trials(self, study: Any, space: Any) -> None:
        """Launch trials one at a time until the study has n_trials (several threads may share this)."""
        from litlab.runs.study import OWNER_ATTR, owner

        while True:
            with self.lock:
                if self.left <= 0:
                    return
                self.left -= 1
                trial = study.ask(space.distributions)
                trial.set_user_attr(OWNER_ATTR, owner())
                self.mine.add(trial.number)
            overrides = space.overrides(trial.params)
            (job,) = self.launcher.launch([overrides], initial_job_idx=trial.number)
            value = job_value(job)
            with self.lock:
                if value is None:
                    study.tell(trial.number, state=failed(), skip_if_finished=True)
                else:
                    study.tell(trial.number, value, skip_if_finished=True)
                self.mine.discard(trial.number)

    def cut_off_mine(self, study: Any) -> None:
        """The trials this search launched and never told: failed and cut off (resampled on resume)."""
        from litlab.runs.study import CUT_OFF_ATTR

        for number in sorted(self.mine):
            frozen = study.get_trials(deepcopy=False)[number]
            study._storage.set_trial_user_attr(frozen._trial_id, CUT_OFF_ATTR, True)
            study.tell(number, state=failed(), skip_if_finished=True)
        self.mine.clear()

    def write_results(self, study: Any, url: str, sweep_dir: Path) -> None:
        """optimization_results.yaml, and the best trial in the log."""
        from litlab.runs.study import RESULTS_FILE, results
        from litlab.runtime.files import write_text_atomic

        summary = results(study, url)
        write_text_atomic(sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(summary)))
        counts = ", ".join(f"{n} {state}" for state, n in summary["n_trials"].items())
        log.info("Study %s: %s (%s)", study.study_name, counts, sweep_dir / RESULTS_FILE)
        if "best_trial" in summary:
            log.info("Best parameters (trial %d): %s", summary["best_trial"], summary["best_params"])
            log.info("Best value: %s", summary["best_value"])


def failed() -> Any:
    from optuna.trial import TrialState

    return TrialState.FAIL


def job_value(job: Any) -> float | None:
    """The job's objective, or None for a job that failed, returned nothing or nan."""
    from hydra.core.utils import JobStatus

    if job.status != JobStatus.COMPLETED:
        log.warning(
            "Trial job %s failed: %s",
            job.hydra_cfg.hydra.job.num if job.hydra_cfg else "?",
            job._return_value,
        )
        return None
    value = job.return_value
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
