"""Sweeps from the command line: a failing job is recorded and the sweep goes on."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from litlab.job_status import in_multirun, sweeper_value
from litlab.resolvers import REPO_ROOT

TESTS = Path(__file__).parent
# tests/ on the path of the subprocess, for failing_callback.FailOnce
PYTHONPATH = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


def fail_once(tmp_path: Path) -> list[str]:
    """Overrides that add tests/failing_callback.py: the first job to start fitting raises."""
    return [
        "+callbacks.fail_once._target_=failing_callback.FailOnce",
        f"+callbacks.fail_once.marker={tmp_path / 'failed_once'}",
    ]


def train_cli(tmp_path: Path, data_dir: Path, *overrides: str, check: bool = True, timeout: int = 300):
    """Run `python train.py -m ...` (fast_dev_run, outputs under tmp_path) as a user would."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "LITLAB_DATA_DIR": str(data_dir)}
    command = [sys.executable, "train.py", "-m", f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path}"]
    return subprocess.run(
        command + list(overrides),
        cwd=REPO_ROOT,
        env=env,
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def the_sweep(tmp_path: Path, task_name: str = "debug") -> Path:
    (sweep,) = (tmp_path / task_name / "multiruns").iterdir()
    return sweep


def read_summary(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open() as f:
        return list(csv.DictReader(f))


# --- failing jobs -------------------------------------------------------------------------------


def test_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path, data_dir):
    train_cli(tmp_path, data_dir, "experiment=diabetes", "debug=fdr", "seed=1,2,3", *fail_once(tmp_path))
    sweep = the_sweep(tmp_path)
    error = (sweep / "0" / "error.txt").read_text()
    assert error.startswith("RuntimeError: forced failure") and "Traceback" in error
    assert not (sweep / "0" / "metrics.json").exists()
    assert all((sweep / job / "metrics.json").exists() for job in ("1", "2"))

    rows = read_summary(sweep)
    assert [(r["job"], r["status"]) for r in rows][-1] == ("0", "failed")
    ok = [r for r in rows if r["status"] == "ok"]
    assert [float(r["val/acc"]) for r in ok] == sorted((float(r["val/acc"]) for r in ok), reverse=True)
    assert rows[-1]["error"].startswith("RuntimeError: forced failure")
    assert {r["seed"] for r in rows} == {"1", "2", "3"}
    assert "| 0 | failed | 1 |" in (sweep / "summary.md").read_text()


def test_a_single_run_still_raises(tmp_path, data_dir):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    command = [sys.executable, "train.py", "experiment=diabetes", "debug=fdr", f"paths.data_dir={data_dir}"]
    command += [f"paths.log_dir={tmp_path}", *fail_once(tmp_path)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "forced failure" in result.stderr
    assert not list(tmp_path.glob("**/error.txt"))


def test_a_nan_metric_is_a_failed_trial_and_a_number_goes_through():
    assert sweeper_value(float("nan")) is None  # Optuna would stop the whole search on nan
    assert sweeper_value(0.25) == 0.25 and sweeper_value(None) is None


def test_outside_hydra_nothing_is_a_multirun():
    assert not in_multirun()
