"""Resume: ckpt_path=last finds the run, a killed run resumes to the same metrics, bad checkpoints fail."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from helpers import run_cli
from omegaconf import OmegaConf

from litlab.checkpoints.contents import stored_config
from litlab.checkpoints.io import AtomicCheckpointIO, load_checkpoint
from litlab.data import DiabetesDataModule
from litlab.runs.layout import run_folder
from litlab.runs.status import read_status
from litlab.train import train

# 40 epochs of the small diabetes file, dropout on so the random state must be restored too.
RUN = [
    "experiment=diabetes",
    "trainer.max_epochs=40",
    "callbacks.early_stopping=null",
    "trainer.deterministic=true",
    "trainer.accelerator=cpu",
    "model.net.dropout=0.2",
    "seed=5",
    "callbacks.last_checkpoint.every_seconds=0",  # a last.ckpt every epoch: the test stops it at epoch 10
]


def test_run_dir_is_new_unless_resuming(tmp_path):
    runs = tmp_path / "runs"
    fresh = Path(run_folder(None, str(runs)))
    assert fresh.parent == runs and fresh.is_dir()
    empty = Path(run_folder("last", str(runs)))  # no earlier run: a new folder, train() then says so
    assert empty != fresh and empty.parent == runs
    for name, age in (("old", 100), ("new", 0)):
        last = runs / name / "checkpoints" / "last.ckpt"
        last.parent.mkdir(parents=True)
        last.write_bytes(b"x")
        os.utime(last, (time.time() - age, time.time() - age))
    assert run_folder("last", str(runs)) == str(runs / "new")
    assert run_folder(str(runs / "old" / "checkpoints" / "last.ckpt"), str(runs)) == str(runs / "old")
    elsewhere = Path(run_folder(str(tmp_path / "weights.ckpt"), str(runs)))
    assert elsewhere.parent == runs and elsewhere.name not in ("old", "new")


def test_last_without_a_checkpoint_in_the_run_dir_is_refused(compose_config):
    with pytest.raises(ValueError, match=r"ckpt_path=last: no earlier run of task_name=diabetes has a"):
        train(compose_config("experiment=diabetes", "ckpt_path=last"))


def test_checkpoints_are_written_atomically_and_truncated_ones_refused(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 2}, path)
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left
    assert load_checkpoint(path)["epoch"] == 2
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="is truncated or not a checkpoint"):
        AtomicCheckpointIO().load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_a_checkpoint_of_another_experiment_is_refused(compose_config, tmp_path):
    train(compose_config("experiment=breast_cancer", "trainer.max_epochs=1", run_dir=tmp_path / "bc"))
    other = compose_config(
        "experiment=diabetes", f"ckpt_path={tmp_path / 'bc' / 'checkpoints' / 'last.ckpt'}"
    )
    with pytest.raises(ValueError, match="another config: .*resume it with experiment=breast_cancer"):
        train(other)


def test_a_resume_must_keep_data_model_seed_and_may_change_the_rest(compose_config, tmp_path):
    first = tmp_path / "first"
    train(compose_config("experiment=diabetes", "trainer.max_epochs=2", "seed=1", run_dir=first))
    last = f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"
    with pytest.raises(ValueError, match=r"seed: checkpoint 1, this run 2.*resume with the values it was"):
        train(compose_config("experiment=diabetes", "seed=2", "model.optimizer.lr=0.5", last, run_dir=first))
    with pytest.raises(ValueError, match=r"finished \(it trained all 2 epochs of trainer.max_epochs; raise"):
        train(compose_config("experiment=diabetes", "seed=1", "trainer.max_epochs=2", last, run_dir=first))
    assert read_status(first)["status"] == "ok"  # the refused resumes left the finished run's record
    train(compose_config("experiment=diabetes", "seed=1", "trainer.max_epochs=3", last, run_dir=first))
    assert load_checkpoint(first / "checkpoints" / "last.ckpt")["epoch"] == 2


def test_a_moved_run_keeps_its_best_checkpoint(compose_config, tmp_path):
    # With lr 0 every epoch ties with epoch 0, the best; after the move the resumed run must still test it.
    common = ["experiment=diabetes", "callbacks.early_stopping=null", "model.optimizer.lr=0.0", "seed=1"]
    train(compose_config(*common, "trainer.max_epochs=3", run_dir=tmp_path / "a"))
    (tmp_path / "a").rename(tmp_path / "b")
    moved = f"ckpt_path={tmp_path / 'b' / 'checkpoints' / 'last.ckpt'}"
    train(compose_config(*common, "trainer.max_epochs=5", moved, run_dir=tmp_path / "b"))
    assert [p.name for p in (tmp_path / "b" / "checkpoints").glob("epoch_*.ckpt")] == ["epoch_000.ckpt"]


def test_unseeded_runs_record_the_seed_they_drew(compose_config, tmp_path):
    train(compose_config("experiment=diabetes", "seed=null", "trainer.max_epochs=1"))
    seed = OmegaConf.load(tmp_path / "run" / "config.yaml").seed
    assert isinstance(seed, int)
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert stored_config(checkpoint)["seed"] == seed == stored_config(checkpoint)["data"]["seed"]


def last_epoch(run: Path) -> int:
    try:
        return load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"]
    except (FileNotFoundError, ValueError):
        return -1


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    """metrics.json of the run that the interrupted runs must reproduce."""
    tmp = tmp_path_factory.mktemp("whole")
    data_dir, whole = tmp / "data", tmp / "whole"
    DiabetesDataModule.write_example_files(data_dir)
    run_cli("train.py", *RUN, f"hydra.run.dir={whole}", data_dir=data_dir)
    return json.loads((whole / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "exit_code", "status"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "interrupted"),
        (signal.SIGKILL, -9, "running"),
    ],
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_a_stopped_run_says_so_and_resumes_to_the_metrics_of_an_uninterrupted_one(
    tmp_path, uninterrupted, signum, exit_code, status
):
    data_dir = tmp_path / "data"
    DiabetesDataModule.write_example_files(data_dir)
    stopped = tmp_path / "logs" / "diabetes" / "runs" / "stopped"
    process = run_cli("train.py", *RUN, f"hydra.run.dir={stopped}", data_dir=data_dir, background=True)
    deadline = time.monotonic() + 240
    while last_epoch(stopped) < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signum)
    assert process.wait(timeout=60) == exit_code  # 130 / 143 as a shell reports them; -9: killed outright
    stopped_at = last_epoch(stopped)
    assert 10 <= stopped_at < 39, f"the run was not stopped mid-training (last epoch {stopped_at})"
    assert not (stopped / "metrics.json").exists()  # nothing that looks like a finished run
    record = read_status(stopped)
    assert record["status"] == status
    if status == "interrupted":
        assert record["signal"] == signal.Signals(signum).name and record["epochs"] >= stopped_at + 1

    # ckpt_path=last picks the most recent run of the task under paths.log_dir: the stopped one.
    run_cli("train.py", *RUN, f"paths.log_dir={tmp_path / 'logs'}", "ckpt_path=last", data_dir=data_dir)
    assert json.loads((stopped / "metrics.json").read_text()) == uninterrupted
    assert read_status(stopped)["status"] == "ok"
    assert [p.name for p in (tmp_path / "logs" / "diabetes" / "runs").iterdir()] == [
        "stopped"
    ]  # no new folder


def test_last_ckpt_is_the_latest_epoch_not_the_best(compose_config, tmp_path):
    # Accuracy on a few validation rows stops improving early: last.ckpt must still follow every epoch.
    cfg = compose_config(
        "experiment=diabetes",
        "trainer.max_epochs=8",
        "callbacks.early_stopping=null",
        "monitor.metric=val/acc",
    )
    train(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    best = [p.name for p in checkpoints.glob("epoch_*.ckpt")]
    assert best != ["epoch_007.ckpt"], "the test needs a best epoch other than the last"
    assert load_checkpoint(checkpoints / "last.ckpt")["epoch"] == 7


def test_a_finished_run_s_refusal_counts_epochs_as_the_console_does_and_names_its_best(tmp_path):
    from litlab.runs.resume import finished_message
    from litlab.runs.status import write_status

    best = tmp_path / "run" / "checkpoints" / "epoch_023.ckpt"
    best.parent.mkdir(parents=True)
    write_status(tmp_path / "run", "ok", epochs=44, stopped_by="early_stopping", best_checkpoint=str(best))
    message = finished_message(tmp_path / "run", read_status(tmp_path / "run"))
    assert "early stopping ended it after epoch 43, so it is done" in message  # epochs 0..43
    assert f"`python eval.py ckpt_path={best}`" in message
    write_status(tmp_path / "bare", "ok", epochs=3, stopped_by="early_stopping")  # no checkpoint at all
    message = finished_message(tmp_path / "bare", read_status(tmp_path / "bare"))
    assert f"ckpt_path={tmp_path / 'bare' / 'checkpoints' / 'epoch_NNN.ckpt'}`" in message  # the pattern
