"""litlab's Optuna sweeper in-process, with a stand-in launcher: the search space, bad inputs, a stored
study that resumes, and trials that start as soon as a slot is free (no batch barrier)."""

from __future__ import annotations

import math
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
from helpers import compose_config

optuna = pytest.importorskip("optuna", reason='Optuna not installed: pip install -e ".[optuna]"')

from hydra.core.utils import JobReturn, JobStatus  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from litlab.runs.search_space import build_space  # noqa: E402
from litlab.runs.study import CUT_OFF_ATTR, OWNER_ATTR, open_storage, storage_url  # noqa: E402


def search_config(tmp_path, *overrides: str):
    """The diabetes search on the moons experiment, with its hydra node, its logs under tmp_path."""
    return compose_config(
        "train", "experiment=moons", "hparams_search=diabetes_optuna", f"paths.log_dir={tmp_path}",
        *overrides, hydra_config=True,
    )  # fmt: skip


class Launcher:
    """Stands in for a parallel launcher: each job's value is `objective(params, job number)`."""

    def __init__(self, objective=lambda params, num: float(params["model.optimizer.lr"])) -> None:
        self.objective = objective
        self.launched: list[int] = []

    def launch(self, job_overrides, initial_job_idx):
        (overrides,) = job_overrides
        self.launched.append(initial_job_idx)
        job = JobReturn()
        job.status = JobStatus.COMPLETED
        job._return_value = self.objective(dict(o.split("=", 1) for o in overrides), initial_job_idx)
        return [job]


def sweeper_for(cfg, launcher=None):
    sweeper = instantiate(cfg.hydra.sweeper)
    sweeper.config, sweeper.launcher = cfg, launcher or Launcher()
    return sweeper


def load(cfg):
    storage = open_storage(storage_url(cfg.hydra.sweeper.storage, cfg.hydra.sweep.dir))
    return optuna.load_study(study_name=cfg.hydra.sweeper.study_name, storage=storage)


# --- the search space ----------------------------------------------------------------------------


def test_the_grammar_becomes_optuna_distributions(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    params = {
        "model.optimizer.lr": "tag(log, interval(0.001, 0.3))",
        "model.net.dropout": "interval(0.0, 0.5)",
        "trainer.max_epochs": "int(interval(5, 50))",
        "data.batch_size": "choice(16, 32)",
        "model.net.hidden": "choice('[6,4]', '[16,8]')",
        "seed": "range(1, 10, 2)",
    }
    space = build_space(
        params, ["trainer.min_epochs=2", "data.val_fraction=choice(0.2,0.3)"], search_config(tmp_path)
    )
    d = space.distributions
    assert d["model.optimizer.lr"] == FloatDistribution(0.001, 0.3, log=True)
    assert d["model.net.dropout"] == FloatDistribution(0.0, 0.5)
    assert d["trainer.max_epochs"] == IntDistribution(5, 50)
    assert d["data.batch_size"] == CategoricalDistribution([16, 32])
    assert d["model.net.hidden"] == CategoricalDistribution(["[6,4]", "[16,8]"])  # read back as lists
    assert d["seed"] == IntDistribution(1, 9, step=2)  # range's stop is left out, as in Python
    assert d["data.val_fraction"] == CategoricalDistribution([0.2, 0.3])  # a command-line sweep is searched
    assert space.fixed == {"trainer.min_epochs": "2"}
    assert space.written["model.optimizer.lr"] == "tag(log, interval(0.001, 0.3))"
    assert space.overrides({"seed": 3}) == ["seed=3", "trainer.min_epochs=2"]


# --- bad input: each names the value and the fix -------------------------------------------------

BAD_SPACES = [
    ("interval(1, 1)", ["model.optimizer.lr=interval(1, 1)", "low (1.0) must be below high (1.0)"]),
    ("interval(0.3, 0.001)", ["low (0.3) must be below high (0.001)", "fixed value"]),
    (
        "tag(log, interval(0, 0.3))",
        ["a log interval needs low > 0, got 0", "tag(log, interval(0.0003, 0.3))"],
    ),
]


@pytest.mark.parametrize(("grammar", "messages"), BAD_SPACES)
def test_a_bad_interval_is_refused_naming_it(tmp_path, grammar, messages):
    with pytest.raises(ValueError) as error:
        build_space({"model.optimizer.lr": grammar}, [], search_config(tmp_path))
    assert "hydra.sweeper.params.model.optimizer.lr" in str(error.value)
    for message in messages:
        assert message in str(error.value)


def test_a_search_with_nothing_to_search_is_refused(tmp_path):
    with pytest.raises(
        ValueError, match=r"nothing to search: hydra.sweeper.params is empty.*model.optimizer.lr="
    ):
        build_space({}, ["trainer.max_epochs=3"], search_config(tmp_path))


def test_a_search_key_the_config_lacks_is_refused_with_the_one_meant(tmp_path):
    with pytest.raises(ValueError, match=r"model\.optimizer\.lrr is not a key of the config; did you mean "
                       r"model\.optimizer\.lr\?.*\+model\.optimizer\.lrr"):  # fmt: skip
        build_space({"model.optimizer.lrr": "interval(0.1, 0.2)"}, [], search_config(tmp_path))
    build_space({"+model.extra": "interval(0.1, 0.2)"}, [], search_config(tmp_path))  # added on purpose


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hydra.sweeper.sampler=tpee", "hydra.sweeper.sampler='tpee' is not one litlab knows; pick one of "
         "tpe, random, gp, qmc"),
        ("hydra.sweeper.pruner=medain", "hydra.sweeper.pruner='medain' is not one litlab knows; pick one of "
         "none, median, successive_halving, hyperband"),
        ("+hydra.sweeper.pruner_args.median.warmup=3", "hydra.sweeper.pruner_args.median.warmup: median "
         "(MedianPruner) takes no argument 'warmup'; it takes n_startup_trials, n_warmup_steps"),
        ("+hydra.sweeper.pruner_args.n_warmup_steps=3", "holds each pruner's arguments by its name"),
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0: give a positive number of trials"),
        ("hydra.sweeper.n_jobs=0", "hydra.sweeper.n_jobs=0: give the number of trials to run at once"),
    ],
)  # fmt: skip
def test_bad_sweeper_settings_are_refused_before_any_trial(tmp_path, monkeypatch, override, message):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")  # raise, rather than print one line and exit
    sweeper = sweeper_for(search_config(tmp_path, override))
    with pytest.raises(ValueError) as error:
        sweeper.sweep([])
    assert message in str(error.value)
    assert sweeper.launcher.launched == []


def test_n_jobs_above_one_needs_a_parallel_launcher(tmp_path, monkeypatch):
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    sweeper = sweeper_for(search_config(tmp_path, "hydra.sweeper.n_jobs=2"), BasicLauncher())
    with pytest.raises(ValueError, match="n_jobs=2 with the basic launcher.*hydra/launcher=joblib"):
        sweeper.sweep([])


def test_a_storage_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    (tmp_path / "a_file").write_text("")
    where = tmp_path / "a_file" / "study.journal"  # below a file: no one can write there, root included
    sweeper = sweeper_for(search_config(tmp_path, f"hydra.sweeper.storage={where}"))
    with pytest.raises(ValueError, match=rf"hydra.sweeper.storage={where}: the study cannot be written there "
                       r"\((NotADirectoryError|FileExistsError).*give a writable file path"):  # fmt: skip
        sweeper.sweep([])


def test_a_study_of_the_other_direction_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    sweeper_for(search_config(tmp_path, "hydra.sweeper.n_trials=2")).sweep([])
    maximise = search_config(
        tmp_path, "hydra.sweeper.n_trials=2", "optimized_metric=val/acc", "monitor.metric=val/acc"
    )
    with pytest.raises(ValueError) as error:
        sweeper_for(maximise).sweep([])
    assert "study 'moons-diabetes_optuna' exists in " in str(error.value)
    assert "was made to minimize; this search would maximize" in str(error.value)
    assert "Give another hydra.sweeper.study_name" in str(error.value)


def test_a_changed_search_space_is_refused_naming_the_parameter(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    sweeper_for(search_config(tmp_path, "hydra.sweeper.n_trials=2")).sweep([])
    changed = sweeper_for(search_config(tmp_path, "hydra.sweeper.n_trials=3"))
    changed.params["data.batch_size"] = "choice(8,16)"
    with pytest.raises(ValueError) as error:
        changed.sweep([])
    assert (
        "search space changed at data.batch_size (it was choice(16, 32, 64, 128), now choice(8,16))"
        in str(error.value)
    )
    assert "give a new hydra.sweeper.study_name" in str(error.value)


def test_a_bad_search_ends_in_one_line_on_the_console(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as stop:
        sweeper_for(search_config(tmp_path, "hydra.sweeper.sampler=tpee")).sweep([])
    assert stop.value.code == 1
    assert capsys.readouterr().err.startswith("Error: hydra.sweeper.sampler='tpee' is not one litlab knows")


# --- the study: stored, resumed, n_trials the total ----------------------------------------------


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_resumed_study_keeps_its_trials_and_resamples_those_its_dead_search_left_running(tmp_path):
    cfg = search_config(tmp_path, "hydra.sweeper.n_trials=4")
    sweeper_for(cfg).sweep([])
    study = load(cfg)
    first = [(t.number, t.params, t.value) for t in study.trials]
    left_running = study.ask()  # as a search killed with SIGKILL leaves its trial
    owner = {"status": "running", "host": socket.gethostname(), "pid": dead_pid()}
    left_running.set_user_attr(OWNER_ATTR, owner)

    again = search_config(tmp_path, "hydra.sweeper.n_trials=6")  # the total: 2 more
    launcher = Launcher()
    sweeper_for(again, launcher).sweep([])
    trials = load(again).trials
    assert [(t.number, t.params, t.value) for t in trials[:4]] == first  # kept, untouched
    assert trials[4].state == optuna.trial.TrialState.FAIL and trials[4].user_attrs[CUT_OFF_ATTR]
    assert launcher.launched == [5, 6]  # its slot sampled again; trial N runs as job N
    assert [t.state.name for t in trials[5:]] == ["COMPLETE", "COMPLETE"]
    results = (
        tmp_path / "moons" / "searches" / "moons-diabetes_optuna" / "optimization_results.yaml"
    ).read_text()
    assert "cut_off:\n  - 4" in results and "complete: 6" in results
    # Rerun once more: the study has its trials, nothing runs.
    launcher = Launcher()
    sweeper_for(again, launcher).sweep([])
    assert launcher.launched == []


def test_a_failed_or_nan_trial_is_failed_and_counts(tmp_path):
    values = iter([0.5, None, math.nan])
    cfg = search_config(tmp_path, "hydra.sweeper.n_trials=3")
    sweeper_for(cfg, Launcher(lambda params, num: next(values))).sweep([])
    assert [t.state.name for t in load(cfg).trials] == ["COMPLETE", "FAIL", "FAIL"]


def test_trials_start_as_soon_as_a_slot_is_free(tmp_path):
    """n_jobs=2: while trial 0 is slow, the other slot runs trials 1, 2, 3 one after another."""
    ended: list[int] = []
    slow_started = threading.Event()

    def objective(params, num):
        if num == 0:
            slow_started.set()
            deadline = time.monotonic() + 20
            while len(ended) < 3 and time.monotonic() < deadline:  # ends once three others have
                time.sleep(0.01)
        else:
            slow_started.wait(5)
        ended.append(num)
        return 0.1

    cfg = search_config(tmp_path, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2")
    sweeper_for(cfg, Launcher(objective)).sweep([])
    assert ended == [1, 2, 3, 0]  # a batch barrier would have held trial 2 until trial 0 ended


def test_a_trial_reports_the_best_value_so_far_each_epoch():
    """What the trial's best checkpoint holds: an overfitting curve's rise is not what the trial is worth."""
    from litlab.runs.trial import SearchTrial

    class Trial:
        reported: list[tuple[int, float]] = []

        def report(self, value, step):
            self.reported.append((step, value))

        def should_prune(self):
            return False

    for mode, values, best in [
        ("min", [0.7, 0.5, 0.6, 0.4], [0.7, 0.5, 0.5, 0.4]),
        ("max", [0.6, 0.8, 0.7], [0.6, 0.8, 0.8]),
    ]:
        trial = Trial()
        trial.reported = []
        search = SearchTrial(trial, "val/x", mode, "median")
        for epoch, value in enumerate(values):
            search.report_epoch(epoch, value)
        assert trial.reported == list(enumerate(best))


def test_a_database_url_stores_the_study_and_resumes_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    cfg = search_config(tmp_path, f"hydra.sweeper.storage={url}", "hydra.sweeper.n_trials=2")
    sweeper_for(cfg).sweep([])
    more = search_config(tmp_path, f"hydra.sweeper.storage={url}", "hydra.sweeper.n_trials=3")
    launcher = Launcher()
    sweeper_for(more, launcher).sweep([])
    assert launcher.launched == [2]
    study = optuna.load_study(study_name="moons-diabetes_optuna", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert not (tmp_path / "moons" / "searches" / "moons-diabetes_optuna" / "study.journal").exists()


def test_a_dead_search_s_trial_that_had_finished_is_told_its_result_not_cut_off(tmp_path):
    import json

    import optuna

    from litlab.runs.study import cut_off_stale_trials

    study = optuna.create_study(direction="minimize")
    gone = {"status": "running", "host": socket.gethostname(), "pid": 2**22 + 1}  # no such process
    for _ in range(2):
        study.ask().set_user_attr(OWNER_ATTR, gone)
    finished = tmp_path / "0_model.optimizer.lr=0.1"  # job 0 ended ok; the search died before telling
    finished.mkdir()
    (finished / "status.json").write_text(json.dumps({"status": "ok"}))
    (finished / "metrics.json").write_text(json.dumps({"val/loss": 0.4321, "test/acc": 0.75}))
    (tmp_path / "1_model.optimizer.lr=0.2").mkdir()  # job 1 was cut short: no status
    assert cut_off_stale_trials(study, tmp_path, "val/loss") == ([1], [0])
    first, second = study.get_trials()
    assert first.state == optuna.trial.TrialState.COMPLETE and first.value == 0.4321
    assert second.state == optuna.trial.TrialState.FAIL and second.user_attrs[CUT_OFF_ATTR]


def test_a_resume_with_other_fixed_settings_is_refused_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")

    def search(*overrides):  # the command line's overrides reach the sweeper in its composed config
        sweeper_for(search_config(tmp_path, *overrides)).sweep(list(overrides))

    search("hydra.sweeper.n_trials=1", "trainer.max_epochs=2")
    with pytest.raises(ValueError) as error:  # its trials trained 2 epochs; these would train the default
        search("hydra.sweeper.n_trials=2")
    assert re.search(
        r"study 'moons-diabetes_optuna': its trials ran with trainer.max_epochs=2, this command's would get "
        r"trainer.max_epochs=\d+; its old and new trials would be ranked together",
        str(error.value),
    )
    with pytest.raises(ValueError, match="ran with seed=0, this command's would get seed=3"):
        search("hydra.sweeper.n_trials=2", "trainer.max_epochs=2", "seed=3")
    with pytest.raises(ValueError, match="ran with data=moons, this command's would get data=diabetes"):
        search("hydra.sweeper.n_trials=2", "trainer.max_epochs=2", "data=diabetes")
    # How it is typed, and what says how a trial runs (threads, verbosity, logger, paths), may differ.
    before = len(load(search_config(tmp_path)).trials)
    search("hydra.sweeper.n_trials=2", "++trainer.max_epochs=2.0", "threads=1", "verbose=true", "~logger")
    assert len(load(search_config(tmp_path)).trials) == before + 1 == 2
