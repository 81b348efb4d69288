"""trainer=ddp_sim: two CPU processes over gloo, one run folder, each rank its share of the data."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from litlab.checkpoint_io import load_checkpoint
from litlab.resolvers import REPO_ROOT

DDP = ["experiment=diabetes", "trainer=ddp_sim", "trainer.max_epochs=3", "callbacks.early_stopping=null"]


def run(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "train.py", *args], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_ddp_sim_trains_in_one_folder_with_the_data_split_between_ranks(tmp_path, data_dir):
    run([*DDP, f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path}", "seed=1"])
    (folder,) = (tmp_path / "diabetes" / "runs").iterdir()  # rank 1 made no folder of its own
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 <= metrics["test/acc"] <= 1
    # Each rank trains on half of the training rows: half the optimizer steps of a single process.
    datamodule = instantiate(OmegaConf.load(folder / "config.yaml").data)
    datamodule.setup()
    train_rows = len(datamodule.splits["train"][1])
    steps = math.ceil(math.ceil(train_rows / 2) / 32)
    assert steps < math.ceil(train_rows / 32)
    assert load_checkpoint(folder / "checkpoints" / "last.ckpt")["global_step"] == 3 * steps
    report = (folder / "classification_report.md").read_text()
    assert "of 24)" in report or "of 24 (" in report  # each test row counted once, not once per rank


@pytest.mark.slow
def test_ddp_sim_in_a_sweep_keeps_each_job_in_its_folder(tmp_path, data_dir):
    run(["-m", *DDP, "seed=1,2", f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path}"])
    assert not (tmp_path / "diabetes" / "runs").exists()
    (sweep,) = (tmp_path / "diabetes" / "multiruns").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    assert all((sweep / job / "metrics.json").exists() for job in jobs)
