"""After a multirun, in the sweep dir, best first: `summary.csv` (one row per job), `summary_configs.csv`
(one per configuration: its seed replicates grouped, compared with the best; runs/compare.py) and
`summary.md` (the configurations, then the jobs).

A Hydra callback (registered in conf/hydra/default.yaml) writes them when the sweep ends; for a sweep
still running on a cluster, or whose launching process died, run `python -m litlab.runs.summary DIR`.
Each job dir holds `.hydra/overrides.yaml` and its `status.json` (runs/status.py): ok (with
metrics.json), failed (with error.txt), interrupted (SIGINT/SIGTERM; resumable), pruned (a search trial
its pruner stopped: listed apart, with where and at what value), or still running; a
job that says running when the sweep is over, or has no status yet, is incomplete (killed, or waiting
to be requeued). Light: no torch.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from litlab.runs.compare import HOW, Config, compare, group, is_replicate
from litlab.runs.files import read_config, read_fold_metrics, read_metrics, read_yaml
from litlab.runs.layout import ERROR_FILE, METRICS_FILE, named_overrides
from litlab.runs.status import read_status
from litlab.runtime.files import write_text_atomic
from litlab.runtime.objective import MODES, metric_mode, objective_problem

log = logging.getLogger(__name__)

DIFFERENCE = "difference: it minus the best; verdict at p < 0.05"
STATUS_ORDER = {"ok": 0, "pruned": 1, "interrupted": 2, "incomplete": 3, "failed": 4}  # failed rows last
NOT_GIVEN = "(not given)"  # a swept key a job left at the config's value


@dataclass
class Job:
    """One job of a sweep, as its folder tells it."""

    name: str  # its folder relative to the sweep dir: "0", "1", ...
    status: str  # ok / pruned / interrupted / incomplete / failed
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""  # first line of error.txt: "Type: message"
    pruned: str = ""  # a pruned trial's status.json reason: where its pruner stopped it, its last value
    config: dict[str, Any] | None = None  # a finished job's resolved config.yaml (seed, data, cv), if any
    per_fold: dict[str, dict[str, float]] = field(default_factory=dict)  # a CV job's metric -> fold -> value


def read_job(folder: Path, sweep_dir: Path) -> Job:
    """A job from its folder (the one holding `.hydra/overrides.yaml`)."""
    lines = read_yaml(folder / ".hydra" / "overrides.yaml") or []
    overrides = dict(named_overrides(lines))
    job = Job(folder.relative_to(sweep_dir).as_posix(), "incomplete", overrides)
    metrics, error = folder / METRICS_FILE, folder / ERROR_FILE
    record = read_status(folder)
    if record is None:  # a folder from before status.json: its files tell
        status = "ok" if metrics.exists() else "failed" if error.exists() else None
    else:
        status = record.get("status")
    if status == "ok" and metrics.exists():
        job.status, job.metrics = "ok", read_metrics(folder)
        job.config, job.per_fold = read_config(folder), read_fold_metrics(folder)
    elif status == "failed" and error.exists():
        job.status, job.error = "failed", error.read_text().partition("\n")[0]
    elif status in ("interrupted", "pruned"):
        job.status = status
        job.pruned = record.get("reason", "") if status == "pruned" else ""
    return job


def natural_key(name: str) -> list[tuple[int, Any]]:
    """Order "2" before "10"."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def find_jobs(sweep_dir: Path) -> list[Job]:
    """Every job folder below the sweep dir, in job order."""
    folders = {p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")}
    return sorted((read_job(f, sweep_dir) for f in folders), key=lambda job: natural_key(job.name))


def rank(jobs: list[Job], metric: str | None, mode: str | None) -> list[Job]:
    """Best first by `metric` in direction `mode`; jobs without a value, incomplete, failed last."""

    def key(job: Job) -> tuple[int, int, float]:
        value = job.metrics.get(metric, math.nan) if metric else math.nan
        has_value = not math.isnan(value)
        return (
            STATUS_ORDER[job.status],
            0 if has_value else 1,
            (-value if mode == "max" else value) if has_value else 0.0,
        )

    return sorted(jobs, key=key)  # stable: ties keep job order


def columns(jobs: list[Job], metric: str | None) -> tuple[list[str], list[str]]:
    """Override keys in first-seen order; metric names, the optimized one first, then val, test, train."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    stages = {"val": 0, "test": 1, "train": 2}
    names = {m for job in jobs for m in job.metrics}
    return keys, sorted(names, key=lambda m: (m != metric, stages.get(m.partition("/")[0], 3), m))


def varying(jobs: list[Job], keys: list[str]) -> list[str]:
    """The override keys whose value differs between jobs: what the sweep is about."""
    return [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]


def short(value: str) -> str:
    """A float override such as 0.022881136684755242 as 0.02288, for reading; the CSV keeps it whole."""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}" if "." in value and len(value) > 8 else value


def to_csv(jobs: list[Job], metric: str | None) -> str:
    """Every override and every final metric, full precision."""
    keys, names = columns(jobs, metric)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    pruned = ["pruned"] if any(job.pruned for job in jobs) else []
    writer.writerow(["job", "status", *keys, *names, "error", *pruned])
    for job in jobs:
        values = [repr(job.metrics[m]) if m in job.metrics else "" for m in names]
        row = [job.name, job.status, *(job.overrides.get(k, "") for k in keys), *values, job.error]
        writer.writerow(row + ([job.pruned] if pruned else []))
    return out.getvalue()


def shown_value(overrides: dict[str, str], key: str) -> str:
    """A swept key's value in summary.md's tables: `short`, or "(not given)" where these overrides leave
    it at the config's value, as the Best line says (`assignments`); the CSVs leave the cell empty."""
    return short(overrides[key]) if key in overrides else NOT_GIVEN


def interval(summary: dict[str, Any] | None) -> str:
    """`0.762 [0.741, 0.783]`: a mean and its 95% CI; the mean alone for one run."""
    if summary is None:
        return "—"
    low, high = summary["ci95"]
    return f"{summary['mean']:.4g}" + (f" [{low:.4g}, {high:.4g}]" if summary["n"] > 1 else "")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table, `|` in a cell escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]


def configs_markdown(configs: list[Config], jobs: list[Job], metric: str, mode: str) -> list[str]:
    """summary.md's configurations: mean [95% CI] over their runs, and the comparison with the best."""
    shown = [c for c in configs if c.runs]
    if not shown:
        return []
    swept = [k for k in varying(jobs, columns(jobs, metric)[0]) if not is_replicate(k)]
    intervals = any(c.summary["n"] > 1 for c in shown)
    compared = any(c.comparison or c.reason for c in shown)
    test = f"test/{metric.partition('/')[2]}" if metric.startswith("val/") else ""
    test = test if any(c.summary_of(test) for c in shown) else ""
    ci = " [95% CI]" if intervals else ""
    header = [*swept, "n", metric + ci] + ([test + ci] if test else [])
    header += ["difference", "p", "paired on", "verdict"] if compared else []
    rows = []
    for c in shown:
        n = f"{len(c.runs)}" + (f" of {len(c.jobs)}" if len(c.jobs) > len(c.runs) else "")
        row = [*(shown_value(c.overrides, k) for k in swept), n, interval(c.summary)]
        row += [interval(c.summary_of(test))] if test else []
        if compared and c.comparison:
            row += [f"{c.comparison.difference:+.3g}", f"{c.comparison.p:.3g}", c.paired_on, c.verdict]
        elif compared:
            row += ["", c.reason, "", "not compared" if c.reason else c.verdict]
        rows.append(row)
    count = f"{len(shown)} configurations, best first by their" if len(shown) > 1 else "1 configuration, its"
    n_is = "n counts finished runs (a CV run once, with its mean over its folds)"
    ci_is = (
        "the 95% CI is Student t's over them" if intervals else "one run gives no interval (sweep seed=1,2,3)"
    )
    text = [f"{count} mean `{metric}` ({mode}); {n_is}; {ci_is}."]
    if tests := sorted({c.comparison.test for c in shown if c.comparison}):
        how = "; ".join(f"{t} {HOW.get(t, '')}".strip() for t in tests)
        text.append(f"Each is compared with the best on the splits both have ({DIFFERENCE}): {how}.")
    if any(c.reason for c in shown):
        text.append("Runs not on the same splits are not paired: the row says why.")
    lines = ["## Configurations", "", " ".join(text), "", *table(header, rows), ""]
    if rest := len(configs) - len(shown):
        rest_are = f"{rest} configuration{'s' if rest > 1 else ''}"
        lines += [
            f"Without a value of `{metric}` (not finished, or nan): {rest_are}; see the jobs below.",
            "",
        ]
    return lines


def configs_csv(configs: list[Config], jobs: list[Job], metric: str | None) -> str:
    """One row per configuration: its overrides, jobs, every metric's mean and 95% CI, the comparison."""
    keys, names = columns(jobs, metric)
    keys = [k for k in keys if not is_replicate(k)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    stats = [f"{m}{part}" for m in names for part in ("", " ci95 low", " ci95 high")]
    comparison = ["difference", "t", "dof", "p", "test"]
    writer.writerow([*keys, "jobs", "n", *stats, *comparison, "paired on", "verdict", "reason"])
    for c in configs:
        row = [
            *(c.overrides.get(k, "") for k in keys),
            " ".join(sorted((j.name for j in c.jobs), key=natural_key)),
            len(c.runs),
        ]
        for s in map(c.summary_of, names):
            ci = [repr(float(v)) for v in s["ci95"]] if s and s["n"] > 1 else ["", ""]
            row += [repr(s["mean"]) if s else "", *ci]
        row += [getattr(c.comparison, k) for k in comparison] if c.comparison else [""] * len(comparison)
        writer.writerow([*row, c.paired_on, c.verdict, c.reason])
    return out.getvalue()


def to_markdown(
    jobs: list[Job],
    metric: str | None,
    mode: str | None,
    sweep_dir: Path,
    configs: list[Config] | None = None,
    best: list[str] | None = None,
) -> str:
    """The configurations (when there is a metric), then every job: the overrides that differ between
    jobs and the held-out metrics (train/* stay in the CSV)."""
    keys, names = columns(jobs, metric)
    swept = varying(jobs, keys)
    common = [f"`{k}={jobs[0].overrides[k]}`" for k in keys if k not in swept]
    names = [m for m in names if m == metric or not m.startswith("train/")]
    counts = status_counts(jobs)
    order = f"best first by `{metric}` ({mode})" if metric else "in job order"
    lines = [f"# Sweep summary: `{sweep_dir}`", "", f"{len(jobs)} jobs ({counts}), {order}.", ""]
    lines += [text for line in best or [] for text in (line, "")]
    if common:
        lines += [f"Every job: {' '.join(common)}", ""]
    if metric and mode and configs:
        lines += configs_markdown(configs, jobs, metric, mode)
        lines += ["## Jobs", ""]
    header = ["job", "status", *swept, *names] + (["error"] if any(j.error for j in jobs) else [])
    rows = []
    for job in (j for j in jobs if j.status != "pruned"):
        cells = [job.name, job.status, *(shown_value(job.overrides, k) for k in swept)]
        cells += [f"{job.metrics[m]:.4g}" if m in job.metrics else "" for m in names]
        rows.append(cells + ([job.error] if "error" in header else []))
    return "\n".join(lines + table(header, rows) + pruned_markdown(jobs, swept)) + "\n"


def pruned_markdown(jobs: list[Job], swept: list[str]) -> list[str]:
    """summary.md's pruned trials, apart from the jobs: stopped before their test, so with no metrics."""
    pruned = [job for job in jobs if job.status == "pruned"]
    if not pruned:
        return []
    text = (
        f"{len(pruned)} trial{'s' if len(pruned) > 1 else ''} stopped by the search's pruner, in job order: "
        "no test, so no metrics; the study keeps the last value each reported (optimization_results.yaml), "
        "TensorBoard their curves up to there."
    )
    rows = [[j.name, *(shown_value(j.overrides, k) for k in swept), j.pruned] for j in pruned]
    rows.sort(key=lambda row: natural_key(row[0]))
    return ["", "## Pruned trials", "", text, "", *table(["job", *swept, "pruned"], rows)]


def status_counts(jobs: list[Job]) -> str:
    """`4 ok, 0 interrupted, 1 incomplete, 1 failed` (pruned too, when a search pruned any)."""
    shown = [s for s in STATUS_ORDER if s != "pruned" or any(j.status == s for j in jobs)]
    return ", ".join(f"{sum(j.status == s for j in jobs)} {s}" for s in shown)


def assignments(overrides: dict[str, str], keys: list[str]) -> str:
    """`key=value` for each key, `key (not given)` where these overrides leave it at the config's value."""
    return " ".join(f"{k}={overrides[k]}" if k in overrides else f"{k} {NOT_GIVEN}" for k in keys)


def best_lines(
    jobs: list[Job], configs: list[Config], metric: str | None, mode: str | None, monitor: str | None
) -> list[str]:
    """The best by the objective, as summary.md puts it first (the best configuration's mean when seeds
    were replicated, else the best job); when checkpoints and early stopping went by another metric,
    the job that one ranks first too, and why the two may differ."""
    if not (metric and mode and jobs and metric in jobs[0].metrics):
        return []
    swept = varying(jobs, columns(jobs, metric)[0])
    top = next((c for c in configs if c.runs), None)
    if top is not None and any(len(c.runs) > 1 for c in configs):
        what = (
            assignments(top.overrides, [k for k in swept if not is_replicate(k)]) or "the one configuration"
        )
        runs = ", ".join(sorted((j.name for j in top.runs), key=natural_key))
        line = f"Best: {what}, mean {metric}={interval(top.summary)} ({mode}) over jobs {runs}"
    else:
        params = assignments(jobs[0].overrides, swept)
        line = f"Best: job {jobs[0].name}, {metric}={jobs[0].metrics[metric]:.4g} ({mode}) {params}".rstrip()
    lines = [line + ", by `optimized_metric`."]
    if monitor and monitor != metric:
        first = rank(jobs, monitor, metric_mode(monitor))[0]
        by_monitor = (
            f"{first.name} ({monitor}={first.metrics[monitor]:.4g})" if monitor in first.metrics else "none"
        )
        lines.append(
            f"Each job's checkpoint and early stopping went by `monitor.metric` {monitor}, which picks the "
            f"epoch within a run; the sweep ranks the runs by `optimized_metric` {metric}, another metric, "
            f"so the two may disagree. The first job by {monitor}: {by_monitor}. For one criterion, "
            "give optimized_metric=${monitor.metric}."
        )
    return lines


def write_summary(
    sweep_dir: Path,
    metric: str | None,
    mode: str | None,
    log_dir: str | Path | None = None,
    monitor: str | None = None,
) -> list[Job]:
    """Write summary.csv and summary.md, and the sweep's HParams experiment summary (rewriting the others
    under `log_dir` with its columns: runtime/hparams.py); return the jobs, best first."""
    from litlab.runtime.hparams import write_experiments

    problem = objective_problem(metric, mode)
    if problem:  # the jobs are done: list them anyway, in job order
        log.error("%s. The sweep summary lists the jobs in job order.", problem)
        metric = mode = None
    jobs = rank(find_jobs(sweep_dir), metric, mode)
    configs = group(jobs, metric, mode) if metric and mode else []
    compare(configs, metric, mode)
    write_text_atomic(sweep_dir / "summary.csv", to_csv(jobs, metric))
    write_text_atomic(sweep_dir / "summary_configs.csv", configs_csv(configs, jobs, metric))
    best = best_lines(jobs, configs, metric, mode, monitor)
    write_text_atomic(sweep_dir / "summary.md", to_markdown(jobs, metric, mode, sweep_dir, configs, best))
    write_experiments(sweep_dir, log_dir)
    counts = status_counts(jobs)
    log.info("Sweep summary (%d jobs: %s): %s and summary.md", len(jobs), counts, sweep_dir / "summary.csv")
    for line in best:
        log.info(line)
    return jobs


class SweepSummary(Callback):
    """Hydra callback: checks the objective before a multirun and writes the summary after it."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Said now rather than when the sweep is over. (Hydra turns a callback's exception into a
        # warning, so raising would not stop the sweep; an Optuna search stops: it needs the direction.)
        problem = objective_problem(config.get("optimized_metric"), config.get("optimized_metric_mode"))
        if problem:
            log.error(problem)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        metric, mode = config.get("optimized_metric"), config.get("optimized_metric_mode")
        log_dir, monitor = (
            OmegaConf.select(config, k, default=None) for k in ("paths.log_dir", "monitor.metric")
        )
        write_summary(sweep_dir, metric, mode, log_dir, monitor)


def main(argv: list[str] | None = None) -> None:
    """`python -m litlab.runs.summary SWEEP_DIR`: (re)write the summary of a sweep, finished or not."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--metric", help="default: optimized_metric of the sweep's jobs")
    parser.add_argument("--mode", choices=MODES, help="default: optimized_metric_mode of the sweep's jobs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if (args.sweep_dir / ".hydra").is_dir():  # a run's or a sweep job's own folder
        parser.error(
            f"{args.sweep_dir} is a run folder (it has .hydra/), not a sweep's: give the sweep folder that "
            "holds its jobs, e.g. logs/<task_name>/multiruns/<time>"
        )
    configs = sorted(args.sweep_dir.glob("**/.hydra/config.yaml"))
    if not configs:
        parser.error(f"no job folders (with .hydra/config.yaml) below {args.sweep_dir}")
    job_cfg = OmegaConf.load(configs[0])
    metric = args.metric or job_cfg.get("optimized_metric")
    log_dir, monitor = (
        OmegaConf.select(job_cfg, k, default=None) for k in ("paths.log_dir", "monitor.metric")
    )
    write_summary(args.sweep_dir, metric, args.mode or job_cfg.get("optimized_metric_mode"), log_dir, monitor)


if __name__ == "__main__":
    main()
