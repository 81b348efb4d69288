"""The markdown of scripts/results.py's report, written from its cells' records (see results.py)."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any

from litlab.runs.stats import ALPHA, corrected_resampled_ttest, summarize, verdict
from litlab.runtime.files import write_text_atomic

# The lectures' own figures (docs/lectures.md; ../shared/seeds/003_…), by data set: one split each, no CV.
LECTURE = {
    "breast_cancer": (
        "0.96",
        "the sklearn-to-PyTorch lecture's 30-15-1 net: 114 test rows of one 80/20 split",
    ),
    "caf": ("0.99", "its omics section's 557-300-100-20-4 net: 215 test rows of one 70/30 split"),
}
# Issue 11, point 7: the recipes that must not be significantly worse than the best scikit-learn model,
# and whether their CV mean must also reach LogisticRegression's.
BAR = {"diabetes": False, "breast_cancer": True, "caf": True}
RERUN = "python scripts/results.py"
FAST = ["threads=1", "~logger", "callbacks.last_checkpoint=null"]  # change time, not numbers
# Every fold of a CV run as one population wherever the experiment allows one (docs/population.md).
VECTORIZE = "cv.vectorize=auto"


def one_line(result: dict[str, Any]) -> str:
    """A finished cell in a few words, for the console."""
    if "per_fold" in result:
        s = summarize(list(result["per_fold"].values()))
        return f"test/acc {s['mean']:.3f} (95% CI {s['ci95'][0]:.3f}-{s['ci95'][1]:.3f}, {s['n']} folds)"
    return f"test/acc {result['test/acc']:.4f} after {result['epochs']} epochs"


def accuracy(s: dict[str, Any]) -> tuple[str, str]:
    return f"{s['mean']:.3f}", f"{s['ci95'][0]:.3f}-{s['ci95'][1]:.3f}"


def p_value(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def folds_of(record: dict[str, Any]) -> list[float]:
    per_fold = record["result"]["per_fold"]
    return [per_fold[name] for name in sorted(per_fold)]


def bar_row(experiment: str, mean: float, said: str, c: Any, best: str, scores: dict[str, list]) -> str:
    """A recipe's line of the bar: not significantly worse than the best, and (where asked) >= LR."""
    if not BAR[experiment]:
        reaches = "n/a"
    elif "LogisticRegression" not in scores:
        reaches = "not run"
    else:
        reaches = "yes" if mean >= summarize(scores["LogisticRegression"])["mean"] else "no"
    not_worse = said != "worse"
    passed = not_worse and reaches in ("yes", "n/a")
    best_mean = summarize(scores[best])["mean"]
    return (
        f"| `{experiment}` | {mean:.3f} | {best} {best_mean:.3f} | {c.difference:+.3f} | {p_value(c.p)} "
        f"| {'yes' if not_worse else 'no'} | {reaches} | **{'pass' if passed else 'FAIL'}** |"
    )


def tabular_section(plan: Any, tables: list[dict], records: dict[str, dict]) -> list[str]:
    k, repeats = plan.folds, plan.repeats
    lines = [
        f"## Tabular data: {k}-fold cross-validation x {repeats} repeats",
        "",
        f"Test accuracy over the {k * repeats} test folds (every row tested once per repeat). The 95% CI is "
        f"Student t's over the {k * repeats} fold values; folds share training rows, so it is somewhat "
        "narrower than it should be. Δ and p: each model against the best scikit-learn model (by mean) on "
        f"the same folds, paired fold by fold, by the corrected resampled t-test (Nadeau & Bengio, "
        f"n_test/n_train = 1/{k - 1}); verdict: `better` or `worse` when p < {ALPHA}, else `tie`.",
        "",
    ]
    bar_rows, detail = [], []
    for table in tables:
        data = table["data"]
        rows, features, classes = data.shape
        detail += [f"### {data.name} ({rows} rows, {features} features, {classes} classes)", ""]
        litlab = [(c, records.get(c.name)) for c in table["litlab"]]
        sklearn = [(c, records.get(c.name)) for c in table["sklearn"]]
        missing = [c.label for c, r in litlab + sklearn if r is None]
        if missing:
            detail += [f"Not run yet: {', '.join(missing)} (`{RERUN} --only tabular`).", ""]
            continue
        digests = {r["result"]["rows_digest"] for _, r in litlab + sklearn}
        if len(digests) != 1:  # cells from other folds: never paired
            raise ValueError(f"{data.name}: the cells' folds differ (test-row digests {sorted(digests)})")
        scores = {r["result"]["model"]: folds_of(r) for _, r in sklearn}
        best = max(scores, key=lambda m: summarize(scores[m])["mean"])
        detail += [
            "| model | test accuracy | 95% CI | lecture | Δ vs best scikit-learn | p | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for _, record in litlab:
            experiment = record["result"]["experiment"]
            values = folds_of(record)
            s = summarize(values)
            c = corrected_resampled_ttest(values, scores[best], 1 / (k - 1))
            said = verdict(c, "max")
            lecture = LECTURE.get(data.name, ("", ""))[0]
            mean, ci = accuracy(s)
            detail.append(
                f"| **litlab `experiment={experiment}`** | **{mean}** | {ci} | {lecture} "
                f"| {c.difference:+.3f} | {p_value(c.p)} | {said} |"
            )
            if experiment in BAR:
                bar_rows.append(bar_row(experiment, s["mean"], said, c, best, scores))
        for model in sorted(scores, key=lambda m: -summarize(scores[m])["mean"]):
            s = summarize(scores[model])
            if model == best:
                detail.append(
                    f"| {model} (best scikit-learn) | {accuracy(s)[0]} | {accuracy(s)[1]} | | | | |"
                )
                continue
            c = corrected_resampled_ttest(scores[model], scores[best], 1 / (k - 1))
            detail.append(
                f"| {model} | {accuracy(s)[0]} | {accuracy(s)[1]} | | {c.difference:+.3f} | {p_value(c.p)} "
                f"| {verdict(c, 'max')} |"
            )
        detail.append("")
    if bar_rows:
        lines += [
            "### The recipes against the bar (issue 11, point 7)",
            "",
            "A recipe passes when it is not significantly worse (p > 0.05, or better) than the best "
            "scikit-learn model on the same folds and, on breast cancer and CAF, its CV mean is at least "
            "LogisticRegression's.",
            "",
            "| recipe | CV mean | best scikit-learn | Δ | p | not worse? | ≥ LogisticRegression? | verdict |",
            "|---|---|---|---|---|---|---|---|",
            *bar_rows,
            "",
        ]
    shown = {table["data"].name for table in tables}
    notes = [f"- lecture {e}: {LECTURE[e][0]}, {LECTURE[e][1]}." for e in LECTURE if e in shown]
    if notes:
        detail += ["The lecture column is the lecture's own test accuracy, not a CV figure:", "", *notes, ""]
    return lines + detail


def mnist_section(plan: Any, cells: list[Any], records: dict[str, dict]) -> list[str]:
    lines = [
        "## MNIST: the official test split, over seeds",
        "",
        f"Each model trained with seeds {', '.join(map(str, plan.seeds))} (weights, batch order and the "
        "train/validation split of the 60000 training images) and tested on the official test split (the "
        f"10000 t10k images); the 95% CI is Student t's over the seeds (n = {len(plan.seeds)}).",
        "",
        "| model | test accuracy | 95% CI | per seed | epochs | time per run | time per epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for experiment in plan.mnist:
        found = [records.get(c.name) for c in cells if c.name.startswith(f"mnist-{experiment}-seed")]
        if any(r is None for r in found):
            lines.append(f"| `experiment={experiment}` | not run yet (`{RERUN} --only mnist`) | | | | | |")
            continue
        results = [r["result"] for r in found]
        s = summarize([r["test/acc"] for r in results])
        ci = f"{s['ci95'][0]:.4f}-{s['ci95'][1]:.4f}" if len(results) > 1 else ""
        per_seed = ", ".join(f"{r['test/acc']:.4f}" for r in results)
        run = sum(r["run_seconds"] for r in results) / len(results)
        epochs = sum(r["epochs"] for r in results) / len(results)
        lines.append(
            f"| `experiment={experiment}` | {s['mean']:.4f} | {ci} | {per_seed} | {epochs:.0f} | {run:.0f} s "
            f"| {run / epochs:.1f} s |"
        )
    at_once = {r.get("jobs", 1) for c in cells if (r := records.get(c.name))}
    beside = f"; up to {max(at_once)} runs at a time, one per core" if max(at_once, default=1) > 1 else ""
    lines += [
        "",
        f"Time per epoch: the run's wall time over its epochs (start-up and test included){beside}.",
        "",
    ]
    return lines


def wall_minutes(cells: list[Any], records: dict[str, dict]) -> tuple[float, int] | None:
    """A part's wall time and how many cells ran at once, if all its cells ran in one invocation."""
    found = [records[c.name] for c in cells if c.name in records]
    if len(found) < len(cells) or len({r.get("batch") for r in found}) != 1 or "batch" not in found[0]:
        return None
    return (max(r["ended"] for r in found) - min(r["began"] for r in found)) / 60, found[0]["jobs"]


def times_section(tables: list[dict], mnist: list[Any], records: dict[str, dict]) -> list[str]:
    def total(cells: list[Any]) -> tuple[float, list[float]]:
        found = [records[c.name] for c in cells if c.name in records]
        return sum(r["seconds"] for r in found) / 60, [r.get("load", float("nan")) for r in found]

    def wall(cells: list[Any], added: float, split: str = "") -> str:
        known, of_cells = wall_minutes(cells, records), f"{added:.1f} min of cells{split}"
        if not any(c.name in records for c in cells):
            return "not run"
        if known is None:
            return f"{of_cells} (run over several invocations: no wall time)"
        return f"{known[0]:.1f} min, {known[1]} cells at a time ({of_cells})"

    tabular = [c for t in tables for c in (*t["litlab"], *t["sklearn"])]
    litlab, load_l = total([c for t in tables for c in t["litlab"]])
    sklearn, load_s = total([c for t in tables for c in t["sklearn"]])
    images, load_m = total(mnist)
    loads = [x for x in load_l + load_s + load_m if x == x]
    walls = [wall_minutes(tabular, records), wall_minutes(mnist, records)]
    both = (
        f"{sum(w[0] for w in walls):.1f} min" if None not in walls else "not known (a part has no wall time)"
    )
    split = f": litlab {litlab:.1f}, scikit-learn {sklearn:.1f}"
    return [
        "## Run times",
        "",
        f"On this machine ({os.cpu_count()} cores, shared with other work: as the cells started, the "
        f"1-minute load average, the report's own process included, was {min(loads, default=0):.1f}-"
        f"{max(loads, default=0):.1f}), from the first cell's start to the last one's end (each cell on one "
        "thread, `--jobs` of them at a time), with the cells' own times added up:",
        "",
        f"- tabular part: {wall(tabular, litlab + sklearn, split)}",
        f"- MNIST part: {wall(mnist, images)}",
        f"- both (`make results` from an empty `logs/results/`): {both}",
        "",
    ]


def write(
    report: Path, plan: Any, tables: list[dict], mnist: list[Any], records: dict[str, dict], results_dir: Path
) -> None:
    """The whole report, from every cell that has a record."""
    import lightning
    import sklearn
    import torch

    from litlab.runtime.resolvers import REPO_ROOT

    cv = f"cv.folds={plan.folds} cv.repeats={plan.repeats} {VECTORIZE}"
    kept = results_dir.relative_to(REPO_ROOT) if results_dir.is_relative_to(REPO_ROOT) else results_dir
    versions = (
        f"Python {platform.python_version()}, torch {torch.__version__}, Lightning {lightning.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )
    header = [
        "# Results",
        "",
        f"Written by `make results` (`{RERUN}`; its docstring has the design) on "
        f"{datetime.date.today().isoformat()}, {versions}, on the CPU. Rerun it rather than edit this page: "
        f"finished cells are kept in `{kept}/` and reused, and a changed recipe reruns its cells.",
        "",
        f"- litlab's experiments run as a user runs them, `python train.py experiment=X {cv}` (plus "
        f"`{' '.join(FAST)}`, which change time, not numbers); the fold values are read from their "
        "`metrics.json`.",
        f"- scikit-learn's models run on the identical folds: the same data module, seed and "
        f"`datamodule.folds({plan.folds}, {plan.repeats})`, checked against each litlab run's "
        "`oof_predictions.csv`. They fit on a fold's training and validation parts together and test on "
        "its test part. litlab's Adam recipes use their validation part (15% of the fold's training rows) "
        "for early stopping and the checkpoint choice; its L-BFGS recipes (`breast_cancer`, `caf`) choose "
        "nothing on it and keep a 5% one for the val/ curves. "
        "LogisticRegression, SVC (RBF) and MLPClassifier standardise in a Pipeline; defaults otherwise "
        "(max_iter raised to converge), `random_state` = the config's seed.",
        "",
    ]
    body = tabular_section(plan, tables, records) + mnist_section(plan, mnist, records)
    lines = header + body + times_section(tables, mnist, records)
    write_text_atomic(report, "\n".join(lines).rstrip() + "\n")
