"""TensorBoard's HParams tab: what a run logs as its hyperparameters, and the experiment summary that
tells the tab which columns there are.

A run's hyperparameters are its overrides (what it, or its sweep, varied), then a short curated set
(`CURATED`: the data, net sizes, activation, dropout, optimizer and its lr and weight decay, batch size,
seed, cv), never `_target_` strings, paths or plugins. A run writes them as the HParams session of its
TensorBoard run, with its final metrics at its last step, and records them in its folder's
`hparams.yaml` (hyperparameters and the metrics the tab should show, in order).

The experiment summary (which hyperparameters and metrics are columns, which of them differ, their
values) is written once per sweep, in the sweep folder, when it ends (and in a single run's folder):
`tensorboard --logdir <sweep dir>` then shows that sweep, its varying hyperparameters marked as
differing (TensorBoard sorts them first) with their values, and its metrics in the objective's order.
TensorBoard takes the first experiment summary it finds, and which one that is over a log dir of
several sweeps is not defined (it differs between its two readers, and from the folders' order). So
each summary also lists, as not differing, the columns of every other run under the log dir, and a
new one rewrites the others with its columns: `tensorboard --logdir logs` shows every run's
hyperparameters whichever it takes (a TensorBoard already running sees new columns when restarted).
Hand-written because neither Lightning nor TensorBoard writes an experiment summary for a group of runs
(Lightning writes one per run, without value domains, and TensorBoard takes the first of them).

Light: tensorboard's protos only, no torch.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from litlab.runs.files import read_yaml
from litlab.runs.layout import named_overrides
from litlab.runtime.files import write_text_atomic

RECORD = "hparams.yaml"  # the file name Lightning's TensorBoardLogger gives a run's hyperparameters
EXPERIMENT_FILE = "events.out.tfevents.0.litlab-experiment"  # one per folder, replaced when rewritten
FINAL = "~final/"  # a final metric's tag, ~final/val/acc: after val/ in Time Series (runtime/tensorboard.py)
# What describes an experiment besides its overrides; a node (data, model.optimizer) by its class name.
CURATED = (
    "data",
    "model.net.hidden",
    "model.net.channels",
    "model.net.activation",
    "model.net.dropout",
    "model.net.linear_path",
    "model.optimizer",
    "model.optimizer.lr",
    "model.optimizer.weight_decay",
    "model.l2",
    "data.batch_size",
    "seed",
    "cv.folds",
    "cv.repeats",
)
Scalar = bool | int | float | str


def as_hparam(value: Any) -> Scalar | None:
    """A config value as the tab can show it: a node by its class name (`torch.optim.Adam` -> `Adam`,
    `litlab.data.DiabetesDataModule` -> `Diabetes`), a list as compact JSON, None left out."""
    if isinstance(value, Mapping):
        target = str(value.get("_target_", "")).rpartition(".")[2]
        return target.removesuffix("DataModule") or None
    if isinstance(value, list | tuple):
        return json.dumps(list(value), separators=(",", ":"))
    return value if isinstance(value, Scalar) else None


def run_hparams(cfg: DictConfig, overrides: Iterable[str]) -> dict[str, Scalar]:
    """The run's overrides first (resolved where the config has the key; a config group's choice as
    given), then the curated set; paths, ckpt_path, threads and hydra's own settings left out."""

    def value_of(key: str) -> Scalar | None:  # resolves only what it reads
        value = OmegaConf.select(cfg, key, default=None)
        if OmegaConf.is_list(value):
            value = OmegaConf.to_container(value, resolve=True)
        elif OmegaConf.is_dict(value):
            value = {"_target_": value.get("_target_")}
        return as_hparam(value)

    params: dict[str, Scalar | None] = {}
    for key, given in named_overrides(overrides):
        # A config group's choice (model/optimizer=sgd) as given; a value as the config resolved it.
        params[key] = given if "/" in key else value_of(key)
    for key in CURATED:
        if key not in params and not (key == "cv.repeats" and value_of("cv.folds") is None):
            params[key] = value_of(key)
    return {key: value for key, value in params.items() if value is not None}


def metric_order(cfg: DictConfig, metrics: Iterable[str]) -> list[str]:
    """The metrics the tab shows, in its order: the optimized metric, the monitored one, then test/*."""
    names = set(metrics)
    first = [cfg.get("optimized_metric"), cfg.monitor.metric]
    ordered = [m for m in dict.fromkeys(first) if m in names]
    return ordered + sorted(m for m in names if m.startswith("test/") and m not in ordered)


def plugin_summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    """A summary carrying HParams plugin data under `tag` (as tensorboard's own hparams API writes it)."""
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def session_summaries(hparams: Mapping[str, Scalar]) -> tuple[Summary, Summary]:
    """A run's session start (its hyperparameters) and end (finished) for the HParams tab."""
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in hparams.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = float(value)
        else:
            start.hparams[name].string_value = str(value)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    data = plugin_data_pb2.HParamsPluginData
    return (
        plugin_summary(metadata.SESSION_START_INFO_TAG, data(session_start_info=start)),
        plugin_summary(metadata.SESSION_END_INFO_TAG, data(session_end_info=end)),
    )


def write_record(folder: Path, hparams: Mapping[str, Scalar], metrics: list[str]) -> None:
    """The run's `hparams.yaml`: its hyperparameters and its metrics' tags, read by `experiment`."""
    record = {"hparams": dict(hparams), "metrics": [FINAL + m for m in metrics]}
    write_text_atomic(folder / RECORD, yaml.safe_dump(record, sort_keys=False))


def scan(folder: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[Path]]:
    """In one walk of `folder`: every run record below it (Lightning's own, empty hparams.yaml left
    out), in path order, and every folder that holds an experiment summary."""
    record_files, summaries = [], []
    for root, _, files in os.walk(folder):
        if RECORD in files:
            record_files.append(Path(root) / RECORD)
        if EXPERIMENT_FILE in files:
            summaries.append(Path(root))
    records = []
    for path in sorted(record_files):
        try:
            record = read_yaml(path)
        except (OSError, yaml.YAMLError):
            continue  # being replaced, or not ours
        if isinstance(record, dict) and isinstance(record.get("hparams"), dict):
            records.append((path.parent, record))
    return records, summaries


def hparam_info(name: str, values: list[Scalar]) -> api_pb2.HParamInfo:
    """A column: its type, its values (the distinct strings or booleans; a number's range) and whether
    they differ between the runs."""
    info = api_pb2.HParamInfo(name=name, differs=len({json.dumps(v) for v in values}) > 1)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        info.type = api_pb2.DATA_TYPE_FLOAT64
        info.domain_interval.min_value, info.domain_interval.max_value = min(values), max(values)
    elif all(isinstance(v, bool) for v in values):
        info.type = api_pb2.DATA_TYPE_BOOL
        info.domain_discrete.extend(sorted(set(values)))
    else:
        info.type = api_pb2.DATA_TYPE_STRING
        info.domain_discrete.extend(sorted({str(v) for v in values}))
    return info


class Columns:
    """Every run's columns under a log dir, gathered once: each hyperparameter's values in first-seen
    order, and the metrics in the records' order."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.values = columns_of(records)
        self.metrics = list(dict.fromkeys(m for record in records for m in record.get("metrics", [])))


def columns_of(records: list[dict[str, Any]]) -> dict[str, list[Scalar]]:
    values: dict[str, list[Scalar]] = {}
    for record in records:
        for name, value in record["hparams"].items():
            values.setdefault(name, []).append(value)
    return values


def experiment(records: list[dict[str, Any]], every: Columns) -> api_pb2.Experiment:
    """The experiment summary of a group of runs (`records`): their hyperparameters in first-seen order
    (the overrides come first in each record), differing or not between them, and their metrics in the
    records' order; then, as not differing, the columns of every other run (`every`) it does not have
    (no run of the group has them, so their values are all the others')."""
    values = columns_of(records)
    hparams = [hparam_info(name, v) for name, v in values.items()]
    for name, v in every.values.items():
        if name not in values:
            hparams.append(hparam_info(name, v))
            hparams[-1].differs = False  # it differs in no run of this group: the runs elsewhere have it
    metrics = dict.fromkeys([*(m for record in records for m in record.get("metrics", [])), *every.metrics])
    return api_pb2.Experiment(
        hparam_infos=hparams,
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=m)) for m in metrics],
    )


def write_experiments(folder: str | Path, log_dir: str | Path | None) -> None:
    """The experiment summary of the runs below `folder` (a sweep, or a single run), and again every
    experiment summary already under `log_dir` (when `folder` is inside it), each with the columns of
    every run there: TensorBoard shows whichever it finds first. `log_dir` is walked once, and a
    summary is rewritten only when what it says changed (a run like the others changes none of them),
    so a run's cost grows little with the runs already there."""
    folder = Path(folder).absolute()
    top = Path(log_dir).absolute() if log_dir else folder
    top = top if folder.is_relative_to(top) else folder
    records, summaries = scan(top)
    every = Columns([record for _, record in records])
    levels = {folder, *summaries}
    own: dict[Path, list[dict[str, Any]]] = {level: [] for level in levels}
    for path, record in records:  # each record to the summaries above it (or at it)
        for level in (path, *path.parents):
            if level in own:
                own[level].append(record)
            if level == top:
                break
    for level in sorted(levels):
        if own[level]:
            data = plugin_data_pb2.HParamsPluginData(experiment=experiment(own[level], every))
            summary = plugin_summary(metadata.EXPERIMENT_TAG, data)
            if summaries_in(level / EXPERIMENT_FILE) != [summary]:
                write_events(level / EXPERIMENT_FILE, [summary])


def summaries_in(path: Path) -> list[Summary]:
    """The summaries of an experiment file (none when it is missing or unreadable)."""
    from litlab.runtime.event_file import read_events

    try:
        return [event.summary for event in read_events(path) if event.HasField("summary")]
    except (OSError, ValueError):
        return []


def write_events(path: Path, summaries: list[Summary]) -> None:
    """An event file at `path`, replaced whole: TensorBoard never reads half of one."""
    from litlab.runtime.event_file import EventFile  # deferred: it imports torch

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".experiment-") as scratch:
        writer = EventFile(scratch)
        for summary in summaries:
            writer.add_event(Event(wall_time=time.time(), summary=summary))
        writer.close()
        (written,) = Path(scratch).iterdir()
        os.replace(written, path)
