"""A search's Optuna study: where it is stored, its sampler and pruner by name, opening it (new, or resumed
with the same direction and search space), the trials a dead search left running, and its results.

The sweeper (hydra_plugins/litlab_optuna_sweeper) and every trial process (runs/trial.py) open the
study through these functions, so both find the same storage and build the same pruner (Optuna keeps
neither the sampler nor the pruner in storage). Light: optuna is imported when a study is opened.

    <sweep dir> = logs/<task_name>/searches/<study_name>/
        study.journal               the study (Optuna's journal file: safe for many processes, no server)
        <trial number>_<values>/    each trial's run folder
        optimization_results.yaml   the best trial, and the trials by how they ended
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
from pathlib import Path
from typing import Any

from litlab.runs.status import is_live

log = logging.getLogger(__name__)

JOURNAL_FILE = "study.journal"
RESULTS_FILE = "optimization_results.yaml"
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "gp": "GPSampler", "qmc": "QMCSampler"}
PRUNERS = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
# Trial attributes litlab keeps in the study.
FIXED_ATTR = "litlab:trial_config"  # the study's: what every trial got as it is, to refuse a change
SPACE_ATTR = "litlab:search_space"  # the study's: its search space as written, to refuse a changed one
OWNER_ATTR = "litlab:sweeper"  # a trial's: host and pid of the search that asked for it
CUT_OFF_ATTR = "litlab:cut_off"  # a trial's: its search died while it ran; its slot was sampled again


def storage_url(storage: str | None, sweep_dir: str | Path) -> str:
    """The study's storage: a database URL as given (sqlite:///..., postgresql://...), a journal file's
    path as given, or by default the journal file in the sweep dir."""
    return str(storage) if storage else str(Path(sweep_dir) / JOURNAL_FILE)


def open_storage(url: str) -> Any:
    """The Optuna storage behind `url`, refused with the fix when it cannot be written."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    what = f"hydra.sweeper.storage={url}"
    if "://" in url:
        if url.startswith("sqlite:///"):
            check_writable(Path(url.removeprefix("sqlite:///")), what)
        return optuna.storages.RDBStorage(url)
    check_writable(Path(url), what)
    return JournalStorage(JournalFileBackend(url))


def check_writable(path: Path, what: str) -> None:
    """Create the file's folder and open the file for appending, or say why that cannot be done."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as error:
        raise ValueError(
            f"{what}: the study cannot be written there ({type(error).__name__}: {error.strerror or error}); "
            "give a writable file path (a journal file), a database URL such as sqlite:////abs/path.db or "
            "postgresql://user@host/db, or null for <sweep dir>/study.journal"
        ) from error


def by_name(kind: str, names: dict[str, str], name: str, args: dict[str, Any], **given: Any) -> Any:
    """An Optuna sampler or pruner from its litlab name and its arguments (`args`: each one's by name;
    `given`: passed when it takes them, the seed), checked."""
    import optuna

    option = f"hydra.sweeper.{kind}"
    if name not in names:
        raise ValueError(f"{option}={name!r} is not one litlab knows; pick one of {', '.join(names)}")
    strangers = sorted(set(args or {}) - set(names))
    if strangers:
        raise ValueError(
            f"{option}_args.{strangers[0]}: {option}_args holds each {kind}'s arguments by its name "
            f"({', '.join(names)}), e.g. {option}_args.{next(iter(names.keys() - {'none'}))}.<argument>=..."
        )
    args = dict((args or {}).get(name) or {})
    cls = getattr(getattr(optuna, f"{kind}s"), names[name])
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "constraints_func")]
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise ValueError(
            f"{option}_args.{name}.{unknown[0]}: {name} ({cls.__name__}) takes no argument {unknown[0]!r}; "
            f"it takes {', '.join(accepted) or 'none'}"
        )
    args.update({k: v for k, v in given.items() if k in accepted})
    return cls(**args)


def make_sampler(name: str, seed: int | None, args: dict[str, Any]) -> Any:
    """The sampler `name` (tpe, random, gp, qmc), seeded."""
    return by_name("sampler", SAMPLERS, name, args, seed=seed)


def make_pruner(name: str, args: dict[str, Any]) -> Any:
    """The pruner `name` (median, successive_halving, hyperband, none) with its arguments."""
    return by_name("pruner", PRUNERS, name, args)


def open_study(
    name: str,
    storage: Any,
    direction: str,
    space: dict[str, str],
    sampler: Any = None,
    pruner: Any = None,
    fixed: dict[str, Any] | None = None,
) -> Any:
    """The study `name` in `storage`: created, or loaded when it exists (a resume), refused when it was
    made with the other direction, another search space (`space`: key -> grammar as written) or other
    fixed settings (`fixed`: `trial_config`, what every trial gets as it is)."""
    import optuna

    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}.get(name)
    if existing is not None:
        stored = existing.direction.name.lower()
        if stored != direction:
            raise ValueError(
                f"study {name!r} exists in {storage_where(storage)} and was made to {stored}; this search "
                f"would {direction} (optimized_metric_mode). Give another hydra.sweeper.study_name, or "
                "the optimized_metric the study was made with"
            )
        check_same_space(name, existing.user_attrs.get(SPACE_ATTR), space)
        check_same_fixed(name, existing.user_attrs.get(FIXED_ATTR), fixed or {})
    study = optuna.create_study(
        study_name=name, storage=storage, direction=direction, sampler=sampler, pruner=pruner,
        load_if_exists=True,
    )  # fmt: skip
    if existing is None:
        study.set_user_attr(SPACE_ATTR, space)
        study.set_user_attr(FIXED_ATTR, fixed or {})
    return study


# What says how or where a trial runs, not what it computes: these may change when a study resumes.
HOW_KEYS = ("hydra", "paths", "threads", "verbose", "title", "logger", "ckpt_path")
ABSENT = object()  # a key one side of a comparison does not have


def trial_config(config: Any, searched: Any = ()) -> dict[str, Any]:
    """What every trial of a search gets as it is: the composed config's values by dotted key (as
    written: interpolations unresolved) and its config groups' choices by group (`experiment`,
    `trainer`), less HOW_KEYS and the `searched` keys. How a value was typed (`++key`, `5.0` or `5`, the
    default written out or left) does not change it."""
    from omegaconf import OmegaConf

    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    values = {str(g): c for g, c in choices.items() if str(g).split("/")[0] not in HOW_KEYS}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, child in node.items():
                walk(child, f"{prefix}{key}.")
        else:
            values[prefix[:-1]] = node

    for key, child in OmegaConf.to_container(config, resolve=False).items():
        if key not in HOW_KEYS:
            walk(child, f"{key}.")
    skipped = {str(k).lstrip("+~") for k in searched}
    inside = tuple(f"{k}." for k in skipped)  # a searched key's own keys, when its value is a node
    return {k: v for k, v in values.items() if k not in skipped and not k.startswith(inside)}


def first_change(stored: dict[str, Any], now: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first key whose value differs, in the stored order (then the new keys), with its value
    before and now (ABSENT where a side lacks it); None when nothing changed."""
    for key in [*stored, *(k for k in now if k not in stored)]:
        before, after = stored.get(key, ABSENT), now.get(key, ABSENT)
        if before != after:
            return key, before, after
    return None


def check_same_fixed(name: str, stored: dict[str, Any] | None, now: dict[str, Any]) -> None:
    """A resumed study's new trials must be trained as its first ones were, or the study would rank
    trials of two budgets (trainer.max_epochs=5 beside 200 epochs) together."""
    change = first_change(stored, now) if stored is not None else None  # None: a study from before
    if change:
        key, before, after = change
        was = f"{key}={before}" if before is not ABSENT else f"no {key}"
        is_now = f"{key}={after}" if after is not ABSENT else f"no {key}"
        raise ValueError(
            f"study {name!r}: its trials ran with {was}, this command's would get {is_now}; its old "
            "and new trials would be ranked together. Resume with the settings it was made with, or "
            "give a new hydra.sweeper.study_name"
        )


def check_same_space(name: str, stored: dict[str, str] | None, space: dict[str, str]) -> None:
    """A resumed study must search what it searched: its trials would otherwise mislead the sampler."""
    change = first_change(stored, space) if stored is not None else None
    if change:
        key, before, now = change
        was = f"it was {before}" if before is not ABSENT else "it was not searched"
        is_now = f"now {now}" if now is not ABSENT else "now it is not searched"
        raise ValueError(
            f"study {name!r}: its search space changed at {key} ({was}, {is_now}). Resume with the "
            "search space it was made with, or give a new hydra.sweeper.study_name for the new one"
        )


def storage_where(storage: Any) -> str:
    """Where a storage keeps its study, for messages."""
    backend = getattr(storage, "_backend", None)
    return str(getattr(backend, "_file_path", None) or getattr(storage, "url", None) or storage)


def owner() -> dict[str, Any]:
    """This search process, as status.json names a run's process (runs/status.is_live reads both)."""
    return {"status": "running", "host": socket.gethostname(), "pid": os.getpid()}


def cut_off_stale_trials(
    study: Any, sweep_dir: Path | None = None, metric: str | None = None
) -> tuple[list[int], list[int]]:
    """Trials left running by a search that is gone (SIGKILL, a lost node); a live search's trials are
    left to it. One whose job had finished (its folder in `sweep_dir` says ok: the search died between
    the job's end and telling the study) is told its `metric` from its metrics.json, as the search
    would have told it; the others are marked failed and cut off, so their slots are sampled again.
    Returns (the cut off, the told)."""
    from optuna.trial import TrialState

    stale = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not is_live(t.user_attrs.get(OWNER_ATTR) or {})
    ]  # fmt: skip
    cut, told = [], []
    for trial in stale:
        value = finished_value(sweep_dir, trial.number, metric)
        if value is not None:
            study.tell(trial.number, value, skip_if_finished=True)
            told.append(trial.number)
            continue
        study._storage.set_trial_user_attr(trial._trial_id, CUT_OFF_ATTR, True)
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        cut.append(trial.number)
    return cut, told


def finished_value(sweep_dir: Path | None, number: int, metric: str | None) -> float | None:
    """Trial `number`'s `metric` from its job folder (`<number>_<values>`, or `<number>`) when that job
    finished (status ok) with a finite value of it; None otherwise."""
    import json
    import math

    from litlab.runs.layout import METRICS_FILE
    from litlab.runs.status import read_status

    if sweep_dir is None or not metric:
        return None
    for folder in [*Path(sweep_dir).glob(f"{number}_*"), Path(sweep_dir) / str(number)]:
        if (read_status(folder) or {}).get("status") != "ok":
            continue
        try:
            value = float(json.loads((folder / METRICS_FILE).read_text())[metric])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return value if math.isfinite(value) else None
    return None


def counted(study: Any) -> int:
    """Trials that count towards n_trials: all but those cut off by their search's death."""
    return sum(1 for t in study.get_trials(deepcopy=False) if not cut_off(t))


def results(study: Any, storage: str) -> dict[str, Any]:
    """optimization_results.yaml: the best trial, then the trials by how they ended."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    ended = {
        "complete": [t.number for t in trials if t.state == TrialState.COMPLETE],
        "pruned": [t.number for t in trials if t.state == TrialState.PRUNED],
        "failed": [t.number for t in trials if t.state == TrialState.FAIL and not cut_off(t)],
        "cut_off": [t.number for t in trials if cut_off(t)],
    }
    out: dict[str, Any] = {"name": "litlab_optuna", "study_name": study.study_name, "storage": storage}
    out["direction"] = study.direction.name.lower()
    if ended["complete"]:
        best = study.best_trial
        out.update(best_trial=best.number, best_value=best.value, best_params=best.params)
    out["n_trials"] = {k: len(v) for k, v in ended.items()}
    out["trials"] = ended
    out["pruned"] = [
        {"trial": t.number, "step": t.last_step, "value": t.intermediate_values[t.last_step]}
        for t in trials if t.state == TrialState.PRUNED and t.last_step is not None
    ]  # fmt: skip
    return out


def cut_off(trial: Any) -> bool:
    """Whether a trial was cut off by its search's death (and its slot sampled again)."""
    return bool(trial.user_attrs.get(CUT_OFF_ATTR))
