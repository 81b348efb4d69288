"""A run's folder is its own and says how the run ended; a run that would train nothing is refused."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
from datetime import datetime
from pathlib import Path

import pytest
import torch
from helpers import errors, run_cli
from omegaconf import OmegaConf

from litlab.runs.layout import claim_new_folder, latest_run
from litlab.runs.resume import plan_resume
from litlab.runs.status import read_status, write_status
from litlab.runtime.files import write_text_atomic
from litlab.runtime.objective import check_objective, metric_mode
from litlab.runtime.threads import torch_threads
from litlab.train import train

QUICK = ["experiment=diabetes", "trainer.max_epochs=2", "trainer.accelerator=cpu"]


def test_runs_started_in_the_same_millisecond_get_folders_of_their_own(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5, 678000)
    folders: list[Path] = []
    threads = [
        threading.Thread(target=lambda: folders.append(claim_new_folder(tmp_path, now))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(folders)) == 8 and all(folder.is_dir() for folder in folders)
    assert sorted(f.name for f in folders)[:2] == ["2026-01-02_03-04-05-678", "2026-01-02_03-04-05-678_2"]


@pytest.mark.slow
def test_eight_runs_launched_at_once_leave_eight_folders(tmp_path, data_dir):
    logs = tmp_path / "logs"
    processes = [
        run_cli(
            "train.py", *QUICK, f"seed={seed}", f"paths.log_dir={logs}", data_dir=data_dir, background=True
        )
        for seed in range(8)
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, errors(process)
    runs = sorted((logs / "diabetes" / "runs").iterdir())
    assert len(runs) == 8
    assert sorted(OmegaConf.load(run / "config.yaml").seed for run in runs) == list(range(8))
    assert all((run / "metrics.json").is_file() and read_status(run)["status"] == "ok" for run in runs)


def test_a_finished_run_says_ok_with_its_epochs(compose_config, tmp_path):
    train(compose_config(*QUICK))
    record = read_status(tmp_path / "run")
    assert (record["status"], record["epochs"], record["stopped_by"]) == ("ok", 2, "max_epochs")


def test_a_failed_run_says_failed_and_keeps_its_traceback(compose_config, tmp_path):
    with pytest.raises(Exception, match="dropout must lie in"):  # Hydra wraps it: InstantiationException
        train(compose_config(*QUICK, "model.net.dropout=1.5"))
    record = read_status(tmp_path / "run")
    assert record["status"] == "failed" and "dropout must lie in [0, 1), got 1.5" in record["error"]
    assert "dropout must lie in" in (tmp_path / "run" / "error.txt").read_text().partition("\n")[0]
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    "override", ["trainer.max_epochs=0", "+trainer.limit_train_batches=0", "+trainer.limit_train_batches=0.0"]
)
def test_a_run_that_trains_nothing_is_refused(compose_config, tmp_path, override):
    with pytest.raises(ValueError, match=rf"{override.strip('+').split('=')[0]}=0 trains nothing"):
        train(compose_config("experiment=diabetes", override))
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_seed_that_is_not_a_number_is_named(compose_config):
    with pytest.raises(ValueError, match=r"seed='abc' is not an integer; give seed=<integer> or seed=null"):
        train(compose_config("experiment=diabetes", "seed=abc"))


def status_dir(tmp_path: Path, **record) -> Path:
    run = tmp_path / "job"
    run.mkdir()
    write_status(run, **record)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    return run


def plan(compose_config, run: Path, *overrides: str):
    return plan_resume(compose_config("experiment=diabetes", *overrides), run, overrides=[])


def test_an_early_stopped_run_is_finished_and_a_resume_is_refused(compose_config, tmp_path):
    run = status_dir(tmp_path, status="ok", epochs=44, stopped_by="early_stopping")  # epochs 0..43 trained
    with pytest.raises(ValueError, match=r"finished \(early stopping ended it after epoch 43, so it is"):
        plan(compose_config, run, "ckpt_path=last")
    with pytest.raises(ValueError, match="already holds a finished run; it is kept"):
        plan(compose_config, run)


def test_a_run_at_max_epochs_resumes_only_to_train_longer(compose_config, tmp_path):
    run = status_dir(tmp_path, status="ok", epochs=200, stopped_by="max_epochs")
    with pytest.raises(ValueError, match="all 200 epochs of trainer.max_epochs; raise trainer.max_epochs"):
        plan(compose_config, run, "ckpt_path=last")
    longer = plan(compose_config, run, "ckpt_path=last", "trainer.max_epochs=300")
    assert longer.checkpoint == str(run / "checkpoints" / "last.ckpt") and not longer.finished


def test_an_interrupted_run_resumes_from_its_last_checkpoint(compose_config, tmp_path):
    run = status_dir(tmp_path, status="interrupted", epochs=3, signal="SIGINT")
    assert plan(compose_config, run, "ckpt_path=last").checkpoint == str(run / "checkpoints" / "last.ckpt")


def test_a_run_stopped_after_its_fit_resumes_by_testing_only(compose_config, tmp_path):
    best = str(tmp_path / "job" / "checkpoints" / "epoch_007.ckpt")
    run = status_dir(tmp_path, status="interrupted", fit_done=True, best_checkpoint=best, epochs=9)
    resumed = plan(compose_config, run, "ckpt_path=last")
    assert (resumed.checkpoint, resumed.test_only) == (best, True)


def test_a_fast_dev_run_is_finished_too(compose_config, tmp_path):
    run = status_dir(tmp_path, status="ok", epochs=1, max_epochs=1, stopped_by="fast_dev_run")
    with pytest.raises(ValueError, match="fast dev run ended it after epoch 0"):
        plan(compose_config, run, "ckpt_path=last")


def test_ckpt_path_last_passes_over_a_run_still_going(tmp_path):
    runs = tmp_path / "runs"
    for name in ("older", "live"):
        (runs / name / "checkpoints").mkdir(parents=True)
        (runs / name / "checkpoints" / "last.ckpt").write_bytes(b"x")
    write_status(runs / "older", "interrupted")
    write_status(runs / "live", "running", pid=os.getpid(), host=socket.gethostname())  # this very process
    assert latest_run(runs) == runs / "older"


def test_a_wrong_optimized_metric_fails_the_run_before_it_trains(compose_config, tmp_path):
    # A classifier logs no val/mse: said before the first epoch, with the metrics it does log.
    with pytest.raises(ValueError, match="optimized_metric=val/mse is not a metric this model logs; pick "
                       "one of train/loss, train/acc.*e.g. optimized_metric=val/loss"):  # fmt: skip
        train(compose_config(*QUICK, "optimized_metric=val/mse"))
    assert read_status(tmp_path / "run")["status"] == "failed"
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not list((tmp_path / "run").glob("checkpoints/*.ckpt"))  # nothing trained


def test_only_litlab_s_own_metrics_are_checked_before_training():
    from litlab.runtime.objective import check_logged

    regression = ["train/loss", "train/mse", "train/r2", "val/loss", "val/mse", "val/r2"]
    with pytest.raises(ValueError, match="optimized_metric=val/acc is not a metric this model logs"):
        check_logged("val/acc", regression)
    check_logged("val/r2", regression)
    check_logged("val/my_score", regression)  # a callback's own: looked up when the run ends
    check_logged(None, regression)


def test_the_objectives_mode_follows_its_metric(compose_config):
    for experiment, mode in [("hours_linear", "min"), ("hours_logistic", "min"), ("noisy_line", "max")]:
        assert compose_config(f"experiment={experiment}").optimized_metric_mode == mode
    assert compose_config("experiment=mnist").monitor.mode == "max"
    assert (metric_mode("val/loss"), metric_mode("test/auroc"), metric_mode("val/r2")) == (
        "min",
        "max",
        "max",
    )
    with pytest.raises(ValueError, match="optimized_metric_mode=max contradicts optimized_metric=val/loss"):
        check_objective("val/loss", "max")
    check_objective("val/my_score", "max")  # a metric of the user's own: its mode stands
    with pytest.raises(ValueError, match=r"which way is 'val/my_score' better\?.*optimized_metric_mode=max"):
        metric_mode("val/my_score")


def test_a_contradicting_mode_is_refused_before_training(compose_config, tmp_path):
    with pytest.raises(ValueError, match="monitor.mode=max contradicts monitor.metric=val/loss"):
        train(compose_config("experiment=diabetes", "monitor.mode=max"))


def test_thread_count_is_restored_after_a_run():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_atomic_files_get_plain_permissions_without_touching_the_umask(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
        assert os.umask(0o022) == 0o022  # unchanged by the write
    finally:
        os.umask(umask)
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_best_checkpoint_is_found_by_what_it_monitors(compose_config, tmp_path, caplog):
    # The latest-epoch checkpoint first in the list: the best one must still be the one tested.
    cfg = compose_config(*QUICK, "trainer.max_epochs=4", "callbacks.early_stopping=null")
    callbacks = OmegaConf.to_container(cfg.callbacks)
    cfg.callbacks = {"last_checkpoint": callbacks.pop("last_checkpoint"), **callbacks}
    caplog.set_level(logging.INFO)
    train(cfg)
    # By path, not by score: the best epoch may be the last one, whose scores last.ckpt shares.
    restored = [
        r.getMessage() for r in caplog.records if "Restoring states from the checkpoint" in r.getMessage()
    ]
    assert len(restored) == 2 and all("checkpoints/epoch_" in message for message in restored), restored
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    best = next((tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt"))
    events = torch.load(best, weights_only=True)["callbacks"]
    score = next(v["best_model_score"] for k, v in events.items() if k.startswith("BestCheckpoint"))
    assert metrics["val/loss"] == pytest.approx(float(score), rel=1e-5)


def test_without_checkpoints_the_final_weights_are_tested_with_a_warning(compose_config, tmp_path, caplog):
    train(compose_config(*QUICK, "callbacks.best_checkpoint=null", "callbacks.last_checkpoint=null"))
    assert "Checkpointing is off" in caplog.text and "testing the final weights" in caplog.text
    assert not (tmp_path / "run" / "checkpoints").exists()
