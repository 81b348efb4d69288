"""How many torch threads a run gets: all cores alone, an even share of them beside parallel jobs."""

from __future__ import annotations

import os

from omegaconf import DictConfig


def parallel_jobs() -> int:
    """Jobs the current Hydra launcher runs at once (1 outside Hydra or with the basic launcher)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return 1
    launcher = HydraConfig.get().get("launcher") or {}
    n_jobs = launcher.get("n_jobs") or 1
    return os.cpu_count() or 1 if n_jobs < 0 else n_jobs  # joblib: -1 means one per core


def thread_count(cfg: DictConfig) -> int:
    """`cfg.threads` if set, else the cores divided among the jobs that run at once (at least 1).

    Two jobs with two threads each on two cores spend their time fighting over the cores: each
    job on its own core is faster for the small nets that sweeps are made of.
    """
    if cfg.get("threads"):
        return int(cfg.threads)
    return max(1, (os.cpu_count() or 1) // parallel_jobs())
