"""trainer=ddp_sim: two CPU processes over gloo, one run folder, each rank its share of the data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import run_cli
from hydra.utils import instantiate
from omegaconf import OmegaConf

from litlab.checkpoints.io import load_checkpoint

DDP = ["experiment=diabetes", "trainer=ddp_sim", "trainer.max_epochs=3", "callbacks.early_stopping=null"]


def run(data_dir: Path, *args: str) -> None:
    done = run_cli("train.py", *args, data_dir=data_dir, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_ddp_sim_trains_in_one_folder_with_the_data_split_between_ranks(tmp_path, data_dir):
    run(data_dir, *DDP, f"paths.log_dir={tmp_path}", "seed=1")
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
    run(data_dir, "-m", *DDP, "seed=1,2", f"paths.log_dir={tmp_path}")
    assert not (tmp_path / "diabetes" / "runs").exists()
    (sweep,) = (tmp_path / "diabetes" / "multiruns").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0_seed=1", "1_seed=2"]  # every rank of a job resolved the same folder name
    assert all((sweep / job / "metrics.json").exists() for job in jobs)


@pytest.mark.slow
@pytest.mark.parametrize("num_classes", [2, 3])
def test_a_rank_without_test_samples_joins_the_metric_sync(num_classes):
    """One test sample, two processes: rank 0 has none, and must still reach every collective."""
    done = run_cli("tests/ddp_empty_rank.py", str(num_classes), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("METRICS ")]
    metrics = json.loads(line.removeprefix("METRICS "))
    assert math.isfinite(metrics["test/loss"]) and {"test/acc", "test/auroc"} <= set(metrics)
