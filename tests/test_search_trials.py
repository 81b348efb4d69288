"""Optuna searches from the command line: trials pruned (per epoch, between CV folds, across joblib's
processes), listed apart, and a search killed with SIGKILL that the same command finishes."""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import run_cli
from omegaconf import OmegaConf

pytest.importorskip("optuna", reason='Optuna not installed: pip install -e ".[optuna]"')

STUDY = "moons-diabetes_optuna"
# lr=1e-6 learns nothing in a few epochs, lr=0.1 does: with the median pruner counting one finished trial,
# every 1e-6 trial after the first 0.1 one is behind the median at the first step it may be pruned.
GOOD, HOPELESS = "0.1", "1e-06"
PRUNING = [
    "experiment=moons",
    "hparams_search=diabetes_optuna",
    "hydra.sweeper.params=null",
    f"model.optimizer.lr=choice({GOOD},{HOPELESS})",
    "hydra.sweeper.sampler=random",
    "hydra.sweeper.pruner_args.median.n_startup_trials=1",
    "threads=1",
]


def search(tmp_path: Path, *overrides: str, check: bool = True, background: bool = False):
    args = ["-m", f"paths.log_dir={tmp_path}", *overrides]
    return run_cli("train.py", *args, check=check, background=background, timeout=600)


def trials(study_dir: Path) -> dict[str, dict]:
    """Each trial folder's status.json, by folder name."""
    return {p.parent.name: json.loads(p.read_text()) for p in study_dir.glob("*/status.json")}


def lr_of(job: str) -> str:
    return job.partition("lr=")[2]


def check_pruned_as_the_median_says(study_dir: Path, where: str, what: str) -> list[str]:
    """Every hopeless trial after the first good one pruned at `where` (reporting `what`), every other one
    ok; their names."""
    jobs = trials(study_dir)
    order = sorted(jobs, key=lambda name: int(name.partition("_")[0]))
    first_good = next(i for i, name in enumerate(order) if lr_of(name) == GOOD)
    pruned = [n for n in order[first_good:] if lr_of(n) == HOPELESS]
    assert pruned, order  # seed 0 draws a hopeless trial after a good one
    for name in order:
        expected = "pruned" if name in pruned else "ok"
        assert jobs[name]["status"] == expected, (name, jobs[name])
    for name in pruned:
        assert jobs[name]["reason"].startswith(f"pruned after {where} by the median pruner: {what} 0.")
        assert not (study_dir / name / "metrics.json").exists()
    # optimization_results.yaml lists them apart, with the value each last reported
    results = OmegaConf.load(study_dir / "optimization_results.yaml")
    numbers = sorted(int(n.partition("_")[0]) for n in pruned)
    assert list(results.trials.pruned) == numbers and [p.trial for p in results.pruned] == numbers
    assert results.best_params["model.optimizer.lr"] == float(GOOD)
    # and so does the summary: pruned rows after the finished ones, with why
    with (study_dir / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok"] * (len(order) - len(pruned)) + ["pruned"] * len(pruned)
    assert all(r["pruned"].startswith(f"pruned after {where}") for r in rows if r["status"] == "pruned")
    md = (study_dir / "summary.md").read_text()
    assert f"({len(order) - len(pruned)} ok, {len(pruned)} pruned," in md and "## Pruned trials" in md
    return pruned


def test_a_trial_behind_the_median_is_pruned_at_once_and_its_folder_says_so(tmp_path):
    warmup = "hydra.sweeper.pruner_args.median.n_warmup_steps=2"  # epochs 0 and 1 are never pruned
    search(tmp_path, *PRUNING, "hydra.sweeper.n_trials=4", warmup, "trainer.max_epochs=6")
    study_dir = tmp_path / "moons" / "searches" / STUDY
    pruned = check_pruned_as_the_median_says(study_dir, "epoch 2", "best val/loss")
    for name in pruned:  # stopped after its third epoch, its curves kept for TensorBoard
        assert trials(study_dir)[name]["epochs"] == 3
        assert list((study_dir / name).glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_a_cross_validated_trial_is_pruned_between_folds(tmp_path):
    no_warmup = "hydra.sweeper.pruner_args.median.n_warmup_steps=0"  # steps are folds: from the first on
    search(tmp_path, *PRUNING, "hydra.sweeper.n_trials=4", no_warmup, "trainer.max_epochs=3", "cv.folds=3")
    study_dir = tmp_path / "moons" / "searches" / STUDY
    for name in check_pruned_as_the_median_says(study_dir, "fold 1", "mean val/loss of the folds so far"):
        assert [p.name for p in (study_dir / name).glob("fold_*")] == [
            "fold_0_0"
        ]  # the later folds never ran


@pytest.mark.slow
def test_joblib_trials_reach_the_study_through_its_storage(tmp_path):
    search(tmp_path, *PRUNING, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2", "hydra/launcher=joblib",
           "hydra.launcher.n_jobs=2", "hydra.sweeper.pruner_args.median.n_warmup_steps=2",
           "trainer.max_epochs=6")  # fmt: skip
    study_dir = tmp_path / "moons" / "searches" / STUDY
    results = OmegaConf.load(study_dir / "optimization_results.yaml")
    assert sum(results.n_trials.values()) == 6 and results.n_trials.pruned >= 1  # told from the workers
    statuses = {j["status"] for j in trials(study_dir).values()}
    assert statuses <= {"ok", "pruned"}


@pytest.mark.slow
def test_a_search_killed_with_sigkill_is_finished_by_the_same_command(tmp_path):
    command = [
        "experiment=moons", "hparams_search=diabetes_optuna", "hydra.sweeper.n_trials=8",
        "hydra.sweeper.pruner=none", "trainer.max_epochs=4", "threads=1",
    ]  # fmt: skip
    study_dir = tmp_path / "moons" / "searches" / STUDY
    process = search(tmp_path, *command, background=True)
    deadline = time.monotonic() + 300
    while sum(j["status"] == "ok" for j in trials(study_dir).values()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = {name: (study_dir / name / "metrics.json").read_text() for name, j in trials(study_dir).items()
              if j["status"] == "ok"}  # fmt: skip
    assert len(before) >= 3

    result = search(tmp_path, *command)
    assert "resumed with" in result.stderr + result.stdout
    results = OmegaConf.load(study_dir / "optimization_results.yaml")
    counted = len(results.trials.complete) + len(results.trials.pruned) + len(results.trials.failed)
    assert counted == 8  # n_trials is the total
    assert len(results.trials.cut_off) <= 1  # the trial the kill cut short, if it had begun
    for name, metrics in before.items():  # the first trials kept as they were
        assert (study_dir / name / "metrics.json").read_text() == metrics
    assert len([j for j in trials(study_dir).values() if j["status"] == "ok"]) == 8


def test_a_bad_search_option_ends_in_one_line_before_any_trial(tmp_path):
    bad = ["experiment=moons", "hparams_search=diabetes_optuna", "hydra.sweeper.pruner=medain"]
    result = search(tmp_path, *bad, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: hydra.sweeper.pruner='medain' is not one litlab knows; pick one of none, median, "
        "successive_halving, hyperband"
    ), result.stderr
    assert not list(tmp_path.glob("**/status.json"))
