"""The sweep summary: job folders in, summary.csv and summary.md out, best first, failed last."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from litlab.runs.status import write_status
from litlab.runs.summary import main as summary_main
from litlab.runs.summary import write_summary


def read_summary(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def make_job(
    sweep: Path,
    name: str,
    overrides: list[str],
    metrics: dict | None = None,
    error: str | None = None,
    status: str | None = None,
):
    """A job folder as train.py leaves it: status.json (ok with metrics, failed with error, or `status`)."""
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))
    (job / ".hydra" / "config.yaml").write_text("optimized_metric: val/loss\noptimized_metric_mode: min\n")
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    if error is not None:
        (job / "error.txt").write_text(f"{error}\n\nTraceback (most recent call last): ...\n")
    status = status or ("ok" if metrics is not None else "failed" if error is not None else "running")
    write_status(job, status)
    return job


@pytest.fixture
def sweep(tmp_path) -> Path:
    """Six jobs: four ok (one with a nan loss, one in a subfolder), one still running, one failed."""
    sweep = tmp_path / "sweep"
    make_job(sweep, "0", ["lr=0.1", "seed=1"], {"val/loss": 0.5, "val/acc": 0.8, "train/loss": 0.4})
    make_job(sweep, "1", ["lr=0.01", "seed=1"], error="ValueError: lr | too small")
    make_job(sweep, "2", ["lr=0.001", "seed=1"])  # incomplete
    make_job(sweep, "3", ["lr=0.3", "seed=1"], {"val/loss": float("nan"), "val/acc": 0.5})
    make_job(sweep, "10", ["lr=0.03", "seed=1"], {"val/loss": 0.4, "val/acc": 0.7})
    make_job(sweep, "sub/4", ["+lr=0.05", "seed=1"], {"val/loss": 0.6, "val/acc": 0.9})
    return sweep


def test_summary_ranks_ok_jobs_by_the_metric_then_incomplete_then_failed(sweep):
    jobs = write_summary(sweep, "val/loss", "min")
    assert [j.name for j in jobs] == ["10", "0", "sub/4", "3", "2", "1"]
    assert [j.status for j in jobs] == ["ok", "ok", "ok", "ok", "incomplete", "failed"]
    assert [j.name for j in write_summary(sweep, "val/acc", "max")][:3] == ["sub/4", "0", "10"]

    rows = read_summary(sweep)
    assert list(rows[0])[:3] == ["job", "status", "lr"] and list(rows[0])[-1] == "error"
    assert rows[0]["val/acc"] == "0.9" and rows[0]["train/loss"] == ""
    assert rows[-1]["error"] == "ValueError: lr | too small"
    md = (sweep / "summary.md").read_text()
    assert "6 jobs (4 ok, 0 interrupted, 1 incomplete, 1 failed), best first by `val/acc` (max)" in md
    assert "Every job: `seed=1`" in md and "train/loss" not in md  # train metrics stay in the CSV
    assert "| 1 | failed | 0.01 |" in md and "lr \\| too small" in md


def test_the_status_file_tells_how_a_rerun_ended(sweep):
    (sweep / "0" / "error.txt").write_text("RuntimeError: rerun failed\n")
    write_status(sweep / "0", "failed")  # metrics.json of the earlier attempt is still there
    (job,) = [j for j in write_summary(sweep, "val/loss", "min") if j.name == "0"]
    assert (job.status, job.error) == ("failed", "RuntimeError: rerun failed")


def test_interrupted_jobs_are_listed_apart_and_old_folders_still_read(sweep):
    make_job(sweep, "5", ["lr=0.2", "seed=1"], status="interrupted")
    legacy = make_job(sweep, "6", ["lr=0.4", "seed=1"], {"val/loss": 0.1, "val/acc": 0.95})
    (legacy / "status.json").unlink()  # written before runs had a status file: metrics.json says ok
    jobs = write_summary(sweep, "val/loss", "min")
    assert [(j.name, j.status) for j in jobs][0] == ("6", "ok")
    assert [j.status for j in jobs][-3:] == ["interrupted", "incomplete", "failed"]
    assert "1 interrupted" in (sweep / "summary.md").read_text()


def test_summary_cli_reads_the_objective_from_the_jobs(sweep):
    summary_main([str(sweep)])
    assert [r["job"] for r in read_summary(sweep)][:2] == ["10", "0"]  # val/loss, min
    summary_main([str(sweep), "--metric", "val/acc", "--mode", "max"])
    assert read_summary(sweep)[0]["job"] == "sub/4"


def test_a_bad_mode_is_reported_and_the_summary_keeps_job_order(sweep, caplog):
    jobs = write_summary(sweep, "val/loss", "best")
    assert "optimized_metric_mode='best' is not one of ['min', 'max']" in caplog.text
    assert [j.name for j in jobs] == ["0", "3", "10", "sub/4", "2", "1"]
    assert "in job order" in (sweep / "summary.md").read_text()


def test_summary_of_an_empty_sweep(tmp_path):
    assert write_summary(tmp_path, "val/acc", "max") == []
    assert (tmp_path / "summary.csv").read_text() == "job,status,error\n"


def test_cv_jobs_are_ranked_by_their_cv_means(tmp_path):
    sweep = tmp_path / "sweep"
    for name, mean in (("0", 0.6), ("1", 0.4)):
        detail = {"val/loss": {"mean": mean, "std": 0.1, "ci95": [mean - 0.2, mean + 0.2], "n": 5}}
        cv = {"folds": 5, "repeats": 1, "metrics": detail}
        make_job(sweep, name, [f"lr={name}", "cv.folds=5"], {"val/loss": mean, "cv": cv})
    jobs = write_summary(sweep, "val/loss", "min")
    assert [(job.name, job.metrics) for job in jobs] == [("1", {"val/loss": 0.4}), ("0", {"val/loss": 0.6})]
