"""How a job of a sweep ends: a failure is written to `<job dir>/error.txt` and the sweep goes on.

Light: importing this must not import torch (the sweep summary reads the same file names).
"""

from __future__ import annotations

import logging
import math
import os
import traceback
from pathlib import Path

from litlab.run_files import write_text_atomic

log = logging.getLogger(__name__)

# What a job leaves behind: metrics.json when it finished, error.txt when it raised.
METRICS_FILE = "metrics.json"
ERROR_FILE = "error.txt"


def in_multirun() -> bool:
    """True inside a job of `python train.py -m ...` (any launcher or sweeper)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def job_dir() -> Path:
    """This job's folder, from Hydra itself: the job config may be the very thing that failed."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def record_failure(error: BaseException) -> Path:
    """Log the traceback and write it to `<job dir>/error.txt`: first line `Type: message`, then the trace."""
    rank = os.environ.get("RANK") or os.environ.get("SLURM_PROCID")
    where = f" (rank {rank})" if rank not in (None, "0") else ""
    path = job_dir() / ERROR_FILE
    log.error("Job failed%s; the sweep goes on. Traceback in %s", where, path, exc_info=error)
    summary = " ".join(f"{type(error).__name__}: {error}".split())  # one line, for the sweep summary
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    write_text_atomic(path, f"{summary}{where}\n\n{trace}")
    return path


def sweeper_value(value: float | None) -> float | None:
    """The value handed back to the sweeper; nan (a diverged run) becomes None, a failed trial.

    None rather than nan: the Optuna sweeper (hydra-optuna-sweeper 1.3 on optuna 2.x) stops the
    whole search on a nan, while a value that is not a number only marks that trial FAIL.
    """
    if value is not None and math.isnan(value):
        log.warning("The optimized metric is nan: the sweeper records this job as failed.")
        return None
    return value
