"""The sweep summary: job folders in, summary.csv and summary.md out, best first, failed last."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from litlab.runs.files import read_yaml
from litlab.runs.stats import corrected_resampled_ttest
from litlab.runs.status import write_status
from litlab.runs.summary import main as summary_main
from litlab.runs.summary import write_summary


def read_summary(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def make_job(
    sweep: Path,
    name: str,
    overrides: list[str],
    metrics: dict | None = None,
    error: str | None = None,
    status: str | None = None,
    config: dict | None = None,
):
    """A job folder as train.py leaves it: status.json (ok with metrics, failed with error, or `status`),
    and the resolved `config` (seed, cv, data) as config.yaml when given."""
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))
    (job / ".hydra" / "config.yaml").write_text("optimized_metric: val/loss\noptimized_metric_mode: min\n")
    if config is not None:
        (job / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    if error is not None:
        (job / "error.txt").write_text(f"{error}\n\nTraceback (most recent call last): ...\n")
    status = status or ("ok" if metrics is not None else "failed" if error is not None else "running")
    write_status(job, status)
    return job


@pytest.fixture
def sweep(tmp_path) -> Path:
    """Six jobs: four ok (one with a nan loss, one in a subfolder), one still running, one failed."""
    sweep = tmp_path / "sweep"
    make_job(sweep, "0", ["lr=0.1", "seed=1"], {"val/loss": 0.5, "val/acc": 0.8, "train/loss": 0.4})
    make_job(sweep, "1", ["lr=0.01", "seed=1"], error="ValueError: lr | too small")
    make_job(sweep, "2", ["lr=0.001", "seed=1"])  # incomplete
    make_job(sweep, "3", ["lr=0.3", "seed=1"], {"val/loss": float("nan"), "val/acc": 0.5})
    make_job(sweep, "10", ["lr=0.03", "seed=1"], {"val/loss": 0.4, "val/acc": 0.7})
    make_job(sweep, "sub/4", ["+lr=0.05", "seed=1"], {"val/loss": 0.6, "val/acc": 0.9})
    return sweep


def test_summary_ranks_ok_jobs_by_the_metric_then_incomplete_then_failed(sweep):
    jobs = write_summary(sweep, "val/loss", "min")
    assert [j.name for j in jobs] == ["10", "0", "sub/4", "3", "2", "1"]
    assert [j.status for j in jobs] == ["ok", "ok", "ok", "ok", "incomplete", "failed"]
    assert [j.name for j in write_summary(sweep, "val/acc", "max")][:3] == ["sub/4", "0", "10"]

    rows = read_summary(sweep)
    assert list(rows[0])[:3] == ["job", "status", "lr"] and list(rows[0])[-1] == "error"
    assert rows[0]["val/acc"] == "0.9" and rows[0]["train/loss"] == ""
    assert rows[-1]["error"] == "ValueError: lr | too small"
    md = (sweep / "summary.md").read_text()
    assert "6 jobs (4 ok, 0 interrupted, 1 incomplete, 1 failed), best first by `val/acc` (max)" in md
    assert "Every job: `seed=1`" in md and "train/loss" not in md  # train metrics stay in the CSV
    assert "| 1 | failed | 0.01 |" in md and "lr \\| too small" in md


def test_the_status_file_tells_how_a_rerun_ended(sweep):
    (sweep / "0" / "error.txt").write_text("RuntimeError: rerun failed\n")
    write_status(sweep / "0", "failed")  # metrics.json of the earlier attempt is still there
    (job,) = [j for j in write_summary(sweep, "val/loss", "min") if j.name == "0"]
    assert (job.status, job.error) == ("failed", "RuntimeError: rerun failed")


def test_interrupted_jobs_are_listed_apart_and_old_folders_still_read(sweep):
    make_job(sweep, "5", ["lr=0.2", "seed=1"], status="interrupted")
    legacy = make_job(sweep, "6", ["lr=0.4", "seed=1"], {"val/loss": 0.1, "val/acc": 0.95})
    (legacy / "status.json").unlink()  # written before runs had a status file: metrics.json says ok
    jobs = write_summary(sweep, "val/loss", "min")
    assert [(j.name, j.status) for j in jobs][0] == ("6", "ok")
    assert [j.status for j in jobs][-3:] == ["interrupted", "incomplete", "failed"]
    assert "1 interrupted" in (sweep / "summary.md").read_text()


def test_summary_cli_reads_the_objective_from_the_jobs(sweep):
    summary_main([str(sweep)])
    assert [r["job"] for r in read_summary(sweep)][:2] == ["10", "0"]  # val/loss, min
    summary_main([str(sweep), "--metric", "val/acc", "--mode", "max"])
    assert read_summary(sweep)[0]["job"] == "sub/4"


def test_a_bad_mode_is_reported_and_the_summary_keeps_job_order(sweep, caplog):
    jobs = write_summary(sweep, "val/loss", "best")
    assert "optimized_metric_mode='best' is not one of ['min', 'max']" in caplog.text
    assert [j.name for j in jobs] == ["0", "3", "10", "sub/4", "2", "1"]
    assert "in job order" in (sweep / "summary.md").read_text()


def test_summary_of_an_empty_sweep(tmp_path):
    assert write_summary(tmp_path, "val/acc", "max") == []
    assert (tmp_path / "summary.csv").read_text() == "job,status,error\n"


def test_cv_jobs_are_ranked_by_their_cv_means(tmp_path):
    sweep = tmp_path / "sweep"
    for name, mean in (("0", 0.6), ("1", 0.4)):
        detail = {"val/loss": {"mean": mean, "std": 0.1, "ci95": [mean - 0.2, mean + 0.2], "n": 5}}
        cv = {"folds": 5, "repeats": 1, "metrics": detail}
        make_job(sweep, name, [f"lr={name}", "cv.folds=5"], {"val/loss": mean, "cv": cv})
    jobs = write_summary(sweep, "val/loss", "min")
    assert [(job.name, job.metrics) for job in jobs] == [("1", {"val/loss": 0.4}), ("0", {"val/loss": 0.6})]


# The grouped summary: seed replicates of one configuration grouped, each configuration compared with the
# best on the same splits. Two models' values on five splits, as in test_stats.py: d = B - A has mean
# -0.022 and variance 2.7e-4, by hand.
A = [0.80, 0.78, 0.82, 0.79, 0.81]
B = [0.77, 0.78, 0.79, 0.75, 0.80]
D_VAR = (0.008**2 + 0.022**2 + 0.008**2 + 0.018**2 + 0.012**2) / 4
T_975_4 = 2.7764451051977987  # Student t, 97.5% quantile, 4 dof, from a table
DATA = {
    "_target_": "litlab.data.DiabetesDataModule",
    "batch_size": 32,
    "val_fraction": 0.15,
    "test_fraction": 0.2,
}


def make_run(sweep: Path, name: str, overrides: list[str], seed: int, acc, folds=None, data=None):
    """A finished job on `seed`'s split: val/acc `acc`; a CV job (cv.folds=`folds`): `acc` lists its folds."""
    config = {
        "seed": seed,
        "cv": {"folds": folds, "repeats": 1},
        "data": {**DATA, **(data or {}), "seed": seed},
    }
    metrics = {"val/acc": acc}
    if folds:
        per_fold = {f"fold_0_{k}": v for k, v in enumerate(acc)}
        per_fold = dict(
            reversed(per_fold.items())
        )  # pairs go by the fold's name, not by the order in the file
        detail = {"val/acc": {"mean": sum(acc) / len(acc), "per_fold": per_fold}}
        metrics = {"val/acc": sum(acc) / len(acc), "cv": {"folds": folds, "repeats": 1, "metrics": detail}}
    return make_job(sweep, name, [*overrides, f"seed={seed}"], metrics, config=config)


def read_configs(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary_configs.csv").open() as f:
        return list(csv.DictReader(f))


def configurations(sweep: Path) -> str:
    """summary.md's section on configurations."""
    md = (sweep / "summary.md").read_text()
    return md[md.index("## Configurations") : md.index("## Jobs")]


def test_seed_replicates_are_grouped_and_paired_by_seed(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(1, 6):  # jobs 0-9: lr=0.1 on seeds 1-5 (A), lr=0.01 on the same seeds (B)
        make_run(sweep, str(2 * seed - 2), ["lr=0.01"], seed, B[seed - 1])
        make_run(sweep, str(2 * seed - 1), ["lr=0.1"], seed, A[seed - 1])
    write_summary(sweep, "val/acc", "max")

    best, other = read_configs(sweep)
    assert (best["lr"], best["n"], best["verdict"]) == ("0.1", "5", "best") and "seed" not in best
    assert best["jobs"] == "1 3 5 7 9"
    std = math.sqrt((0.0**2 + 0.02**2 + 0.02**2 + 0.01**2 + 0.01**2) / 4)  # A's mean is 0.80
    half = T_975_4 * std / math.sqrt(5)
    assert float(best["val/acc"]) == pytest.approx(0.80)
    assert [float(best["val/acc ci95 low"]), float(best["val/acc ci95 high"])] == pytest.approx(
        [0.8 - half, 0.8 + half]
    )
    t = -0.022 / math.sqrt(D_VAR / 5)  # the paired t-test: Var(mean d) = s² / n
    assert float(other["difference"]) == pytest.approx(-0.022) and float(other["t"]) == pytest.approx(t)
    assert float(other["p"]) == pytest.approx(0.0402, abs=1e-4) and other["dof"] == "4"
    assert (other["test"], other["verdict"], other["reason"]) == ("paired t-test", "worse", "")

    md = configurations(sweep)
    assert "2 configurations, best first by their mean `val/acc` (max); n counts finished runs" in md
    assert "| lr | n | val/acc [95% CI] | difference | p | paired on | verdict |" in md
    assert f"| 0.1 | 5 | 0.8 [{0.8 - half:.4g}, {0.8 + half:.4g}] |  |  |  | best |" in md
    assert "| 0.01 | 5 | 0.778 [" in md and "| -0.022 | 0.0402 | 5 seeds: seed=1,2,3,4,5 | worse |" in md
    assert "paired t-test of single-split runs, seed by seed" in md
    assert "| job | status | lr | seed | val/acc |" in (sweep / "summary.md").read_text()  # the jobs below
    # One best: the configuration summary.md puts first, by its mean, not its luckiest job.
    interval = f"[{0.8 - half:.4g}, {0.8 + half:.4g}]"
    best_line = f"Best: lr=0.1, mean val/acc=0.8 {interval} (max) over jobs 1, 3, 5, 7, 9"
    assert best_line in (sweep / "summary.md").read_text()


def test_cv_runs_are_paired_fold_by_fold_with_the_corrected_resampled_ttest(tmp_path):
    sweep = tmp_path / "sweep"
    make_run(sweep, "0", ["dropout=0"], 1, A, folds=5)
    make_run(sweep, "1", ["dropout=0.2"], 1, B, folds=5)
    write_summary(sweep, "val/acc", "max")
    best, other = read_configs(sweep)
    assert (best["dropout"], best["n"], best["val/acc ci95 low"]) == ("0", "1", "")  # one run: no interval
    # Nadeau & Bengio: Var(mean d) = (1/J + n_test/n_train) s², n_test/n_train = 1/(k-1) = 1/4 for 5 folds.
    t = -0.022 / math.sqrt((1 / 5 + 1 / 4) * D_VAR)
    assert float(other["t"]) == pytest.approx(t) and float(other["p"]) == pytest.approx(0.1167, abs=1e-4)
    assert (other["test"], other["verdict"]) == ("corrected resampled t-test (Nadeau & Bengio)", "tie")
    md = configurations(sweep)
    assert "| 0.2 | 1 | 0.778 | -0.022 | 0.117 | 5 folds: seed=1 x 5 | tie |" in md
    assert "one run gives no interval" in md and "n_test / n_train = 1 / (k - 1)" in md

    # Two seeds: the pairs are (seed, fold), J = 10, and the ratio stays 1/(k-1).
    A2, B2 = [0.75, 0.83, 0.80, 0.79, 0.78], [0.74, 0.80, 0.78, 0.80, 0.76]
    make_run(sweep, "2", ["dropout=0"], 2, A2, folds=5)
    make_run(sweep, "3", ["dropout=0.2"], 2, B2, folds=5)
    write_summary(sweep, "val/acc", "max")
    expected = corrected_resampled_ttest(B + B2, A + A2, test_train_ratio=1 / 4)
    other = read_configs(sweep)[1]
    assert float(other["p"]) == pytest.approx(expected.p) and other["dof"] == "9"
    assert other["paired on"] == "10 folds: seed=1,2 x 5"


def test_pairs_only_the_seeds_both_have_and_says_which_are_left_out(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, acc in ((1, 0.6), (2, 0.6), (3, 0.99)):
        make_run(sweep, f"a{seed}", ["lr=0.1"], seed, acc)
    make_run(sweep, "b1", ["lr=0.01"], 1, 0.7)
    make_run(sweep, "b2", ["lr=0.01"], 2, 0.7)
    make_job(sweep, "b3", ["lr=0.01", "seed=3"], error="RuntimeError: diverged")
    write_summary(sweep, "val/acc", "max")
    best, other = read_configs(sweep)
    assert best["lr"] == "0.1"  # the best mean, 0.73 against 0.7
    assert other["verdict"] == "better" and other["p"] == "0.0"  # +0.1 on each of the seeds both have
    assert other["paired on"] == "2 seeds: seed=1,2 (seed=3 on one side only)"
    assert "| 0.01 | 2 of 3 |" in configurations(sweep)


@pytest.mark.parametrize(
    ("runs", "reason"),
    [
        (
            [
                (["cv=5"], 1, A, 5),
                (["cv=5"], 2, A, 5),
                (["cv=null"], 1, 0.7, None),
                (["cv=null"], 2, 0.7, None),
            ],
            "not on the same splits: a single split (cv.folds=null) here, cv.folds=5 for the best; compare "
            "runs of the same cv settings",
        ),
        ([(["cv=5"], 1, A, 5), (["cv=3"], 1, A[:3], 3)], "cv.folds=3 here, cv.folds=5 for the best"),
        (
            [(["vf=0.15"], s, 0.8 + s / 100, None) for s in (1, 2)]
            + [(["vf=0.2"], s, 0.7, {"val_fraction": 0.2}) for s in (1, 2)],
            "not on the same splits: data.val_fraction=0.2 here, 0.15 for the best; compare runs of the same "
            "data settings",
        ),
        (
            [(["lr=0.1"], s, 0.8 + s / 100, None) for s in (1, 2)]
            + [(["lr=0.01"], s, 0.7, None) for s in (3, 4)],
            "not on the same splits: no seed in common with the best (seed=3,4 here, seed=1,2 for the best); "
            "sweep the same seeds for every configuration",
        ),
        (
            [(["lr=0.1", f"data.fold={k}"], 1, 0.8, None) for k in (0, 1)]
            + [(["lr=0.01", f"data.fold={k}"], 1, 0.7, None) for k in (0, 1)],
            "not paired: folds swept as jobs (data.fold) share training rows",
        ),
    ],
    ids=["cv-against-single-split", "other-cv-folds", "other-data-settings", "other-seeds", "folds-as-jobs"],
)
def test_runs_not_on_the_same_splits_are_not_paired_and_the_row_says_why(tmp_path, runs, reason):
    sweep = tmp_path / "sweep"
    for n, (overrides, seed, acc, extra) in enumerate(runs):
        folds, data = (extra, None) if isinstance(extra, int) else (None, extra)
        make_run(sweep, str(n), overrides, seed, acc, folds=folds, data=data)
    write_summary(sweep, "val/acc", "max")
    best, other = read_configs(sweep)
    assert best["verdict"] == "best" and other["verdict"] == "" and other["p"] == ""
    assert reason in other["reason"]
    md = configurations(sweep)
    assert reason in md and "| not compared |" in md and "the row says why" in md


def test_settings_that_do_not_choose_rows_still_pair(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (1, 2, 3):
        make_run(sweep, f"a{seed}", ["data.batch_size=32"], seed, A[seed])
        make_run(sweep, f"b{seed}", ["data.batch_size=64"], seed, B[seed], data={"batch_size": 64})
    make_job(sweep, "c1", ["data.batch_size=128", "seed=1"], {"val/acc": 0.5})  # no config.yaml
    make_job(sweep, "c2", ["data.batch_size=128", "seed=2"], {"val/acc": 0.5})
    write_summary(sweep, "val/acc", "max")
    rows = read_configs(sweep)
    assert [(r["data.batch_size"], r["test"]) for r in rows][:2] == [("32", ""), ("64", "paired t-test")]
    assert rows[2]["reason"].startswith("not paired: job c1 has no config.yaml")


def test_one_run_per_configuration_gives_a_clean_table(sweep):
    write_summary(sweep, "val/loss", "min")
    md = configurations(sweep)
    assert "one run gives no interval (sweep seed=1,2,3)" in md and "nan |" not in md
    assert (
        "| lr | n | val/loss | test/loss |" not in md and "| lr | n | val/loss |" in md
    )  # no test metric here
    assert "difference" not in md and "[95% CI]" not in md
    assert (
        "| 0.03 | 1 | 0.4 |" in md
        and "Without a value of `val/loss` (not finished, or nan): 3 configurations; see the jobs below."
        in md
    )
    rows = read_configs(sweep)
    assert [r["lr"] for r in rows] == ["0.03", "0.1", "0.05", "0.3", "0.001", "0.01"]
    assert rows[0]["verdict"] == "best" and rows[-1]["n"] == "0" and rows[-1]["val/loss"] == ""


def test_one_best_by_the_objective_and_the_monitor_named_with_why_they_differ(tmp_path, caplog):
    sweep = tmp_path / "sweep"
    make_job(sweep, "0_lr=0.1", ["lr=0.1"], {"val/acc": 0.82, "val/loss": 0.50})
    make_job(sweep, "1_lr=0.01", ["lr=0.01"], {"val/acc": 0.80, "val/loss": 0.45})
    with caplog.at_level(logging.INFO, logger="litlab.runs.summary"):
        write_summary(sweep, "val/acc", "max", monitor="val/loss")
    md = (sweep / "summary.md").read_text()
    best = "Best: job 0_lr=0.1, val/acc=0.82 (max) lr=0.1, by `optimized_metric`."
    assert best in md and best in caplog.text and md.index(best) < md.index("| job |")
    why = "Each job's checkpoint and early stopping went by `monitor.metric` val/loss"
    assert why in md and "The first job by val/loss: 1_lr=0.01 (val/loss=0.45)" in md
    write_summary(sweep, "val/loss", "min", monitor="val/loss")  # one criterion: one line
    md = (sweep / "summary.md").read_text()
    assert "Best: job 1_lr=0.01, val/loss=0.45 (min) lr=0.01" in md and "monitor.metric" not in md


def test_the_best_line_names_a_key_a_job_left_at_its_default_and_a_sweep_of_seeds_only(tmp_path):
    sweep = tmp_path / "sweep"
    make_job(sweep, "0", ["lr=0.1", "epochs=5"], {"val/acc": 0.7})
    make_job(sweep, "1", ["lr=0.1"], {"val/acc": 0.8})  # epochs as its config has it
    write_summary(sweep, "val/acc", "max")
    md = (sweep / "summary.md").read_text()
    assert "Best: job 1, val/acc=0.8 (max) epochs (not given), by" in md
    # ... and its tables say so too, where the CSV leaves the cell empty
    assert "| 1 | ok | (not given) | 0.8 |" in md and "| (not given) | 1 | 0.8 |" in md
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert "1,ok,0.1,,0.8," in rows, rows

    seeds = tmp_path / "seeds"
    for n, acc in enumerate([0.7, 0.8, 0.75]):
        make_job(seeds, str(n), [f"seed={n + 1}"], {"val/acc": acc})
    write_summary(seeds, "val/acc", "max")
    assert "Best: the one configuration, mean val/acc=0.75 [" in (seeds / "summary.md").read_text()


def test_yaml_files_read_back_as_omegaconf_reads_them(tmp_path):
    """read_yaml (libyaml) gives what OmegaConf.load gives for what OmegaConf writes, strings that look
    like other types included."""
    values = {
        "floats": [1e-05, 0.1, 1e20, -2.5, float("inf")], "ints": [0, -3, 12345678901234567890],
        "strings": ["1e-5", "null", "true", "on", "0x10", "1_000", "2026-12-04", "a: b", "", "~"],
        "nested": {"list": [[6, 4], {"k": None}], "flag": False, "none": None},
        "overrides": ["seed=1", "model.net.hidden=[16,8]", "+x='quoted'"],
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(values)))
    assert read_yaml(path) == OmegaConf.to_container(OmegaConf.load(path)) == values
