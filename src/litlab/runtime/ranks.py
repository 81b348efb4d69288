"""Which process is this? One answer for every place that asks (light: no torch)."""

from __future__ import annotations

import os

# Where the launchers leave a process's global rank, in Lightning's own order of precedence
# (lightning_fabric.utilities.rank_zero._get_rank); Lightning's DDP launcher sets LOCAL_RANK and NODE_RANK.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def process_rank() -> int:
    """This process's rank: 0 for a single process and for DDP's rank 0, > 0 for the others."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            return int(value)
    return 0


def is_rank_zero() -> bool:
    """True in the process that writes a run's files (also under DDP, SLURM and torchrun)."""
    return process_rank() == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def launched_by_ddp() -> bool:
    """True in a process that a DDP launcher started (it takes shared values such as the seed from rank 0)."""
    return "LOCAL_RANK" in os.environ
