"""Resume: ckpt_path=last finds the run, a killed run resumes to the same metrics, bad checkpoints fail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from litlab.checkpoint_io import AtomicCheckpointIO, load_checkpoint
from litlab.resolvers import REPO_ROOT, run_dir
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
]


def test_run_dir_is_new_unless_resuming(tmp_path):
    runs = tmp_path / "runs"
    assert run_dir(None, str(runs), "2026-01-01_00-00-00") == f"{runs}/2026-01-01_00-00-00"
    assert run_dir("last", str(runs), "now") == f"{runs}/now"  # train() then says there is none
    for name, age in (("old", 100), ("new", 0)):
        last = runs / name / "checkpoints" / "last.ckpt"
        last.parent.mkdir(parents=True)
        last.write_bytes(b"x")
        os.utime(last, (time.time() - age, time.time() - age))
    assert run_dir("last", str(runs), "now") == str(runs / "new")
    assert run_dir(str(runs / "old" / "checkpoints" / "last.ckpt"), str(runs), "now") == str(runs / "old")
    assert run_dir(str(tmp_path / "weights.ckpt"), str(runs), "now") == f"{runs}/now"


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
    with pytest.raises(ValueError, match=r"already finished epoch 2 of trainer.max_epochs=2"):
        train(compose_config("experiment=diabetes", "seed=1", "trainer.max_epochs=2", last, run_dir=first))
    train(compose_config("experiment=diabetes", "seed=1", "trainer.max_epochs=3", last, run_dir=first))
    assert load_checkpoint(first / "checkpoints" / "last.ckpt")["epoch"] == 2


def test_a_moved_run_keeps_its_best_checkpoint(compose_config, tmp_path):
    # Maximising the loss makes epoch 0 the best; after the move the resumed run must still test it.
    common = ["experiment=diabetes", "callbacks.early_stopping=null", "monitor.mode=max", "seed=1"]
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
    assert checkpoint["litlab_config"]["seed"] == seed == checkpoint["litlab_config"]["data"]["seed"]


def run_command(data_dir: Path, run: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", *RUN, f"paths.data_dir={data_dir}", f"hydra.run.dir={run}", *extra]


def last_epoch(run: Path) -> int:
    try:
        return load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"]
    except (FileNotFoundError, ValueError):
        return -1


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_metrics_of_an_uninterrupted_one(tmp_path, data_dir):
    whole, killed = tmp_path / "whole", tmp_path / "logs" / "diabetes" / "runs" / "killed"
    subprocess.run(run_command(data_dir, whole), cwd=REPO_ROOT, check=True, capture_output=True, timeout=300)

    process = subprocess.Popen(
        run_command(data_dir, killed), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while last_epoch(killed) < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = last_epoch(killed)
    assert 10 <= stopped_at < 39, f"the run was not killed mid-training (last epoch {stopped_at})"
    assert not (killed / "metrics.json").exists()

    # ckpt_path=last picks the most recent run of the task under paths.log_dir: the killed one.
    resume = [
        sys.executable,
        "train.py",
        *RUN,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    latest = killed
    subprocess.run([*resume, "ckpt_path=last"], cwd=REPO_ROOT, check=True, capture_output=True, timeout=300)
    assert json.loads((latest / "metrics.json").read_text()) == json.loads(
        (whole / "metrics.json").read_text()
    )
    assert [p.name for p in (tmp_path / "logs" / "diabetes" / "runs").iterdir()] == [
        "killed"
    ]  # no new folder


def test_last_ckpt_is_the_latest_epoch_not_the_best(compose_config, tmp_path):
    # Maximising the loss makes epoch 0 the "best": last.ckpt must still follow every epoch.
    cfg = compose_config(
        "experiment=diabetes", "trainer.max_epochs=6", "callbacks.early_stopping=null", "monitor.mode=max"
    )
    train(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    best = [p.name for p in checkpoints.glob("epoch_*.ckpt")]
    assert best != ["epoch_005.ckpt"], "the test needs a best epoch other than the last"
    assert load_checkpoint(checkpoints / "last.ckpt")["epoch"] == 5
