"""Lightning's DDP process launcher inside Hydra jobs: the ranks > 0 run this job, in this job's folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from litlab.runtime.ranks import launched_by_ddp

# What Lightning's launcher sets in the launching process for the ranks it starts.
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# Hydra overrides about the sweep itself, or set for the ranks by Lightning: not passed on to them.
SWEEP_OVERRIDES = ("hydra.sweep", "hydra/launcher", "hydra.launcher", "hydra/sweeper", "hydra.sweeper",
                   "hydra.mode", "hydra.run.dir", "hydra.job.name", "hydra.output_subdir")  # fmt: skip


def rank_overrides(task: list[str], hydra: list[str]) -> list[str]:
    """The command line of a rank > 0: the job's own overrides and the Hydra ones that shape its config
    (hydra.searchpath, ...), without those of the sweep."""
    kept = [o for o in hydra if not o.lstrip("+~").startswith(SWEEP_OVERRIDES)]
    return [*kept, *task]


@contextmanager
def ddp_ranks_for_this_job(world_size: int) -> Iterator[None]:
    """Around one job's fit/validate/test when it trains on several processes.

    Lightning's launcher (strategy ddp) re-runs `sys.argv` for every rank > 0 with
    `hydra.run.dir=<HydraConfig run.dir>`. In a sweep, sys.argv is the whole sweep and run.dir is not
    the job's folder: the command line becomes this job's own overrides (and the Hydra overrides that
    shape its config, such as hydra.searchpath) and run.dir its resolved output folder. Afterwards the
    process group and the launch variables go, so the next job of a sweep in this process starts its
    own ranks. Processes started by a
    cluster (SLURM, torchrun: LOCAL_RANK already set) are left as they are.
    """
    launching = world_size > 1 and not launched_by_ddp()
    if not launching:
        yield
        return
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    argv = sys.argv
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        sys.argv = [argv[0], *rank_overrides(list(hydra_cfg.overrides.task), list(hydra_cfg.overrides.hydra))]
        with read_write(hydra_cfg):
            hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        import torch.distributed as dist

        sys.argv = argv
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name in LAUNCH_VARIABLES:
            os.environ.pop(name, None)
