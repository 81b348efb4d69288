"""A run folder's names, and how a run gets its folder: a new one of its own, or the one it resumes.

    <runs dir>/<YYYY-MM-DD_HH-MM-SS-mmm>/   a single run (a sweep: <sweep dir>/<job number>/)
        status.json       how the run ended (runs/status.py), written first and last
        metrics.json      final metrics of a finished run
        config.yaml       the resolved config, sizes from the data included
        error.txt         the traceback of a failed run
        checkpoints/      epoch_NNN.ckpt (best by the monitor) and last.ckpt (every epoch)
        tensorboard/      event files
        fold_<r>_<k>/     a cross-validation run's folds, each laid out as a run; the run folder then
                          also holds oof_predictions.csv (runs/folds.py)

Light: no torch. Hydra asks for the folder (conf/hydra/default.yaml) before the task starts, since its
log file goes there; the task then finds it as `paths.output_dir`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.yaml"
STATUS_FILE = "status.json"
ERROR_FILE = "error.txt"
CHECKPOINT_DIR = "checkpoints"
LAST_NAME = "last"  # checkpoints/last.ckpt, written after every epoch
BEST_NAME = "epoch_{epoch:03d}"  # the best epoch by the monitored metric
FOLD_GLOB = "fold_*"  # a cross-validation run's fold folders: fold_<repeat>_<k>


def checkpoint_dir(run_dir: str | Path) -> Path:
    """Where a run keeps its checkpoints."""
    return Path(run_dir) / CHECKPOINT_DIR


def last_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint `ckpt_path=last` resumes from."""
    return checkpoint_dir(run_dir) / f"{LAST_NAME}.ckpt"


def claim_new_folder(parent: str | Path, now: datetime | None = None) -> Path:
    """Create and return a folder under `parent` that no other run has: the time to the millisecond,
    created exclusively; when another run took that name first, the next free `<name>_2`, `<name>_3`...

    Exclusive creation is what makes it safe: two runs started in the same millisecond (a shell loop
    with `&`, a job array) cannot both succeed in creating one name.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H-%M-%S-%f")[:-3]
    for n in range(1, 10_000):
        folder = parent / (stamp if n == 1 else f"{stamp}_{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"{parent}: 10000 runs started at {stamp}; pass hydra.run.dir=... explicitly")


def fold_dirs(run_dir: str | Path) -> list[Path]:
    """A cross-validation run's fold folders (none for a single run)."""
    return sorted(p for p in Path(run_dir).glob(FOLD_GLOB) if p.is_dir())


def run_of_checkpoint(path: Path) -> Path | None:
    """The run folder whose last checkpoint `path` is: <run>/checkpoints/last.ckpt, or a
    cross-validation fold's <run>/fold_<r>_<k>/checkpoints/last.ckpt; None for any other file."""
    if path.name != f"{LAST_NAME}.ckpt" or path.parent.name != CHECKPOINT_DIR:
        return None
    owner = path.parent.parent
    return owner.parent if owner.match(FOLD_GLOB) else owner


def latest_run(runs_dir: str | Path) -> Path | None:
    """The run under `runs_dir` whose last checkpoint (its own, or a fold's) was written last, of those
    not running now (a live run keeps its folder to itself); None when there is none."""
    from litlab.runs.status import is_live, read_status

    written: dict[Path, float] = {}
    last = f"{CHECKPOINT_DIR}/{LAST_NAME}.ckpt"
    for path in [*Path(runs_dir).glob(f"*/{last}"), *Path(runs_dir).glob(f"*/{FOLD_GLOB}/{last}")]:
        run = run_of_checkpoint(path)
        written[run] = max(written.get(run, 0.0), path.stat().st_mtime)
    candidates = [run for run in written if not is_live(read_status(run) or {})]
    return max(candidates, key=written.__getitem__) if candidates else None


def run_folder(ckpt_path: str | None, runs_dir: str) -> str:
    """A single run's folder: a new one, or the folder of the run it continues (`ckpt_path=last`: the
    latest run of this task; a run's own checkpoints/last.ckpt, or one of its folds': that run), so a
    resumed run continues its checkpoints, curves and metrics in one place. Any other checkpoint (a best
    epoch_NNN.ckpt, a file from elsewhere) starts a new folder: continuing it in place would overwrite
    the later epochs."""
    if ckpt_path == "last":
        # No earlier run: a new folder, where the task then says clearly that there is nothing to resume
        # (an error raised here would come out of Hydra's startup as a traceback).
        latest = latest_run(runs_dir)
        if latest is not None:
            return str(latest)
    elif ckpt_path:
        run = run_of_checkpoint(Path(ckpt_path).absolute())
        if run is not None:
            return str(run)
    return str(claim_new_folder(runs_dir))
