"""Cross-validation inside one run: the folds (every row tested once per repeat, stratified, nothing fitted
on a fold's test part), the statistics, what a CV run leaves, and the inputs it refuses."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litlab.data.classification import ClassificationDataModule
from litlab.data.folds import check_can_fold
from litlab.data.regression import RegressionDataModule
from litlab.runs.files import read_metrics
from litlab.runs.folds import check_cv_config, headline
from litlab.runs.stats import summarize
from litlab.runtime.hparams import FINAL
from litlab.train import train

QUICK = ["trainer.max_epochs=3", "trainer.accelerator=cpu", "trainer.devices=1"]
COUNTS = (40, 25, 10)  # an unbalanced three-class table: stratification shows

EVENTS = "events.out.tfevents.*"  # TensorBoard writes into the run (or fold) folder itself


class Unbalanced(ClassificationDataModule):
    """COUNTS rows of classes 0, 1, 2; feature 0 is the row number, so a fitted mean shows its rows."""

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(len(COUNTS)), COUNTS)
        x = np.stack([np.arange(len(y), dtype=np.float64), np.random.default_rng(0).normal(size=len(y))], 1)
        return x, y


class Line(RegressionDataModule):
    """y = 2x on 23 rows."""

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        x = np.arange(23, dtype=np.float32)[:, None]
        return x, 2 * x[:, 0]


def ready(module):
    module.setup()
    return module


@pytest.mark.parametrize("repeats", [1, 3])
def test_every_row_is_tested_once_per_repeat_and_folds_are_stratified(repeats):
    dm = ready(Unbalanced(seed=3))
    folds = dm.folds(5, repeats)
    n = sum(COUNTS)
    assert [(f.repeat, f.index) for f in folds] == [(r, k) for r in range(repeats) for k in range(5)]
    for r in range(repeats):
        tested = torch.cat([f.test for f in folds if f.repeat == r])
        assert sorted(tested.tolist()) == list(range(n))  # every row exactly once
    y = dm.rows[1]
    for fold in folds:
        parts = [fold.train, fold.val, fold.test]
        assert sorted(torch.cat(parts).tolist()) == list(range(n))  # disjoint, and every row somewhere
        for part, share in ((fold.test, 1 / 5), (fold.val, 4 / 5 * dm.val_fraction)):
            counts = torch.bincount(y[part], minlength=3)
            expected = torch.tensor(COUNTS) * share
            assert ((counts - expected).abs() <= 1).all(), (part, counts, expected)


def test_plain_k_fold_is_scikit_learns_and_regression_folds_are_unstratified():
    from sklearn.model_selection import StratifiedKFold

    dm = ready(Unbalanced(seed=7))
    ours = [f.test.tolist() for f in dm.folds(4)]
    theirs = StratifiedKFold(4, shuffle=True, random_state=7).split(np.zeros(sum(COUNTS)), dm.rows[1])
    assert ours == [test.tolist() for _, test in theirs]
    line = ready(Line(seed=0))
    folds = line.folds(5, 2)
    for r in range(2):
        assert sorted(torch.cat([f.test for f in folds if f.repeat == r]).tolist()) == list(range(23))
    line.use_fold(folds[0])
    assert torch.equal(line.splits["test"][1], line.rows[1][folds[0].test])


def test_standardisation_is_fitted_on_the_fold_training_part_only():
    dm = ready(Unbalanced(seed=0))
    fold = dm.folds(5)[2]
    x = dm.rows[0].clone()
    x[fold.test, 1] = 1e4  # a fold's test rows far off: any leak moves the fitted mean
    dm.rows = (x, dm.rows[1])
    dm.use_fold(fold)
    assert torch.allclose(dm.mean, x[fold.train].mean(0)) and torch.allclose(dm.std, x[fold.train].std(0))
    assert dm.mean[1].abs() < 5  # the test rows' 1e4 did not enter
    train_x = dm.splits["train"][0]
    assert torch.allclose(train_x.mean(0), torch.zeros(2), atol=1e-5)
    assert (dm.splits["test"][0][:, 1] > 100).all()  # scaled with the training statistics, not refitted


def test_headline_line():
    s = summarize([0.70, 0.80, 0.75, 0.72, 0.78])  # its formula is tested in test_stats.py
    assert headline("test/acc", s) == "test/acc 0.750 ± 0.041 (95% CI 0.699-0.801, 5 folds)"


def test_a_cv_run_leaves_fold_folders_aggregate_metrics_and_out_of_fold_predictions(compose_config, tmp_path):
    cfg = compose_config("experiment=moons", "data.n_samples=90", "cv.folds=3", "cv.repeats=2", *QUICK)
    value = train(cfg)
    run = tmp_path / "run"
    names = [f"fold_{r}_{k}" for r in range(2) for k in range(3)]
    for name in names:
        assert (run / name / "checkpoints" / "last.ckpt").is_file() and list((run / name).glob(EVENTS))
    metrics = json.loads((run / "metrics.json").read_text())
    detail = metrics["cv"]["metrics"]
    assert (metrics["cv"]["folds"], metrics["cv"]["repeats"]) == (3, 2)
    per_fold = [json.loads((run / name / "metrics.json").read_text())["val/acc"] for name in names]
    # The sweeper gets the CV mean of the validation metric of each fold's best checkpoint.
    assert value == pytest.approx(sum(per_fold) / 6) == metrics["val/acc"] == read_metrics(run)["val/acc"]
    acc = detail["test/acc"]
    assert list(acc["per_fold"]) == names and acc["n"] == 6
    assert acc["ci95"] == pytest.approx(summarize(list(acc["per_fold"].values()))["ci95"])
    status = json.loads((run / "status.json").read_text())
    assert (status["status"], status["folds_done"], status["stopped_by"]) == ("ok", 6, "cross_validation")

    rows = list(csv.DictReader((run / "oof_predictions.csv").open()))
    assert list(rows[0]) == ["row", "repeat", "fold", "target", "prediction", "p_0", "p_1"]
    assert len(rows) == 2 * 90
    for r in range(2):
        assert sorted(int(row["row"]) for row in rows if row["repeat"] == str(r)) == list(range(90))
    for name in names:  # each fold's OOF accuracy is its test/acc
        r, k = name.split("_")[1:]
        mine = [row for row in rows if (row["repeat"], row["fold"]) == (r, k)]
        accuracy = sum(row["target"] == row["prediction"] for row in mine) / len(mine)
        assert accuracy == pytest.approx(acc["per_fold"][name], abs=1e-6)
    # The pooled report counts every out-of-fold prediction once: 2 repeats x 90 rows.
    pooled = list(csv.reader((run / "confusion_matrix.csv").open()))[1:]
    counts = [[int(v) for v in line[1:]] for line in pooled]
    right = sum(row["target"] == row["prediction"] for row in rows)
    assert sum(map(sum, counts)) == 180 and counts[0][0] + counts[1][1] == right
    assert "Failed to classify" in (run / "classification_report.md").read_text()
    # Each report is titled with the run, and a fold's or the pooled one says which.
    assert (run / "classification_report.md").read_text().startswith("**moons (out-of-fold, 3 folds x 2)**")
    assert (run / "fold_1_2" / "classification_report.md").read_text().startswith("**moons (fold_1_2)**")
    # The run's own TensorBoard run holds the CV means for the HParams tab, beside each fold's run.
    events = EventAccumulator(str(run))
    events.Reload()
    assert events.Scalars(f"{FINAL}val/acc")[-1].value == pytest.approx(metrics["val/acc"], rel=1e-6)


def test_a_regression_cv_run_writes_targets_and_predictions(compose_config, tmp_path):
    train(compose_config("experiment=noisy_line", "cv.folds=2", "optimized_metric=val/mse", *QUICK))
    rows = list(csv.DictReader((tmp_path / "run" / "oof_predictions.csv").open()))
    assert list(rows[0]) == ["row", "repeat", "fold", "target", "prediction"] and len(rows) == 100


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cv.folds=1"], r"cv.folds=1: .*at least 2.*cv.folds=5"),
        (["cv.folds=3", "cv.repeats=0"], r"cv.repeats=0: .*at least 1"),
        (["cv.repeats=3"], r"cv.repeats=3 without cv.folds .*cv.folds=5"),
        (
            ["cv.folds=3", "ckpt_path=/w/epoch_001.ckpt"],
            r"ckpt_path=/w/epoch_001.ckpt with cv.folds=3: .*ckpt_path=last",
        ),
        (["data=hours_pass", "cv.folds=2"], r"cv.folds=2: RowsDataModule cannot be cross-validated"),
    ],
)
def test_bad_cv_settings_are_refused_with_the_value_and_the_fix(compose_config, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(compose_config(*overrides, *QUICK))


def test_more_folds_than_the_smallest_class_has_rows_is_refused():
    with pytest.raises(
        ValueError, match=r"cv.folds=11, but class '2' has only 10 rows.*cv.folds=10 or fewer"
    ):
        ready(Unbalanced(seed=0)).folds(11)


def test_image_data_is_refused_before_it_is_read(compose_config, tmp_path):
    # An empty data folder: a module that read (or downloaded) before refusing would fail otherwise.
    cfg = compose_config("experiment=mnist", "cv.folds=5", f"paths.data_dir={tmp_path / 'nothing'}", *QUICK)
    refused = r"cv.folds=5: MNISTDataModule cannot be cross-validated.*cv.folds=null"
    with pytest.raises(ValueError, match=refused):
        train(cfg)
    with pytest.raises(ValueError, match=refused):
        check_can_fold(instantiate(cfg.data), 5, 1)


def test_a_test_fraction_asked_for_with_cv_is_refused(compose_config):
    cfg = compose_config("experiment=diabetes", "cv.folds=5", "data.test_fraction=0.3")
    refused = r"data.test_fraction=0.3 with cv.folds=5: .* 1/5 of the rows.*Drop data.test_fraction"
    with pytest.raises(ValueError, match=refused):
        check_cv_config(cfg, ["experiment=diabetes", "cv.folds=5", "data.test_fraction=0.3"])
    check_cv_config(cfg, ["experiment=diabetes", "cv.folds=5"])  # the data config's own default is fine
