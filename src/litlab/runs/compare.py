"""Statistics across the jobs of a sweep: its configurations, their mean ± 95% CI, and each compared with
the best one, paired by split.

- A configuration is a job's overrides less its replicate keys: `seed`, `data.seed`, and a key whose last
  part is `fold` or `repeat` (an index a data module of one's own may take, `data.fold=0,1,2`). Jobs that
  differ only in those are runs of one configuration. `cv.folds` and `cv.repeats` belong to it: they
  choose the protocol, and a CV run holds its folds and repeats itself.
- Mean ± 95% CI: over a configuration's finished runs, each counting once with its value of the metric
  (a CV run: its mean over its folds), so n counts runs; Student t, n - 1 dof (litlab.runs.stats.summarize).
  One run gives no interval.
- Comparison with the best configuration (the best mean of the sweep's optimized metric, in its mode),
  difference = configuration - best, on the splits both have:
  single-split runs with the same data settings and seed have the same rows; they pair by seed and the
  paired t-test runs over those seeds. CV runs with the same data and cv settings and seed have the same
  folds (scikit-learn's splitters, random_state=seed); they pair fold by fold over (seed, fold) and the
  corrected resampled t-test of Nadeau & Bengio (2003) runs over those J pairs with n_test / n_train =
  1 / (k - 1): a fold tests on 1/k of the rows and trains on the rest, its validation part being carved
  from that training part. (A val/* metric is scored on that validation part, whose ratio, val_fraction /
  (1 - val_fraction), is smaller: there the test errs on the cautious side.)
- Runs not on the same splits are not paired, and the row says why instead of a p-value: a CV
  configuration against a single-split one, other cv.folds or cv.repeats, other data settings (any data
  key but those that only batch, place or transform the rows: NOT_ROWS), no seed in common, folds swept
  as jobs (their n_test / n_train is not known here), a job without its config.yaml.
- Verdict: better / tie / worse at p < 0.05 (litlab.runs.stats.verdict).

The tests and intervals are litlab.runs.stats' (scipy.stats distributions); what is written here is only which
values pair with which. Light: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litlab.runs.stats import Comparison, corrected_resampled_ttest, paired_ttest, summarize, verdict

if TYPE_CHECKING:
    from litlab.runs.summary import Job

SEED_KEYS = ("seed", "data.seed")
INDEX_KEYS = ("fold", "repeat")  # the last part of a swept index: data.fold=0,1,2 or +repeat=1,2,3
# Data settings that batch, place or transform the rows without choosing them (data.seed: the label).
NOT_ROWS = frozenset(
    {"seed", "batch_size", "data_dir", "standardize", "log_transform", "augment", "crop_padding"}
)

Label = tuple[tuple[str, Any], ...]
# How each of litlab.runs.stats' tests pairs the runs, for summary.md.
HOW = {
    "corrected resampled t-test (Nadeau & Bengio)": (
        "of CV runs, fold by fold over (seed, fold), with n_test / n_train = 1 / (k - 1) (each fold's "
        "validation part is carved from its training part)"
    ),
    "paired t-test": "of single-split runs, seed by seed",
}


def is_replicate(key: str) -> bool:
    """Whether an override key tells runs of one configuration apart rather than configurations."""
    return key in SEED_KEYS or key.rsplit(".", 1)[-1] in INDEX_KEYS


@dataclass
class Config:
    """One configuration of a sweep: its jobs and, on the sweep's metric, their summary and comparison."""

    overrides: dict[str, str]  # the overrides that make it, replicate keys left out
    jobs: list[Job] = field(default_factory=list)
    runs: list[Job] = field(default_factory=list)  # its finished jobs with a value of the metric
    summary: dict[str, Any] | None = None  # litlab.runs.stats.summarize of the runs' values
    comparison: Comparison | None = None  # against the best
    verdict: str = ""  # best / better / tie / worse; "" when not compared
    paired_on: str = ""  # "15 folds: seed=1,2,3 x 5", "3 seeds: seed=1,2,3"
    reason: str = ""  # why it was not compared with the best

    def summary_of(self, metric: str) -> dict[str, Any] | None:
        """litlab.runs.stats.summarize of another metric over the same runs; None where none has it."""
        values = [j.metrics[metric] for j in self.runs if not math.isnan(j.metrics.get(metric, math.nan))]
        return summarize(values) if values else None


def group(jobs: list[Job], metric: str, mode: str) -> list[Config]:
    """The configurations, best mean first in direction `mode`; those without a finished run last."""
    configs: dict[frozenset, Config] = {}
    for job in jobs:
        overrides = {k: v for k, v in job.overrides.items() if not is_replicate(k)}
        configs.setdefault(frozenset(overrides.items()), Config(overrides)).jobs.append(job)
    for config in configs.values():
        config.runs = [
            j for j in config.jobs if j.status == "ok" and not math.isnan(j.metrics.get(metric, math.nan))
        ]
        config.summary = config.summary_of(metric)

    def key(config: Config) -> tuple[int, float]:
        if config.summary is None:
            return (1, 0.0)
        return (0, -config.summary["mean"] if mode == "max" else config.summary["mean"])

    return sorted(configs.values(), key=key)  # stable: ties keep the order of the jobs


def setup(job: Job) -> tuple[tuple[Any, Any], dict[str, Any]]:
    """What chose a run's rows besides its seeds: (cv.folds, cv.repeats), and the data settings."""
    cv, data = job.config.get("cv") or {}, job.config.get("data") or {}
    folds = cv.get("folds")
    protocol = (folds, cv.get("repeats", 1) if folds is not None else None)
    return protocol, {k: v for k, v in data.items() if k not in NOT_ROWS}


def label(job: Job) -> Label:
    """Which split of its setup a run is on: its seed (data.seed too, where that differs), swept indices."""
    seed = job.config.get("seed")
    data_seed = (job.config.get("data") or {}).get("seed", seed)
    parts = [("seed", seed)] + ([("data.seed", data_seed)] if data_seed != seed else [])
    return tuple(
        parts + sorted((k, v) for k, v in job.overrides.items() if is_replicate(k) and k not in SEED_KEYS)
    )


def ordered(labels: list[Label]) -> list[Label]:
    """Labels in the order of their values, numbers as numbers (seed 2 before seed 10)."""

    def key(lab: Label) -> list[tuple[str, int, float, str]]:
        return [(k, *((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)))) for k, v in lab]

    return sorted(labels, key=key)


def describe(labels: list[Label]) -> str:
    """`seed=1,2,3`, or `seed=1 data.seed=0, seed=2 data.seed=0` when a label has more parts."""
    labels = ordered(labels)
    if all(len(lab) == 1 and lab[0][0] == "seed" for lab in labels):
        return "seed=" + ",".join(str(lab[0][1]) for lab in labels)
    return ", ".join(" ".join(f"{k}={v}" for k, v in lab) for lab in labels)


def protocol_text(protocol: tuple[Any, Any]) -> str:
    """`cv.folds=5`, `cv.folds=5 cv.repeats=3`, or `a single split (cv.folds=null)`."""
    folds, repeats = protocol
    if folds is None:
        return "a single split (cv.folds=null)"
    return f"cv.folds={folds}" + (f" cv.repeats={repeats}" if repeats != 1 else "")


def by_label(config: Config) -> dict[Label, Job] | str:
    """The runs of a configuration by their split, or why they cannot be told apart."""
    runs: dict[Label, Job] = {}
    for job in config.runs:
        twin = runs.setdefault(label(job), job)
        if twin is not job:
            both = describe([label(job)])
            return f"not paired: jobs {twin.name} and {job.name} of one configuration are both on {both}"
    return runs


def pair(config: Config, best: Config, metric: str, mode: str) -> str:
    """Compare `config` with `best` on the splits both have (fills comparison, verdict, paired_on), or
    return why it cannot be."""
    runs = config.runs + best.runs
    unknown = [j.name for j in runs if j.config is None]
    if unknown:
        return (
            f"not paired: job {unknown[0]} has no config.yaml, which records the seed, data and cv settings "
            "of its splits"
        )
    folds_swept = sorted(
        {k for j in runs for k in j.overrides if is_replicate(k) and k.rsplit(".", 1)[-1] == "fold"}
    )
    if folds_swept:
        return (
            f"not paired: folds swept as jobs ({folds_swept[0]}) share training rows, and their n_test / "
            "n_train is not known here; cross-validate in one run (cv.folds=K) to compare"
        )
    (protocol, data), (best_protocol, best_data) = setup(config.runs[0]), setup(best.runs[0])
    if protocol != best_protocol:
        return (
            f"not on the same splits: {protocol_text(protocol)} here, {protocol_text(best_protocol)} for the "
            "best; compare runs of the same cv settings"
        )
    differ = [k for k in sorted(set(data) | set(best_data)) if data.get(k) != best_data.get(k)]
    if differ:
        k = differ[0]
        return (
            f"not on the same splits: data.{k}={data.get(k)} here, {best_data.get(k)} for the best; compare "
            "runs of the same data settings"
        )
    mine, theirs = by_label(config), by_label(best)
    if isinstance(mine, str) or isinstance(theirs, str):
        return mine if isinstance(mine, str) else theirs  # type: ignore[return-value]
    common = ordered([lab for lab in mine if lab in theirs])
    if not common:
        return (
            f"not on the same splits: no seed in common with the best ({describe(list(mine))} here, "
            f"{describe(list(theirs))} for the best); sweep the same seeds for every configuration"
        )
    folds = protocol[0]
    if folds is not None:
        a, b = [], []
        for lab in common:
            ours, best_folds = mine[lab].per_fold.get(metric), theirs[lab].per_fold.get(metric)
            if not ours or not best_folds:
                job = mine[lab] if not ours else theirs[lab]
                return f"not paired: job {job.name}'s metrics.json has no per-fold values of {metric}"
            names = sorted(set(ours) & set(best_folds))
            a += [ours[n] for n in names]
            b += [best_folds[n] for n in names]
        config.comparison = corrected_resampled_ttest(a, b, test_train_ratio=1 / (folds - 1))
        config.paired_on = f"{len(a)} folds: {describe(common)} x {len(a) // len(common)}"
    else:
        if len(common) < 2:
            return (
                f"not paired: one seed in common with the best ({describe(common)}); a paired test needs two "
                "or more, e.g. seed=1,2,3"
            )
        a, b = [mine[lab].metrics[metric] for lab in common], [theirs[lab].metrics[metric] for lab in common]
        config.comparison = paired_ttest(a, b)
        config.paired_on = f"{len(common)} seeds: {describe(common)}"
    alone = [lab for lab in [*mine, *theirs] if lab not in common]
    if alone:
        config.paired_on += f" ({describe(alone)} on one side only)"
    config.verdict = verdict(config.comparison, mode)
    return ""


def compare(configs: list[Config], metric: str, mode: str) -> None:
    """Compare every configuration that has runs with the best (the first of `group`'s order)."""
    ranked = [c for c in configs if c.runs]
    if not ranked:
        return
    ranked[0].verdict = "best"
    if all(len(c.runs) == 1 and not c.runs[0].per_fold for c in ranked):
        return  # one single-split run per configuration: nothing to pair, and nothing to say per row
    for config in ranked[1:]:
        config.reason = pair(config, ranked[0], metric, mode)
