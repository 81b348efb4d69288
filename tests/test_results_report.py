"""scripts/results.py end to end in its quick mode (bundled breast cancer, the example MNIST files): the
report's rows, CIs and p-values; a second invocation reruns nothing; a changed recipe is not served from
the cache."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

from litlab.runtime.resolvers import REPO_ROOT

NUMBER = r"\d\.\d{3,4}"


def quick_report(results, data_dir) -> str:
    command = [sys.executable, "scripts/results.py", "--quick", f"--results-dir={results}"]
    command.append(f"--data-dir={data_dir}")
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_quick_report_has_its_rows_and_a_rerun_reruns_nothing(tmp_path, data_dir):
    results = tmp_path / "results"
    out = quick_report(results, data_dir)
    assert "4 cells run" in out and "2/2 folds done" in out  # progress while it runs
    report = (results / "results.md").read_text()
    lines = report.splitlines()

    (litlab,) = [cells(x) for x in lines if x.startswith("| **litlab `experiment=breast_cancer`**")]
    _, mean, ci, lecture, difference, p, said = litlab
    assert re.fullmatch(rf"\*\*{NUMBER}\*\*", mean) and re.fullmatch(rf"-?{NUMBER}-{NUMBER}", ci)
    assert lecture == "0.96" and re.fullmatch(rf"[+-]{NUMBER}", difference)
    assert re.fullmatch(rf"<0\.001|{NUMBER}", p) and said in ("better", "tie", "worse")
    for model in ("LogisticRegression", "RandomForest"):
        (row,) = [cells(x) for x in lines if x.startswith(f"| {model}")]
        assert re.fullmatch(NUMBER, row[1]), row
    (bar,) = [cells(x) for x in lines if x.startswith("| `breast_cancer` |")]
    assert bar[-1] in ("**pass**", "**FAIL**") and bar[-2] in ("yes", "no")
    (mnist,) = [cells(x) for x in lines if x.startswith("| `experiment=mnist` |")]
    assert re.fullmatch(NUMBER, mnist[1]) and mnist[4] == "1"  # one epoch
    assert "tabular part:" in report and "MNIST part:" in report

    files = {p: p.stat().st_mtime_ns for p in (results / "cells").iterdir()}
    assert len(files) == 4
    again = quick_report(results, data_dir)
    assert "0 cells run" in again and ": running" not in again, again
    assert {p: p.stat().st_mtime_ns for p in (results / "cells").iterdir()} == files
    # The same tables from the cells' files (the first paragraph has the date).
    assert (results / "results.md").read_text().split("\n## ", 1)[1] == report.split("\n## ", 1)[1]


def test_a_changed_recipe_or_data_reruns_its_cells_and_only_those(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "scripts"))
    import results  # scripts/results.py

    datasets = results.Datasets()
    plan = results.QUICK

    def stems(plan, *common):
        overrides = results.cv_overrides("breast_cancer", plan, list(common))
        litlab = results.litlab_cell("breast_cancer", overrides, plan, datasets).stem
        cfg = results.compose(overrides)
        return litlab, results.sklearn_cell(cfg, "LogisticRegression", plan, datasets).stem

    base = stems(plan)
    assert stems(plan) == base  # stable
    tuned = replace(plan, litlab_overrides=[*plan.litlab_overrides, "model.optimizer.lr=0.02"])
    assert stems(tuned)[0] != base[0] and stems(tuned)[1] == base[1]  # the recipe's cell alone
    other_rows = stems(plan, "data.standardize=false")  # the same rows to scikit-learn (raw rows)
    assert other_rows[0] != base[0] and other_rows[1] == base[1]
    other_folds = stems(plan, "seed=1")
    assert other_folds[0] != base[0] and other_folds[1] != base[1]


def test_cells_run_side_by_side_and_a_failure_keeps_the_finished_ones(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "scripts"))
    import threading
    import time

    import pytest
    import results  # scripts/results.py

    running, most, lock = set(), [0], threading.Lock()

    def cell(name: str, seconds: float, fails: bool = False) -> results.Cell:
        def run(run_dir, show):
            with lock:
                running.add(name)
                most[0] = max(most[0], len(running))
            time.sleep(seconds)
            with lock:
                running.discard(name)
            if fails:
                raise ValueError(f"{name} failed")
            show("half way")
            return {"model": name, "per_fold": {"fold_0_0": 0.5}}

        return results.Cell(name, name, {"name": name}, run)

    records, ran = results.run_cells([cell("a", 0.3), cell("b", 0.3), cell("c", 0.3)], tmp_path, True, jobs=2)
    assert ran == 3 and most[0] == 2 and set(records) == {"a", "b", "c"}
    assert len({records[n]["batch"] for n in "abc"}) == 1  # one invocation: the part's wall time is known

    # "bad" fails while "slow" runs beside it: "slow" finishes and keeps its file, "late" never starts.
    cells = [cell("bad", 0.05, fails=True), cell("slow", 0.5), cell("late", 0.05)]
    with pytest.raises(ValueError, match="bad failed"):
        results.run_cells(cells, tmp_path / "again", True, jobs=2)
    kept = sorted(p.name.split("-")[0] for p in (tmp_path / "again" / "cells").iterdir())
    assert kept == ["slow"]


def test_sigterm_stops_the_running_cells_starts_no_other_and_the_next_call_runs_again(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "scripts"))
    import os
    import signal
    import threading
    import time

    import pytest
    import results  # scripts/results.py
    from results_cells import STOP

    saw, started = [], []

    def polls(run_dir, show):  # as a scikit-learn cell does between its folds
        started.append("polls")
        if STOP.wait(timeout=10):
            saw.append("STOP")
            raise KeyboardInterrupt
        return {"model": "polls", "per_fold": {}}

    def late(run_dir, show):
        started.append("late")
        return {"model": "late", "per_fold": {}}

    cells = [results.Cell("polls", "polls", {"n": 1}, polls), results.Cell("late", "late", {"n": 2}, late)]
    known = {"polls": 2.0, "late": 1.0}  # the order they start in: polls first
    monkeypatch.setattr(results, "last_seconds", lambda _, cell: known.get(cell.name, 0.0))
    previous = signal.signal(signal.SIGTERM, results.stop)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        start = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            results.run_cells(cells, tmp_path, True, jobs=1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert saw == ["STOP"] and started == ["polls"] and time.perf_counter() - start < 5
    assert not (tmp_path / "cells").exists() or not list((tmp_path / "cells").iterdir())  # nothing half-done

    # The next invocation is not stopped by the last one's STOP.
    def again(run_dir, show):
        return {"per_fold": {"f": 0.5, "g": 0.5}, "stopped": STOP.is_set()}

    unstopped = results.Cell("again", "again", {"n": 3}, again)
    records, ran = results.run_cells([unstopped], tmp_path, True, jobs=1)
    assert ran == 1 and records["again"]["result"]["stopped"] is False
