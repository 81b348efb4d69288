"""Sweeps from the command line: failing jobs, launchers, Optuna, the options they take."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

import pytest
from helpers import compose_config, run_cli
from omegaconf import OmegaConf

from litlab.runs.layout import job_folder_name, run_title, short_value, swept_keys
from litlab.runs.status import in_multirun, sweeper_value

HAS_OPTUNA = importlib.util.find_spec("optuna") is not None
needs_optuna = pytest.mark.skipif(not HAS_OPTUNA, reason='Optuna not installed: pip install -e ".[optuna]"')


def fail_once(tmp_path: Path) -> list[str]:
    """Overrides that add tests/failing_callback.py: the first job to start fitting raises."""
    return [
        "+callbacks.fail_once._target_=failing_callback.FailOnce",
        f"+callbacks.fail_once.marker={tmp_path / 'failed_once'}",
    ]


def train_cli(tmp_path: Path, data_dir: Path, *overrides: str, check: bool = True, timeout: int = 300):
    """Run `python train.py -m ...` (outputs under tmp_path) as a user would."""
    args = ["-m", f"paths.log_dir={tmp_path}", *overrides]
    return run_cli("train.py", *args, data_dir=data_dir, check=check, timeout=timeout)


def the_sweep(tmp_path: Path, task_name: str = "debug", kind: str = "multiruns") -> Path:
    """The one sweep folder under tmp_path: a multirun's, or (kind="searches") an Optuna study's."""
    (sweep,) = (tmp_path / task_name / kind).iterdir()
    return sweep


def read_summary(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open() as f:
        return list(csv.DictReader(f))


# --- failing jobs -------------------------------------------------------------------------------


def test_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path, data_dir):
    train_cli(tmp_path, data_dir, "experiment=diabetes", "debug=fdr", "seed=1,2,3", *fail_once(tmp_path))
    sweep = the_sweep(tmp_path)
    error = (sweep / "0_seed=1" / "error.txt").read_text()
    assert error.startswith("RuntimeError: forced failure") and "Traceback" in error
    assert not (sweep / "0_seed=1" / "metrics.json").exists()
    assert all((sweep / job / "metrics.json").exists() for job in ("1_seed=2", "2_seed=3"))

    rows = read_summary(sweep)
    assert [(r["job"], r["status"]) for r in rows][-1] == ("0_seed=1", "failed")
    ok = [r for r in rows if r["status"] == "ok"]
    assert [float(r["val/acc"]) for r in ok] == sorted((float(r["val/acc"]) for r in ok), reverse=True)
    assert rows[-1]["error"].startswith("RuntimeError: forced failure")
    assert {r["seed"] for r in rows} == {"1", "2", "3"}
    assert "| 0_seed=1 | failed | 1 |" in (sweep / "summary.md").read_text()


def test_a_single_run_still_raises(tmp_path, data_dir):
    args = ["experiment=diabetes", "debug=fdr", f"paths.log_dir={tmp_path}", *fail_once(tmp_path)]
    result = run_cli("train.py", *args, data_dir=data_dir, check=False)
    assert result.returncode != 0 and "forced failure" in result.stderr
    (error,) = tmp_path.glob("debug/runs/*/error.txt")  # the run's folder says how it ended
    assert error.read_text().startswith("RuntimeError: forced failure")
    assert json.loads((error.parent / "status.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_rerunning_a_finished_sweep_with_ckpt_path_last_leaves_its_jobs_untouched(tmp_path, data_dir):
    sweep_args = ["experiment=diabetes", "trainer.max_epochs=3", "seed=1,2"]
    train_cli(tmp_path, data_dir, *sweep_args)
    sweep = the_sweep(tmp_path, "diabetes")
    jobs = ("0_seed=1", "1_seed=2")  # the same folders again: ckpt_path=last is not part of the name
    files = {p: p.stat().st_mtime_ns for job in jobs for p in (sweep / job).rglob("*") if p.is_file()}
    kept = {p: t for p, t in files.items() if ".hydra" not in p.parts and p.suffix != ".log"}
    train_cli(tmp_path, data_dir, *sweep_args, f"hydra.sweep.dir={sweep}", "ckpt_path=last")
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # metrics, status, checkpoints, event files
    assert [r["status"] for r in read_summary(sweep)] == ["ok", "ok"]
    # Without ckpt_path=last the finished jobs are not overwritten either: each is refused.
    result = train_cli(tmp_path, data_dir, *sweep_args, f"hydra.sweep.dir={sweep}")
    assert "already holds a finished run; it is kept" in result.stderr + result.stdout
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    # Other values for the same job numbers: folders of their own, not mistaken for the finished jobs.
    other = ["experiment=diabetes", "trainer.max_epochs=3", "seed=3,4", f"hydra.sweep.dir={sweep}"]
    train_cli(tmp_path, data_dir, *other, "ckpt_path=last")
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert sorted(r["job"] for r in read_summary(sweep)) == ["0_seed=1", "0_seed=3", "1_seed=2", "1_seed=4"]


def test_a_nan_metric_is_a_failed_trial_and_a_number_goes_through():
    assert sweeper_value(float("nan")) is None  # Optuna would stop the whole search on nan
    assert sweeper_value(0.25) == 0.25 and sweeper_value(None) is None


def test_outside_hydra_nothing_is_a_multirun():
    assert not in_multirun()


# --- job folder names ----------------------------------------------------------------------------


def test_a_job_folder_names_its_number_and_the_values_the_sweep_varied(tmp_path):
    task = ["experiment=diabetes", "model.optimizer.lr=0.003,0.03", "seed=range(1,3)", "paths.data_dir=/d"]
    OmegaConf.save({"hydra": {"overrides": {"task": [*task, "ckpt_path=last"]}}}, tmp_path / "multirun.yaml")
    swept = swept_keys(tmp_path, None)
    assert swept == {"model.optimizer.lr", "seed"}
    job = ["experiment=diabetes", "model.optimizer.lr=0.003", "seed=1", "paths.data_dir=/d"]
    assert job_folder_name(0, job, swept) == "0_lr=0.003,seed=1"
    # ckpt_path (a rerun that resumes the sweep) never changes the name: the job finds its folder again.
    assert job_folder_name(0, [*job, "ckpt_path=last"], swept) == "0_lr=0.003,seed=1"
    # A sweeper's search space (Optuna's params) is swept too; keys sharing a last part keep their whole.
    swept = swept_keys(tmp_path / "nowhere", {"model.optimizer.lr": "interval(0.001, 0.3)", "data.lr": "x"})
    overrides = ["model.optimizer.lr=0.022881136684755242", "data.lr=1", "seed=1"]
    assert job_folder_name(3, overrides, swept) == "3_data.lr=1,model.optimizer.lr=0.02288"
    # No sweep known: every override but where and how it runs.
    assert job_folder_name(2, [*job, "threads=1", "ckpt_path=x"], None) == (
        "2_experiment=diabetes,lr=0.003,seed=1"
    )


def test_a_run_title_names_the_experiment_and_what_the_run_or_its_sweep_varied():
    job = ["experiment=diabetes", "model.optimizer.lr=0.003", "seed=1", "paths.data_dir=/d", "ckpt_path=last"]
    assert run_title("diabetes", job, {"model.optimizer.lr", "seed"}) == "diabetes: lr=0.003, seed=1"
    # A single run: every override but where and how it runs; its own experiment goes without saying.
    assert run_title("diabetes", [*job, "model.net.hidden=[64,32]"], None) == (
        "diabetes: hidden=[64,32], lr=0.003, seed=1"
    )
    assert run_title("caf", ["experiment=caf"], None) == run_title("caf", [], None) == "caf"


def test_a_long_or_unsafe_value_is_shortened_safely():
    assert short_value("[64,32,16]") == "64-32-16" and short_value("0.5") == "0.5"
    long_path, other = "/data/tables/" + "a" * 40 + ".csv", "/data/tables/" + "b" * 40 + ".csv"
    assert "/" not in short_value(long_path) and len(short_value(long_path)) <= 16
    assert short_value(long_path) != short_value(other)  # told apart by a hash of the whole value
    assert short_value(long_path) == short_value(long_path)


# --- launchers ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher", [["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], ["hydra/launcher=submitit_local"]]
)
def test_parallel_launchers_run_every_job_and_summarise_them(tmp_path, data_dir, launcher):
    train_cli(tmp_path, data_dir, *launcher, "experiment=diabetes", "debug=fdr", "seed=1,2")
    sweep = the_sweep(tmp_path)
    for job in ("0_seed=1", "1_seed=2"):  # the launchers' jobs get the same names
        assert json.loads((sweep / job / "metrics.json").read_text())["val/acc"] >= 0
    rows = read_summary(sweep)
    assert sorted((r["job"], r["status"], r["seed"]) for r in rows) == [
        ("0_seed=1", "ok", "1"),
        ("1_seed=2", "ok", "2"),
    ]
    if "submitit" in launcher[0]:
        assert list((sweep / ".submitit").glob("*/*_log.out"))  # submitit ran the jobs


def slurm_launcher(tmp_path: Path, *overrides: str):
    """The launcher `hydra/launcher=slurm` makes, its parameters resolved against the job config."""
    from hydra.utils import instantiate

    # With its `hydra` node, where the launcher is.
    cfg = compose_config(
        "train", "hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}", *overrides, hydra_config=True
    )
    return instantiate(cfg.hydra.launcher)


def test_slurm_preset_asks_for_one_task_per_device_and_requeues_with_lightning(tmp_path, monkeypatch):
    """The sbatch script submitit would write for `hydra/launcher=slurm` (no cluster needed)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    fake_srun = tmp_path / "bin" / "srun"  # submitit refuses to build a SLURM executor without srun
    fake_srun.parent.mkdir()
    fake_srun.write_text("#!/bin/sh\n")
    fake_srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_srun.parent}{os.pathsep}{os.environ['PATH']}")
    params = dict(slurm_launcher(tmp_path, "trainer.devices=4", "+trainer.num_nodes=2").params)
    # What SlurmLauncher.launch does with them:
    executor = submitit.AutoExecutor(
        folder=params.pop("submitit_folder"),
        cluster="slurm",
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    sbatch = executor._executor._make_submission_file_text("python -u -m submitit.core._submit", "uid")
    for line in ["--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--signal=USR1@90", "--requeue"]:
        assert f"#SBATCH {line}\n" in sbatch
    assert sbatch.count("--signal") == 1  # Lightning's SIGUSR1, not submitit's USR2


def test_slurm_preset_needs_the_number_of_devices(tmp_path):
    with pytest.raises(Exception, match="'auto' of type 'str' could not be converted to Integer"):
        slurm_launcher(tmp_path)  # the default trainer has devices: auto


# --- Optuna -------------------------------------------------------------------------------------


@pytest.mark.slow
@needs_optuna
def test_optuna_search_records_a_failing_trial_and_reports_the_best(tmp_path, data_dir):
    overrides = [
        "experiment=diabetes",
        "hparams_search=diabetes_optuna",
        "hydra.sweeper.n_trials=3",
        "debug=fdr",
    ]
    result = train_cli(tmp_path, data_dir, *overrides, *fail_once(tmp_path))
    sweep = the_sweep(tmp_path, kind="searches")
    assert sweep.name == "debug-diabetes_optuna"  # the study's folder: <task_name>-<search config>
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    rows = read_summary(sweep)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert float(rows[0]["val/loss"]) == pytest.approx(best.best_value)  # minimised: lowest first
    assert float(rows[0]["val/loss"]) <= float(rows[1]["val/loss"])
    assert all(r["job"].partition("_")[2].startswith("batch_size=") for r in rows), rows  # the trial's values
    assert float(rows[0]["model.optimizer.lr"]) == pytest.approx(best.best_params["model.optimizer.lr"])
    assert rows[0]["model.net.hidden"] == best.best_params["model.net.hidden"]  # a list, through a string
    assert "Best parameters" in result.stderr + result.stdout


@needs_optuna
@pytest.mark.parametrize("search", ["diabetes_optuna", "mnist_optuna"])
def test_optuna_direction_follows_the_optimized_metric(search):
    cfg = compose_config("train", f"hparams_search={search}", hydra_config=True)
    expected = {"val/loss": ("min", "minimize"), "val/acc": ("max", "maximize")}[cfg.optimized_metric]
    assert (cfg.optimized_metric_mode, cfg.hydra.sweeper.direction) == expected
    assert cfg.hydra.sweeper._target_.endswith("LitlabOptunaSweeper")


# --- bad input ----------------------------------------------------------------------------------


BAD_OPTIONS = [
    (
        ["hydra/launcher=nonexistent"],
        ["Could not find 'hydra/launcher/nonexistent'", "joblib", "submitit_local", "slurm"],
    ),
    (["hydra/sweeper=nonexistent"], ["Could not find 'hydra/sweeper/nonexistent'", "basic"]),
    (["hparams_search=nonexistent"], ["Available options in 'hparams_search'", "diabetes_optuna"]),
    (["hydra/launcher=joblib", "hydra.launcher.n_jobz=2"], ["Key 'n_jobz' not in 'JobLibLauncherConf'"]),
    (["hydra/launcher=submitit_local", "hydra.launcher.nodez=2"], ["Key 'nodez' not in 'LocalQueueConf'"]),
]
BAD_OPTUNA_OPTIONS = [
    (
        ["hparams_search=diabetes_optuna", "hydra.sweeper.n_trialz=3"],
        ["Key 'n_trialz' not in 'LitlabOptunaSweeperConf'"],
    ),
    (
        ["hparams_search=diabetes_optuna", "optimized_metric_mode=best"],
        ["optimized_metric_mode must be one of"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "messages"),
    BAD_OPTIONS + [pytest.param(*case, marks=needs_optuna) for case in BAD_OPTUNA_OPTIONS],
)
def test_bad_launcher_and_sweeper_options_fail_before_any_job_and_name_the_option(
    tmp_path, data_dir, overrides, messages
):
    result = train_cli(
        tmp_path, data_dir, "experiment=diabetes", "debug=fdr", *overrides, check=False, timeout=120
    )
    assert result.returncode != 0
    for message in messages:
        assert message in result.stderr
    assert not list(tmp_path.glob("**/metrics.json"))
