"""The benchmark harness runs end to end (--quick) on small data, so it cannot rot. No timing assertions."""

from __future__ import annotations

import os
import subprocess
import sys

from omegaconf import OmegaConf

from litlab.runtime.resolvers import REPO_ROOT
from litlab.runtime.threads import thread_count


def test_benchmark_quick_prints_every_row(data_dir):
    env = {**os.environ, "LITLAB_DATA_DIR": str(data_dir)}
    out = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--quick"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip
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
    assert all("x |" in row for row in rows if "MNIST" in row or "diabetes" in row)  # each has a ratio


def test_threads_are_shared_between_parallel_jobs(monkeypatch):
    monkeypatch.setattr("litlab.runtime.threads.available_cores", lambda: 8)
    assert thread_count(OmegaConf.create({"threads": None})) is None  # alone: torch's own default
    assert thread_count(OmegaConf.create({"threads": 3})) == 3
    monkeypatch.setattr("litlab.runtime.threads.parallel_jobs", lambda: 4)
    assert thread_count(OmegaConf.create({"threads": None})) == 2
