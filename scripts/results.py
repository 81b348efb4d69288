"""docs/results.md: litlab's built-in experiments against scikit-learn on identical folds, and MNIST.

    python scripts/results.py [--only tabular|mnist] [--jobs N] [--quick] [--results-dir DIR] [--report FILE]
    make results

Tabular part. Every real-data tabular experiment (diabetes, diabetes_logistic, breast_cancer and
breast_cancer_adam, caf and caf_adam: the lectures' nets under full-batch L-BFGS, CAF's with a linear
path beside it, and under Adam) runs as a user runs it, `python train.py experiment=X cv.folds=5
cv.repeats=5 cv.vectorize=auto` (its folds as one population wherever the experiment allows one:
docs/population.md), in a subprocess whose run folder is under the results folder; the report reads the
fold values of its metrics.json (test/acc of each fold) and its oof_predictions.csv. Three overrides are
added that change time, not numbers: threads=1, no logger, and no last.ckpt every epoch (breast cancer's
per-fold test accuracies were identical with and without them). Everything runs on one thread
(scikit-learn's OpenMP and BLAS through threadpoolctl too): on the 2 shared cores this was measured on,
2 threads made the breast cancer CV run 4x and a HistGradientBoosting fit on CAF 9x slower, with the
same results.

scikit-learn runs on the identical folds: the data module of the same composed config, read in this
process (`litlab.train.setup_data`), gives `datamodule.folds(5, 5)` and its raw rows (`datamodule.rows`:
after the data's fixed transform, such as CAF's log2(x + 1), before any standardisation). Each model is
fitted on the fold's training and validation parts together and tested on its test part: litlab's Adam
recipes use the validation part only to stop early and to pick their checkpoint, so both learn from the
same rows; its L-BFGS recipes choose nothing on it and keep a small one (5%), training on the rest.
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
was in starts again (the report writes no last.ckpt). One invocation at a time per results folder.
The report is written from every cell that has a file, so `--only tabular` after a recipe change keeps
the MNIST section.

Cells side by side. `--jobs` cells (default: one per core) run at once, each on one thread: a litlab
cell is its own train.py process, a scikit-learn cell a thread of this one (its fits release the GIL
while they compute; OpenMP's thread count is set per thread, so each cell sets its own). The slowest
run first, by their last known times here (never timed: the biggest data first), so the longest cell,
HistGradientBoosting on CAF, does not start last. A cell that fails lets the running ones finish and
starts no other; Ctrl-C or SIGTERM stops them all (a train.py run is terminated, a scikit-learn cell
stops before its next fold). Every cell records when it began and ended, and the report's run times
give each part's wall time when all its cells ran in one invocation.

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
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import results_markdown as markdown
from results_cells import STOP, Datasets, compose, config_key, oof_tested, run_train, sklearn_models
from results_markdown import FAST, VECTORIZE

from litlab.runs.status import read_status
from litlab.runtime.files import write_text_atomic
from litlab.runtime.resolvers import REPO_ROOT
from litlab.runtime.threads import available_cores

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
    ["diabetes", "diabetes_logistic", "breast_cancer", "breast_cancer_adam", "caf", "caf_adam"], 5, 5,
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
    # Given the cell's own run folder and where to say how it is going.
    run: Callable[[Path, Callable[[str], None]], dict[str, Any]] = field(repr=False)
    size: int = 0  # its data's rows x features: cells never timed here run the biggest data first

    @property
    def stem(self) -> str:
        digest = hashlib.sha256(json.dumps({"format": CELL_FORMAT, **self.key}, sort_keys=True).encode())
        return f"{self.name}-{digest.hexdigest()[:12]}"


def cv_overrides(experiment: str, plan: Plan, common: list[str]) -> list[str]:
    """train.py's command line for the CV run of `experiment`."""
    cv = [f"cv.folds={plan.folds}", f"cv.repeats={plan.repeats}", VECTORIZE]
    return [f"experiment={experiment}", *cv, *FAST, *plan.litlab_overrides, *common]


def litlab_cell(experiment: str, overrides: list[str], plan: Plan, datasets: Datasets) -> Cell:
    """A CV run of `experiment`, checked to have tested this script's folds."""
    cfg = compose(overrides)
    data = datasets.get(cfg, plan.folds, plan.repeats)

    def run(run_dir: Path, show: Callable[[str], None]) -> dict[str, Any]:
        metrics = run_train(overrides, run_dir, show)
        tested = oof_tested(run_dir)
        if tested != data.tested:
            raise AssertionError(f"{run_dir}: the rows its folds tested are not this script's fold plan")
        return {
            "experiment": experiment,
            "per_fold": metrics["cv"]["metrics"]["test/acc"]["per_fold"],
            "rows_digest": data.tested_digest,
            "run_dir": str(run_dir),
        }

    key = {**config_key(cfg), "overrides": overrides}
    return Cell(f"litlab-{experiment}", f"litlab {experiment}", key, run, data.x.size)


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

    def run(_: Path, show: Callable[[str], None]) -> dict[str, Any]:
        from threadpoolctl import threadpool_limits

        # BLAS (process-wide) and OpenMP for this thread (its setting is per thread): see above. Not
        # undone at the cell's end: that would lift BLAS's limit under the cells still running beside it,
        # and this process computes nothing else.
        threadpool_limits(1)
        per_fold = {}
        for fold in data.plan:
            if STOP.is_set():
                raise KeyboardInterrupt
            fit_rows = np.concatenate([fold.train.numpy(), fold.val.numpy()])  # all but the test part
            test = fold.test.numpy()
            fitted = clone(estimator).fit(data.x[fit_rows], data.y[fit_rows])  # on one thread: main()
            per_fold[fold.name] = float(accuracy_score(data.y[test], fitted.predict(data.x[test])))
        return {"model": model, "per_fold": per_fold, "rows_digest": data.tested_digest}

    name, label = f"sklearn-{data.name}-{model.split()[0]}", f"scikit-learn {model} on {data.name}"
    return Cell(name, label, key, run, data.x.size)


def mnist_cell(experiment: str, seed: int, plan: Plan, common: list[str]) -> Cell:
    """One training run of an MNIST experiment, tested on the official test split."""
    overrides = [f"experiment={experiment}", f"seed={seed}", *FAST, *plan.mnist_overrides, *common]
    key = {**config_key(compose(overrides)), "overrides": overrides}

    def run(run_dir: Path, show: Callable[[str], None]) -> dict[str, Any]:
        start = time.perf_counter()
        metrics = run_train(overrides, run_dir, show)
        seconds = time.perf_counter() - start
        epochs = (read_status(run_dir) or {}).get("epochs")
        return {"experiment": experiment, "seed": seed, "test/acc": metrics["test/acc"], "epochs": epochs,
                "run_seconds": seconds}  # fmt: skip

    return Cell(f"mnist-{experiment}-seed{seed}", f"litlab {experiment} seed {seed}", key, run)


def say(line: str) -> None:
    """One line of the console, whole even when cells running side by side say theirs at once."""
    with SAYING:
        print(line, flush=True)


SAYING = threading.Lock()


def run_cells(cells: list[Cell], results_dir: Path, run: bool, jobs: int = 1) -> tuple[dict[str, dict], int]:
    """Each cell's record from its file, or (when `run`) computed and written; and how many ran. Up to
    `jobs` cells run at once (each on one thread), the slowest first by their last known times (those
    never timed here: the biggest data first). A cell that fails lets the running ones finish, starts no
    more, and is raised; Ctrl-C stops them all."""
    records, todo = {}, []
    for n, cell in enumerate(cells, 1):
        path = results_dir / "cells" / f"{cell.stem}.json"
        head = f"[{n}/{len(cells)}] {cell.label}"
        if path.exists():
            records[cell.name] = json.loads(path.read_text())
            if run:
                say(f"{head}: done before ({records[cell.name]['seconds']:.0f} s), skipped")
        elif run:
            todo.append((head, cell, path))
    todo.sort(key=lambda job: (-last_seconds(results_dir, job[1]), -job[1].size))  # the slowest first
    STOP.clear()
    at_once = max(1, min(jobs, len(todo)))  # what the report says ran side by side
    batch = time.time()  # the invocation's mark: a part's wall time is known if all its cells share it

    failed = threading.Event()  # a cell failed: no other cell starts

    def one(head: str, cell: Cell, path: Path) -> dict[str, Any] | None:
        if failed.is_set():
            return None
        say(f"{head}: running")
        start, load, began = time.perf_counter(), os.getloadavg()[0], time.time()

        def show(said: str) -> None:
            say(f"    {head}: {said}")

        try:
            result = cell.run(results_dir / "runs" / cell.stem, show)
            record = {"key": cell.key, "result": result, "seconds": time.perf_counter() - start, "load": load,
                      "batch": batch, "began": began, "ended": time.time(), "jobs": at_once}  # fmt: skip
            write_text_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
            say(f"{head}: {markdown.one_line(result)} in {record['seconds']:.0f} s")
            return record
        except BaseException:
            failed.set()
            raise

    futures: dict[Any, Cell] = {}
    with ThreadPoolExecutor(jobs, thread_name_prefix="cell") as pool:
        try:
            futures.update({pool.submit(one, *job): job[1] for job in todo})
            wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.done() and f.exception() is not None for f in futures):
                pool.shutdown(wait=True, cancel_futures=True)  # the running cells finish, keep their files
                errors = [
                    (c, f.exception()) for f, c in futures.items() if not f.cancelled() and f.exception()
                ]
                for cell, error in errors[1:]:
                    say(f"{cell.label} failed too: {type(error).__name__}: {error}")
                raise errors[0][1]
        except KeyboardInterrupt:
            STOP.set()  # the running cells stop too
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    for future, cell in futures.items():
        records[cell.name] = future.result()
    return records, len(futures)


def last_seconds(results_dir: Path, cell: Cell) -> float:
    """How long this cell took the last time any version of it ran here (0: never)."""
    older = sorted((results_dir / "cells").glob(f"{cell.name}-*.json"), key=lambda p: p.stat().st_mtime)
    try:
        return float(json.loads(older[-1].read_text())["seconds"]) if older else 0.0
    except (OSError, ValueError, KeyError, TypeError):  # a file not of this script: no known time
        return 0.0


def stop(signum: int, frame: Any) -> None:
    """SIGTERM stops the report as Ctrl-C does (its running train.py runs are terminated)."""
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
    parser.add_argument(
        "--jobs", type=int, default=available_cores(),
        help="cells run at once, each on one thread (default: one per core; 1: one after another)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs={args.jobs}: give at least 1 (cells run at once)")
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
            found, n = run_cells(cells, results_dir, run=selected, jobs=args.jobs)
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
