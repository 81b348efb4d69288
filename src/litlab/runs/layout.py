"""A run folder's names, and how a run gets its folder: a new one of its own, or the one it resumes.

    <runs dir>/<YYYY-MM-DD_HH-MM-SS-mmm>/   a single run (a sweep: <sweep dir>/<job number>_<swept values>/,
                                            e.g. 0_lr=0.003,seed=1: `job_folder_name`; a search's sweep
                                            dir is its study's, searches/<study_name>: `sweep_folder`)
        status.json       how the run ended (runs/status.py), written first and last
        metrics.json      final metrics of a finished run
        config.yaml       the resolved config, sizes from the data included
        error.txt         the traceback of a failed run
        checkpoints/      epoch_NNN.ckpt (best by the monitor) and last.ckpt (every epoch)
        events.out.tfevents.*   TensorBoard's: the folder is the run TensorBoard shows
        hparams.yaml      its hyperparameters and metrics for the HParams tab (runtime/hparams.py)
        fold_<r>_<k>/     a cross-validation run's folds, each laid out as a run; the run folder then
                          also holds oof_predictions.csv (runs/folds.py)

Light: no torch. Hydra asks for the folder (conf/hydra/default.yaml) before the task starts, since its
log file goes there; the task then finds it as `paths.output_dir`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
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


def best_epoch(checkpoint: str | Path | None) -> int | None:
    """The epoch (counted from 0, as Lightning counts) of a best checkpoint, read from its name
    (BEST_NAME); None for another file or none."""
    if checkpoint is None:
        return None
    pattern = BEST_NAME.replace("{epoch:03d}", r"(\d+)") + r"(-v\d+)?\.ckpt"  # -vN: Lightning's versions
    match = re.fullmatch(pattern, Path(checkpoint).name)
    return int(match.group(1)) if match else None


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
    """A cross-validation run's fold folders in fold order, fold_0_2 before fold_0_10 (none for a
    single run)."""
    folds = [p for p in Path(run_dir).glob(FOLD_GLOB) if p.is_dir()]
    return sorted(folds, key=lambda p: [int(n) if n.isdigit() else -1 for n in p.name.split("_")[1:]])


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


def sweep_folder(task_dir: str, study_name: str | None) -> str:
    """A sweep's folder: a search's own, `<task dir>/searches/<study_name>` (the same command again finds
    it, and its study resumes), or else a new one under `<task dir>/multiruns/`."""
    if study_name:
        return str(Path(task_dir) / "searches" / SAFE.sub("-", str(study_name)))
    return str(claim_new_folder(Path(task_dir) / "multiruns"))


# Overrides that say where or how a job runs, not what it is: never in its folder's name (a resumed job,
# ckpt_path=last, must find the folder it started in).
NOT_NAMED = ("ckpt_path", "threads", "paths")
MULTIRUN_FILE = "multirun.yaml"  # Hydra's basic sweeper writes the sweep's config there before any job
SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
LONGEST_VALUE = 16


def swept_keys(sweep_dir: str | Path, params: Mapping[str, object] | None) -> set[str] | None:
    """The keys a sweep varies: its command line's sweep overrides (`lr=0.1,0.01`, `range(...)`, from
    multirun.yaml) and a sweeper's `params` (Optuna's search space); None when neither is known."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from litlab.runs.files import read_yaml

    keys = set(params or {})
    multirun = Path(sweep_dir) / MULTIRUN_FILE
    if not multirun.is_file():
        return keys or None
    hydra = read_yaml(multirun).get("hydra") or {}
    task = (hydra.get("overrides") or {}).get("task") or []
    for override in OverridesParser.create().parse_overrides(list(task)):
        if override.is_sweep_override():
            keys.add(override.get_key_element().lstrip("+~"))
    keys.update((hydra.get("sweeper") or {}).get("params") or {})
    return keys


def short_value(value: str) -> str:
    """A value as a folder name may hold it: unsafe characters gone (`[64,32]` -> `64-32`), a long float
    to 4 significant digits, any other long value cut and told apart by a hash of the whole."""
    text = SAFE.sub("-", value.replace(",", "-").strip("[]()'\" ")).strip("-") or "-"
    if len(text) <= LONGEST_VALUE:
        return text
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return f"{text[:8]}~{hashlib.sha1(value.encode()).hexdigest()[:6]}"


def named_overrides(overrides: Iterable[str], swept: set[str] | None = None) -> list[tuple[str, str]]:
    """A run's overrides as (key, value), in their order: `+`/`~` dropped from the key, the first of a
    repeated key kept, those of NOT_NAMED and Hydra's own left out, and with `swept` given only its keys.
    The one parser of override strings for folder names, figure titles and HParams."""
    pairs: dict[str, str] = {}
    for override in overrides:
        key, _, value = str(override).partition("=")
        key = key.lstrip("+~")
        named = swept is None or key in swept
        if named and key.split(".")[0] not in NOT_NAMED and not key.startswith("hydra"):
            pairs.setdefault(key, value)
    return list(pairs.items())


def short_keys(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each (key, value) by the key's last part (`model.optimizer.lr` -> `lr`) unless two keys share it."""
    lasts = [re.split(r"[./]", key)[-1] for key, _ in pairs]
    return [(last if lasts.count(last) == 1 else key, v) for last, (key, v) in zip(lasts, pairs, strict=True)]


def job_folder_name(num: int, overrides: Iterable[str], swept: set[str] | None) -> str:
    """A sweep job's folder: its number, then its values of the swept keys (`0_lr=0.003,seed=1`), each
    key by its last part unless two swept keys share it. The same overrides give the same name (a sweep
    rerun into its folder with ckpt_path=last continues its jobs); the number keeps names apart where
    shortened values coincide. Without a known sweep (a sweeper that says nothing), every override is
    named but those of NOT_NAMED."""
    named = [
        f"{SAFE.sub('-', key)}={short_value(value)}"
        for key, value in short_keys(named_overrides(overrides, swept))
    ]
    return "_".join([str(num), ",".join(sorted(named))]) if named else str(num)


def written(run_dir: Path) -> str:
    """What a run folder holds, for the console's `Run dir:` line: its files and folders by name (event
    files as one `TensorBoard events`, Hydra's .hydra/ and the log left out), e.g. `checkpoints/,
    config.yaml, metrics.json, status.json, TensorBoard events`."""
    names, events = [], False
    for entry in sorted(Path(run_dir).iterdir()):
        if entry.name.startswith("events.out.tfevents."):
            events = True
        elif not entry.name.startswith(".") and entry.suffix != ".log":
            names.append(entry.name + ("/" if entry.is_dir() else ""))
    return ", ".join(names + (["TensorBoard events"] if events else []))


def run_title(task_name: str, overrides: Iterable[str], swept: set[str] | None) -> str:
    """A run's title for its figures and reports: the experiment and the values the run (or, with
    `swept`, its sweep) varied, `diabetes: lr=0.003, seed=1`. The experiment or task_name that the title
    starts with goes without saying, and a file path (`data.path=/data/patients.csv`) is no setting."""

    def says_something(key: str, value: str) -> bool:
        is_path = key.rsplit(".", 1)[-1].endswith(("path", "dir"))  # data.path, data.data_dir
        return not (key in ("experiment", "task_name") and value == task_name) and not is_path

    pairs = [(k, v) for k, v in named_overrides(overrides, swept) if says_something(k, v)]
    values = ", ".join(sorted(f"{key}={value}" for key, value in short_keys(pairs)))
    return f"{task_name}: {values}" if values else task_name
