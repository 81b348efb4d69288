"""A cross-validation run resumed with ckpt_path=last: finished folds are kept, the fold it was in goes
on, and the result is the uninterrupted run's; resumes that would mix two experiments are refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from helpers import run_cli

from litlab.checkpoints.io import load_checkpoint
from litlab.data import DiabetesDataModule
from litlab.runs.layout import latest_run, run_folder
from litlab.runs.status import read_status, write_status
from litlab.train import train

QUICK = ["trainer.accelerator=cpu", "trainer.devices=1", "seed=3"]
MOONS = ["experiment=moons", "data.n_samples=60", "cv.folds=3", *QUICK]
CV = [*MOONS, "trainer.max_epochs=4", "callbacks.early_stopping=null"]
EARLY = [*MOONS, "trainer.max_epochs=8", "callbacks.early_stopping.patience=1"]


def files_of(run: Path) -> dict:
    """The run's results: metrics.json (flattened) and oof_predictions.csv (text)."""
    from litlab.checkpoints.identity import flatten

    metrics = flatten(json.loads((run / "metrics.json").read_text()))
    return {**metrics, "oof": (run / "oof_predictions.csv").read_text()}


def as_if_killed(run: Path) -> None:
    """Make the folder say what a SIGKILLed process leaves: running, by a process that is gone."""
    record = {k: v for k, v in read_status(run).items() if k not in ("status", "time", "stopped_by")}
    write_status(run, "running", **{**record, "pid": 2**22 + 1})


def test_a_resumed_cv_run_keeps_finished_folds_and_ends_as_an_uninterrupted_one(compose_config, tmp_path):
    run = tmp_path / "run"
    train(compose_config(*CV))
    whole = files_of(run)
    kept = (run / "fold_0_0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    fit_over = (run / "fold_0_1" / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    # Killed in fold_0_1 after its last epoch's checkpoint, before its test; fold_0_2 never began.
    as_if_killed(run)
    (run / "fold_0_1" / "metrics.json").unlink()
    write_status(run / "fold_0_1", "running", pid=2**22 + 1)
    shutil.rmtree(run / "fold_0_2")
    for name in ("metrics.json", "oof_predictions.csv"):
        (run / name).unlink()

    train(compose_config(*CV, "ckpt_path=last"))
    assert files_of(run) == whole
    assert (run / "fold_0_0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == kept  # not retrained
    # fold_0_1's fit had ended with no record of it: trained again from its seed, not one epoch on.
    again = run / "fold_0_1" / "checkpoints" / "last.ckpt"
    assert again.stat().st_mtime_ns != fit_over and load_checkpoint(again)["epoch"] == 3
    status = read_status(run)
    assert (status["status"], status["folds_done"], status["cv"]) == ("ok", 3, {"folds": 3, "repeats": 1})


def test_a_fold_stopped_while_testing_only_tests(compose_config, tmp_path):
    run = tmp_path / "run"
    train(compose_config(*EARLY))
    whole = files_of(run)
    as_if_killed(run)
    fold = run / "fold_0_2"
    record = {k: v for k, v in read_status(fold).items() if k not in ("status", "time")}
    write_status(fold, "running", **{**record, "fit_done": True})
    (fold / "metrics.json").unlink()
    checkpoints = {p.name: p.stat().st_mtime_ns for p in (fold / "checkpoints").iterdir()}
    train(compose_config(*EARLY, "ckpt_path=last"))
    assert files_of(run) == whole and read_status(fold)["status"] == "ok"
    # Only tested: a refit or a resumed fit would have rewritten its checkpoints.
    assert {p.name: p.stat().st_mtime_ns for p in (fold / "checkpoints").iterdir()} == checkpoints


def test_resuming_with_other_cv_settings_or_a_finished_cv_run_is_refused(compose_config, tmp_path):
    run = tmp_path / "run"
    train(compose_config(*CV))
    with pytest.raises(ValueError, match=r"finished all its 3 folds.*python eval.py ckpt_path="):
        train(compose_config(*CV, "ckpt_path=last"))
    as_if_killed(run)
    other = (r"started with cv.folds=3 cv.repeats=1 cv.vectorize=false, this one asks for cv.folds=%s.*"
             r"Resume it with cv.folds=3 cv.repeats=1 cv.vectorize=false")  # fmt: skip
    with pytest.raises(ValueError, match=other % "4 cv.repeats=1 cv.vectorize=false"):
        train(compose_config(*CV, "cv.folds=4", "ckpt_path=last"))
    with pytest.raises(ValueError, match=other % "3 cv.repeats=1 cv.vectorize=true"):  # the only difference
        train(compose_config(*CV, "cv.vectorize=true", "ckpt_path=last"))
    with pytest.raises(ValueError, match=other % "null"):
        train(compose_config(*CV, "cv.folds=null", "ckpt_path=last"))
    assert read_status(run)["status"] == "running"  # the refusals left the run's record as it was


def test_ckpt_path_last_finds_a_cv_run_by_its_folds_checkpoints(tmp_path):
    runs = tmp_path / "runs"
    for name, age in (("single", 50), ("cv/fold_0_0", 100), ("cv/fold_0_1", 0)):
        last = runs / name / "checkpoints" / "last.ckpt"
        last.parent.mkdir(parents=True)
        last.write_bytes(b"x")
        os.utime(last, (time.time() - age, time.time() - age))
    assert latest_run(runs) == runs / "cv"  # its newest fold checkpoint is the newest of all
    fold_checkpoint = runs / "cv" / "fold_0_0" / "checkpoints" / "last.ckpt"
    assert run_folder(str(fold_checkpoint), str(runs)) == str(runs / "cv")


def fold_epoch(run: Path, fold: str) -> int:
    try:
        return load_checkpoint(run / fold / "checkpoints" / "last.ckpt")["epoch"]
    except (FileNotFoundError, ValueError):
        return -1


@pytest.mark.slow
def test_a_cv_run_killed_in_the_middle_of_a_fold_resumes_to_the_uninterrupted_result(tmp_path):
    data_dir = tmp_path / "data"
    DiabetesDataModule.write_example_files(data_dir)
    args = [
        "experiment=diabetes",
        "cv.folds=3",
        "trainer.max_epochs=30",
        "trainer.deterministic=true",
        "model.net.dropout=0.2",
        "callbacks.early_stopping=null",
        *QUICK,
        "callbacks.last_checkpoint.every_seconds=0",
    ]  # fmt: skip  (a last.ckpt every epoch, to kill at 10)
    whole = tmp_path / "whole"
    run_cli("train.py", *args, f"hydra.run.dir={whole}", data_dir=data_dir)
    stopped = tmp_path / "logs" / "diabetes" / "runs" / "stopped"
    process = run_cli("train.py", *args, f"hydra.run.dir={stopped}", data_dir=data_dir, background=True)
    deadline = time.monotonic() + 240
    while fold_epoch(stopped, "fold_0_1") < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert 10 <= fold_epoch(stopped, "fold_0_1") < 29, "the run was not killed in the middle of fold_0_1"
    assert not (stopped / "fold_0_2").exists() and not (stopped / "metrics.json").exists()
    finished = (stopped / "fold_0_0" / "metrics.json").stat().st_mtime_ns

    run_cli("train.py", *args, f"paths.log_dir={tmp_path / 'logs'}", "ckpt_path=last", data_dir=data_dir)
    assert files_of(stopped) == files_of(whole)
    assert (stopped / "fold_0_0" / "metrics.json").stat().st_mtime_ns == finished  # not retrained
    assert json.loads((stopped / "status.json").read_text())["status"] == "ok"
