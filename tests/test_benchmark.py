"""The benchmark harness runs end to end (--quick) on small data, so it cannot rot. No timing assertions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from litlab.runtime.resolvers import REPO_ROOT
from litlab.runtime.threads import thread_count


def quick_run(script: str, data_dir) -> str:
    """What `scripts/<script> --quick` prints."""
    env = {**os.environ, "LITLAB_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, f"scripts/{script}", "--quick"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip


def test_benchmark_quick_prints_every_row(data_dir):
    out = quick_run("benchmark.py", data_dir)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    expected = [
        "diabetes 8-6-4-1 step, batch 32", "diabetes 8-6-4-1 step, full batch", "MNIST MLP step",
        "MNIST MLP epoch", "MNIST input pipeline", "diabetes whole process", "sequential launcher",
        "joblib launcher", "joblib speed-up", "x 50 CSV read + setup (data=table)",
        "peak memory of that setup", "diabetes search, median pruner", "its best val/loss",
        "epochs its trials trained", "train.py --cfg job", "train.py --help", "-fold CV run",
        "to its first step",
    ]  # fmt: skip
    for name in expected:
        assert any(name in row for row in rows), f"no row for {name!r} in:\n{out}"
    ratios = {row.split("|")[1].strip(): row.split("|")[4] for row in rows}
    for name, ratio in ratios.items():
        if "MNIST" in name or "diabetes" in name:
            assert re.match(r" \d+\.\d+x", ratio), f"{name!r} has no ratio: {ratio!r}"  # litlab/plain
    # The rows whose target is about litlab/floor: the diabetes steps, the MNIST epoch, the whole process,
    # the sequential sweep and the CV run.
    with_floor = [row.split("|")[1].strip() for row in rows if "floor" in row.split("|")[5]]
    assert len(with_floor) == 6, with_floor
    for name in with_floor:  # and litlab/floor, what their targets are about
        assert re.search(r"\(\d+\.\d+x floor\)", ratios[name]), (
            f"{name!r} has no floor ratio: {ratios[name]!r}"
        )


@pytest.mark.slow
def test_population_benchmark_quick_prints_its_rows(data_dir):
    out = quick_run("benchmark_population.py", data_dir)
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    names = ["CV, vectorised (vs one single run)", "CV, sequential (vs vectorised)", "CAF", "population fit"]
    for name in names:
        assert any(name in row["row"] for row in rows), f"no row for {name!r} in:\n{out}"
    assert all(row["ours"] > 0 and row["theirs"] > 0 for row in rows)


def test_threads_are_shared_between_parallel_jobs(monkeypatch):
    monkeypatch.setattr("litlab.runtime.threads.available_cores", lambda: 8)
    assert thread_count(OmegaConf.create({"threads": None})) is None  # alone: torch's own default
    assert thread_count(OmegaConf.create({"threads": 3})) == 3
    monkeypatch.setattr("litlab.runtime.threads.parallel_jobs", lambda: 4)
    assert thread_count(OmegaConf.create({"threads": None})) == 2
