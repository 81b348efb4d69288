"""How a run ended, in `status.json`: running, ok, failed, interrupted or pruned (a search trial its
pruner stopped: runs/trial.py), written atomically.

`running` is written when the task starts and replaced when it ends, so a folder still saying running
after its process is gone was killed (SIGKILL, a node failure). Light: no torch.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from litlab.runs.layout import ERROR_FILE, STATUS_FILE
from litlab.runtime.files import write_text_atomic
from litlab.runtime.ranks import is_rank_zero, process_rank

log = logging.getLogger(__name__)

STATUSES = ("running", "ok", "failed", "interrupted", "pruned")


class RunInterrupted(BaseException):
    """SIGINT or SIGTERM arrived: the run stops, says so in its folder and exits with 128 + signal.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it; not a
    KeyboardInterrupt, so that Lightning does not turn it into sys.exit(1).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT (Ctrl-C), 143 for SIGTERM, as a shell reports a process killed by them."""
        return 128 + self.signum


# The trainer while it fits, and the first signal that asked it to stop. A fit is not cut at an arbitrary
# point: an exception raised from a signal handler can leave a lock held (TensorBoard's writer thread)
# and hang the shutdown. The signal instead marks the trainer as Lightning's own SIGTERM handler does,
# and Lightning stops every DDP rank at the next batch boundary with SIGTERMException.
_fitting: Any = None
_stop_signal: int | None = None


@contextmanager
def stop_at_batch_boundary(trainer: Any) -> Iterator[None]:
    """Around `trainer.fit`: SIGINT and SIGTERM stop it at the next batch (a second SIGINT at once)."""
    global _fitting, _stop_signal
    _fitting, _stop_signal = trainer, None
    try:
        yield
    finally:
        _fitting = None


def stop_signal() -> int:
    """The signal that stopped the last fit (SIGTERM when Lightning stopped it for its own reasons)."""
    return _stop_signal or signal.SIGTERM


def is_trial_pruned(error: BaseException) -> bool:
    """Optuna's TrialPruned (a search's pruner stopped this trial), named: no optuna import here."""
    return type(error).__name__ == "TrialPruned"


def is_lightning_sigterm(error: BaseException) -> bool:
    """Lightning's SIGTERMException, named rather than imported: this module must not import torch."""
    return type(error).__name__ == "SIGTERMException"


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise RunInterrupted (in the main thread only, where Python
    delivers signals); the previous handlers come back afterwards. During a fit (`stop_at_batch_boundary`)
    the first signal asks Lightning to stop at the next batch instead (for SIGTERM Lightning's own handler
    runs first: it keeps the handlers it finds)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        global _stop_signal
        if _fitting is not None and _stop_signal is None:
            _stop_signal = signum
            # What Lightning's SIGTERM handler sets (it ran first for SIGTERM); its loops check it.
            _fitting._signal_connector.received_sigterm = True
            log.warning("%s: stopping at the next batch (again to stop at once)", signal.Signals(signum).name)
            return
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def write_status(run_dir: Path, status: str, **details: Any) -> None:
    """Write `status.json`; only rank 0 writes, the other ranks of a DDP run share its folder."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if not is_rank_zero():
        return
    record = {"status": status, "time": datetime.now().isoformat(timespec="seconds"), **details}
    write_text_atomic(run_dir / STATUS_FILE, json.dumps(record, indent=2) + "\n")


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """The folder's status record, or None when it has none (a run from before status.json, or none)."""
    path = run_dir / STATUS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # written atomically, so only a hand-edited file gets here


def record_failure(run_dir: Path, error: BaseException, **details: Any) -> Path:
    """Write `error.txt` (first line `Type: message`, then the trace) and status failed; any rank writes
    the error, with its rank named, since a rank > 0 may be the one that failed."""
    rank = process_rank()
    where = f" (rank {rank})" if rank else ""
    summary = " ".join(f"{type(error).__name__}: {error}".split())  # one line, for the sweep summary
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    path = run_dir / ERROR_FILE
    write_text_atomic(path, f"{summary}{where}\n\n{trace}")
    write_status(run_dir, "failed", **{**details, "error": summary})
    return path


def is_live(record: dict[str, Any]) -> bool:
    """Whether the process a `running` status names still runs on this machine (another machine's run
    cannot be asked: it counts as not running, so that a run killed on a cluster node can be resumed)."""
    if record.get("status") != "running":
        return False
    if record.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(record.get("pid", -1)), 0)
    except (OSError, ValueError):
        return False
    return True


def in_multirun() -> bool:
    """True inside a job of `python train.py -m ...` (any launcher or sweeper)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweeper_value(value: float | None) -> float | None:
    """The value handed back to the sweeper; nan (a diverged run) becomes None, a failed trial.

    None rather than nan: litlab's sweeper marks that trial FAIL, as Optuna would for a nan, and
    every other sweeper knows None as a job without a value.
    """
    if value is not None and math.isnan(value):
        log.warning("The optimized metric is nan: the sweeper records this job as failed.")
        return None
    return value
