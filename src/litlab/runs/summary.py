"""After a multirun: `summary.csv` and `summary.md` in the sweep dir, one row per job, best first.

A Hydra callback (registered in conf/hydra/default.yaml) writes them when the sweep ends; for a sweep
still running on a cluster, or whose launching process died, run `python -m litlab.runs.summary DIR`.
Each job dir holds `.hydra/overrides.yaml` and its `status.json` (runs/status.py): ok (with
metrics.json), failed (with error.txt), interrupted (SIGINT/SIGTERM; resumable), or still running; a
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

from litlab.runs.files import read_metrics
from litlab.runs.layout import ERROR_FILE, METRICS_FILE
from litlab.runs.status import read_status
from litlab.runtime.files import write_text_atomic
from litlab.runtime.objective import MODES, objective_problem

log = logging.getLogger(__name__)

STATUS_ORDER = {"ok": 0, "interrupted": 1, "incomplete": 2, "failed": 3}  # failed rows last


@dataclass
class Job:
    """One job of a sweep, as its folder tells it."""

    name: str  # its folder relative to the sweep dir: "0", "1", ...
    status: str  # ok / interrupted / incomplete / failed
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""  # first line of error.txt: "Type: message"


def read_job(folder: Path, sweep_dir: Path) -> Job:
    """A job from its folder (the one holding `.hydra/overrides.yaml`)."""
    overrides = {}
    for line in OmegaConf.to_container(OmegaConf.load(folder / ".hydra" / "overrides.yaml")) or []:
        key, _, value = str(line).partition("=")
        overrides[key.lstrip("+~")] = value
    job = Job(folder.relative_to(sweep_dir).as_posix(), "incomplete", overrides)
    metrics, error = folder / METRICS_FILE, folder / ERROR_FILE
    record = read_status(folder)
    if record is None:  # a folder from before status.json: its files tell
        status = "ok" if metrics.exists() else "failed" if error.exists() else None
    else:
        status = record.get("status")
    if status == "ok" and metrics.exists():
        job.status, job.metrics = "ok", read_metrics(folder)
    elif status == "failed" and error.exists():
        job.status, job.error = "failed", error.read_text().partition("\n")[0]
    elif status == "interrupted":
        job.status = "interrupted"
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
    writer.writerow(["job", "status", *keys, *names, "error"])
    for job in jobs:
        values = [repr(job.metrics[m]) if m in job.metrics else "" for m in names]
        writer.writerow([job.name, job.status, *(job.overrides.get(k, "") for k in keys), *values, job.error])
    return out.getvalue()


def to_markdown(jobs: list[Job], metric: str | None, mode: str | None, sweep_dir: Path) -> str:
    """The overrides that differ between jobs and the held-out metrics (train/* stay in the CSV)."""
    keys, names = columns(jobs, metric)
    swept = varying(jobs, keys)
    common = [f"`{k}={jobs[0].overrides[k]}`" for k in keys if k not in swept]
    names = [m for m in names if m == metric or not m.startswith("train/")]
    counts = ", ".join(f"{sum(j.status == s for j in jobs)} {s}" for s in STATUS_ORDER)
    order = f"best first by `{metric}` ({mode})" if metric else "in job order"
    lines = [f"# Sweep summary: `{sweep_dir}`", "", f"{len(jobs)} jobs ({counts}), {order}.", ""]
    if common:
        lines += [f"Every job: {' '.join(common)}", ""]
    header = ["job", "status", *swept, *names] + (["error"] if any(j.error for j in jobs) else [])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for job in jobs:
        cells = [job.name, job.status, *(short(job.overrides.get(k, "")) for k in swept)]
        cells += [f"{job.metrics[m]:.4g}" if m in job.metrics else "" for m in names]
        cells += [job.error] if "error" in header else []
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary(sweep_dir: Path, metric: str | None, mode: str | None) -> list[Job]:
    """Write summary.csv and summary.md; return the jobs, best first."""
    problem = objective_problem(metric, mode)
    if problem:  # the jobs are done: list them anyway, in job order
        log.error("%s. The sweep summary lists the jobs in job order.", problem)
        metric = mode = None
    jobs = rank(find_jobs(sweep_dir), metric, mode)
    write_text_atomic(sweep_dir / "summary.csv", to_csv(jobs, metric))
    write_text_atomic(sweep_dir / "summary.md", to_markdown(jobs, metric, mode, sweep_dir))
    counts = ", ".join(f"{sum(j.status == s for j in jobs)} {s}" for s in STATUS_ORDER)
    log.info("Sweep summary (%d jobs: %s): %s and summary.md", len(jobs), counts, sweep_dir / "summary.csv")
    best = jobs[0] if jobs and metric in jobs[0].metrics else None
    if best:
        params = " ".join(f"{k}={best.overrides.get(k, '')}" for k in varying(jobs, columns(jobs, metric)[0]))
        log.info("Best: job %s, %s=%.4g, %s", best.name, metric, best.metrics[metric], params)
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
        write_summary(sweep_dir, config.get("optimized_metric"), config.get("optimized_metric_mode"))


def main(argv: list[str] | None = None) -> None:
    """`python -m litlab.runs.summary SWEEP_DIR`: (re)write the summary of a sweep, finished or not."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--metric", help="default: optimized_metric of the sweep's jobs")
    parser.add_argument("--mode", choices=MODES, help="default: optimized_metric_mode of the sweep's jobs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    configs = sorted(args.sweep_dir.glob("**/.hydra/config.yaml"))
    if not configs:
        parser.error(f"no job folders (with .hydra/config.yaml) below {args.sweep_dir}")
    job_cfg = OmegaConf.load(configs[0])
    metric = args.metric or job_cfg.get("optimized_metric")
    write_summary(args.sweep_dir, metric, args.mode or job_cfg.get("optimized_metric_mode"))


if __name__ == "__main__":
    main()
