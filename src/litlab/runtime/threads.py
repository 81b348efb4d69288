"""How many torch threads a run gets: all cores alone, an even share of them beside parallel jobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig


def parallel_jobs() -> int:
    """Jobs the current Hydra launcher runs at once (1 outside Hydra or with the basic launcher)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return 1
    launcher = HydraConfig.get().get("launcher") or {}
    n_jobs = launcher.get("n_jobs") or 1
    if n_jobs < 0:  # joblib: -1 is one job per core, -2 all but one, ...
        return max(1, available_cores() + 1 + n_jobs)
    return n_jobs


def available_cores() -> int:
    """Cores this process may run on (affinity, cgroups and SLURM masks included)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_count(cfg: DictConfig) -> int | None:
    """`cfg.threads` if set; the cores divided among parallel jobs; None (torch's default) otherwise.

    Two jobs with two threads each on two cores spend their time fighting over the cores: each
    job on its own core is faster for the small nets that sweeps are made of.
    """
    if cfg.get("threads"):
        threads = cfg.threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads={threads!r} is not a positive integer; give threads=N or threads=null")
        return threads
    jobs = parallel_jobs()
    return max(1, available_cores() // jobs) if jobs > 1 else None


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `count` (None: left as they are) for the block, then restored,
    so a later job of a sequential sweep starts from the process's own setting."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
