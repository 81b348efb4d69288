"""docs/results.md: litlab's built-in experiments against scikit-learn on identical folds, and MNIST.

    python scripts/results.py [--only tabular|mnist] [--quick] [--results-dir DIR] [--report FILE]
    make results

Tabular part. Every real-data tabular experiment (diabetes, diabetes_logistic, breast_cancer, caf) runs
as a user runs it, `python train.py experiment=X cv.folds=5 cv.repeats=5 cv.vectorize=auto` (its folds
as one population wherever the experiment allows one: docs/population.md), in a subprocess whose run
folder is under the results folder; the report reads the fold values of its metrics.json (test/acc of
each fold) and its oof_predictions.csv. Three overrides are added that change time, not numbers:
threads=1, no logger, and no last.ckpt every epoch (breast cancer's per-fold test accuracies were
identical with and without them). Everything runs on one thread (scikit-learn's OpenMP and BLAS
through threadpoolctl too): on the 2 shared cores this was measured on, 2 threads made the breast
cancer CV run 4x and a HistGradientBoosting fit on CAF 9x slower, with the same results.

scikit-learn runs on the identical folds: the data module of the same composed config, read in this
process (`litlab.train.setup_data`), gives `datamodule.folds(5, 5)` and its raw rows (`datamodule.rows`:
after the data's fixed transform, such as CAF's log2(x + 1), before any standardisation). Each model is
fitted on the fold's training and validation parts together and tested on its test part: litlab uses
the validation part only to stop early and to pick its checkpoint, so both learn from the same rows.
LogisticRegression, SVC (RBF) and MLPClassifier standardise inside a Pipeline (StandardScaler fitted on
those rows alone); the tree ensembles take the rows as they are. scikit-learn's defaults throughout,
except max_iter raised so that LR and MLP converge; random_state is the config's seed. "Identical" is
checked, not assumed: a litlab cell asserts that the test rows of every fold of its oof_predictions.csv
are those of this script's fold plan, every cell records a digest of its folds' test rows, and the
report refuses to pair cells whose digests differ.

The comparison: each litlab model against the best scikit-learn model by CV mean test accuracy on the
same folds, by the corrected resampled t-test (Nadeau & Bengio with n_test/n_train = 1/(k-1),
`litlab.runs.stats`), and its verdict at p < 0.05. Issue 11's bar for the recipes: not significantly worse
than that model, and on breast cancer and CAF a CV mean at least LogisticRegression's.

MNIST part. experiment=mnist and experiment=mnist_cnn on the official test split, seeds 1, 2, 3 (and the
same time-only overrides): the mean test accuracy with its Student t 95% CI over the seeds.

Cells and resume. Each cell (an experiment's CV run, one scikit-learn model on one data set, one MNIST
seed) leaves `<results-dir>/cells/<name>-<hash>.json`, written atomically when it is done, and a rerun
skips every cell whose file exists. The hash is of what the cell's numbers depend on: for litlab, the
experiment's whole composed config, so a changed recipe (YAML or override) reruns it and is never
served stale; for scikit-learn, a digest of the data's rows, the folds' test rows and the estimator's
parameters. A change of litlab's code is not seen: delete the results folder to rerun everything. An
interrupted litlab CV cell resumes with ckpt_path=last: its finished folds are kept, and the fold it
was in starts again (the report writes no last.ckpt). One
invocation at a time per results folder. The report is written from every cell that has a file, so
`--only tabular` after a recipe change keeps the MNIST section.

`--quick`: a smoke run for the test suite (breast cancer, 2 folds x 1 repeat, 2 epochs, two
scikit-learn models; MNIST: one seed, one epoch, on the files under --data-dir); its numbers mean
nothing. Its report goes into the results folder unless --report says otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import results_markdown as markdown
from results_cells import Datasets, compose, config_key, oof_tested, run_train, sklearn_models
from results_markdown import FAST, VECTORIZE

from litlab.runs.status import read_status
from litlab.runtime.files import write_text_atomic
from litlab.runtime.resolvers import REPO_ROOT

CELL_FORMAT = 1  # bumped when what a cell file holds changes: every cell reruns


@dataclass(frozen=True)
class Plan:
    """What the report covers."""

    experiments: list[str]
    folds: int
    repeats: int
    models: list[str]
    litlab_overrides: list[str]
    mnist: list[str]
    seeds: list[int]
    mnist_overrides: list[str]


FULL = Plan(
    ["diabetes", "diabetes_logistic", "breast_cancer", "caf"], 5, 5,
    ["LogisticRegression", "SVC (RBF)", "HistGradientBoosting", "RandomForest", "MLPClassifier"], [],
    ["mnist", "mnist_cnn"], [1, 2, 3], [],
)  # fmt: skip
QUICK = Plan(
    ["breast_cancer"], 2, 1, ["LogisticRegression", "RandomForest"], ["trainer.max_epochs=2"],
    ["mnist"], [1], ["trainer.max_epochs=1"],
)  # fmt: skip


@dataclass
class Cell:
    """One unit of work; its result is cached in `<results>/cells/<name>-<hash of key>.json`."""

    name: str
    label: str
    key: dict[str, Any]
    run: Callable[[Path], dict[str, Any]] = field(repr=False)  # given the cell's own run folder

    @property
    def stem(self) -> str:
        digest = hashlib.sha256(json.dumps({"format": CELL_FORMAT, **self.key}, sort_keys=True).encode())
        return f"{self.name}-{digest.hexdigest()[:12]}"


def show(progress: str) -> None:
    print(f"    {progress}", flush=True)


def cv_overrides(experiment: str, plan: Plan, common: list[str]) -> list[str]:
    """train.py's command line for the CV run of `experiment`."""
    cv = [f"cv.folds={plan.folds}", f"cv.repeats={plan.repeats}", VECTORIZE]
    return [f"experiment={experiment}", *cv, *FAST, *plan.litlab_overrides, *common]


def litlab_cell(experiment: str, overrides: list[str], plan: Plan, datasets: Datasets) -> Cell:
    """A CV run of `experiment`, checked to have tested this script's folds."""
    cfg = compose(overrides)

    def run(run_dir: Path) -> dict[str, Any]:
        metrics = run_train(overrides, run_dir, show)
        tested = oof_tested(run_dir)
        data = datasets.get(cfg, plan.folds, plan.repeats)
        if tested != data.tested:
            raise AssertionError(f"{run_dir}: the rows its folds tested are not this script's fold plan")
        return {
            "experiment": experiment,
            "per_fold": metrics["cv"]["metrics"]["test/acc"]["per_fold"],
            "rows_digest": data.tested_digest,
            "run_dir": str(run_dir),
        }

    return Cell(
        f"litlab-{experiment}", f"litlab {experiment}", {**config_key(cfg), "overrides": overrides}, run
    )


def sklearn_cell(cfg: Any, model: str, plan: Plan, datasets: Datasets) -> Cell:
    """One scikit-learn model on every fold of the data `cfg` describes."""
    import numpy as np
    import sklearn
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    data = datasets.get(cfg, plan.folds, plan.repeats)
    estimator = sklearn_models(cfg.seed)[model]
    params = {k: repr(v) for k, v in sorted(estimator.get_params(deep=True).items())}
    key = {"rows": data.rows_digest, "tested": data.tested_digest, "model": model, "params": params,
           "sklearn": sklearn.__version__}  # fmt: skip

    def run(_: Path) -> dict[str, Any]:
        from threadpoolctl import threadpool_limits

        per_fold = {}
        for fold in data.plan:
            fit_rows = np.concatenate([fold.train.numpy(), fold.val.numpy()])  # all but the test part
            test = fold.test.numpy()
            with threadpool_limits(1):  # OpenMP and BLAS: as litlab's threads=1 (see the docstring)
                fitted = clone(estimator).fit(data.x[fit_rows], data.y[fit_rows])
            per_fold[fold.name] = float(accuracy_score(data.y[test], fitted.predict(data.x[test])))
        return {"model": model, "per_fold": per_fold, "rows_digest": data.tested_digest}

    return Cell(f"sklearn-{data.name}-{model.split()[0]}", f"scikit-learn {model} on {data.name}", key, run)


def mnist_cell(experiment: str, seed: int, plan: Plan, common: list[str]) -> Cell:
    """One training run of an MNIST experiment, tested on the official test split."""
    overrides = [f"experiment={experiment}", f"seed={seed}", *FAST, *plan.mnist_overrides, *common]
    key = {**config_key(compose(overrides)), "overrides": overrides}

    def run(run_dir: Path) -> dict[str, Any]:
        start = time.perf_counter()
        metrics = run_train(overrides, run_dir, show)
        seconds = time.perf_counter() - start
        epochs = (read_status(run_dir) or {}).get("epochs")
        return {"experiment": experiment, "seed": seed, "test/acc": metrics["test/acc"], "epochs": epochs,
                "run_seconds": seconds}  # fmt: skip

    return Cell(f"mnist-{experiment}-seed{seed}", f"litlab {experiment} seed {seed}", key, run)


def run_cells(cells: list[Cell], results_dir: Path, run: bool) -> tuple[dict[str, dict], int]:
    """Each cell's record from its file, or (when `run`) computed and written; and how many ran."""
    records, ran = {}, 0
    for n, cell in enumerate(cells, 1):
        path = results_dir / "cells" / f"{cell.stem}.json"
        head = f"[{n}/{len(cells)}] {cell.label}"
        if path.exists():
            records[cell.name] = json.loads(path.read_text())
            if run:
                print(f"{head}: done before ({records[cell.name]['seconds']:.0f} s), skipped", flush=True)
        elif run:
            print(f"{head}: running", flush=True)
            start, load = time.perf_counter(), os.getloadavg()[0]
            result = cell.run(results_dir / "runs" / cell.stem)
            record = {"key": cell.key, "result": result, "seconds": time.perf_counter() - start, "load": load}
            write_text_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
            records[cell.name], ran = record, ran + 1
            print(f"{head}: {markdown.one_line(result)} in {record['seconds']:.0f} s", flush=True)
    return records, ran


def stop(signum: int, frame: Any) -> None:
    """SIGTERM stops the report as Ctrl-C does (the running train.py gets it too, and says so)."""
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["tabular", "mnist"], help="run one part (default: both)")
    parser.add_argument("--quick", action="store_true", help="a smoke run on tiny settings (the test's)")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "logs" / "results")
    parser.add_argument("--report", type=Path, help="default: docs/results.md (--quick: in --results-dir)")
    parser.add_argument("--data-dir", type=Path, help="paths.data_dir (default: LITLAB_DATA_DIR, else data/)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    results_dir = args.results_dir.resolve()
    report = args.report or (results_dir / "results.md" if args.quick else REPO_ROOT / "docs" / "results.md")
    common = [f"paths.data_dir={args.data_dir.resolve()}"] if args.data_dir else []

    datasets = Datasets()
    tables = []  # one per data set: its litlab cells and its scikit-learn cells
    for experiment in plan.experiments:
        overrides = cv_overrides(experiment, plan, common)
        cell = litlab_cell(experiment, overrides, plan, datasets)
        cfg = compose(overrides)  # scikit-learn sees the data of the very config the CV run trains on
        data = datasets.get(cfg, plan.folds, plan.repeats)
        table = next((t for t in tables if t["data"] is data), None)
        if table is None:
            models = [sklearn_cell(cfg, m, plan, datasets) for m in plan.models]
            tables.append(table := {"data": data, "litlab": [], "sklearn": models})
        table["litlab"].append(cell)
    mnist = [mnist_cell(e, s, plan, common) for e in plan.mnist for s in plan.seeds]
    parts = {
        "tabular": [c for t in tables for c in (*t["litlab"], *t["sklearn"])],
        "mnist": mnist,
    }
    records, ran = {}, 0
    for part, cells in parts.items():
        selected = args.only in (None, part)
        if selected:
            print(f"{part}: {len(cells)} cells, results in {results_dir}", flush=True)
        start = time.perf_counter()
        try:
            found, n = run_cells(cells, results_dir, run=selected)
        except KeyboardInterrupt:
            print("interrupted: the finished cells are kept; run the same command to continue", flush=True)
            raise SystemExit(130) from None
        records.update(found)
        ran += n
        if selected:
            print(f"{part}: {n} cells run in {time.perf_counter() - start:.0f} s", flush=True)
    markdown.write(report, plan, tables, mnist, records, results_dir)
    print(f"{ran} cells run; report written to {report}", flush=True)


if __name__ == "__main__":
    main()
