"""eval.py and predict.py on a cross-validation run's folder: each fold tested again equals the run, and
predictions average the fold models (or take one)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_config

from litlab.data import DiabetesDataModule
from litlab.evaluate import evaluate
from litlab.predict import predict
from litlab.runs.status import read_status, write_status
from litlab.train import train

CV = ["experiment=diabetes", "cv.folds=3", "trainer.max_epochs=4", "trainer.accelerator=cpu", "seed=2"]


def task_config(name: str, tmp_path: Path, *overrides: str):
    """conf/<name>.yaml (eval, predict) composed with outputs under tmp_path."""
    return compose_config(
        name, f"paths.log_dir={tmp_path / 'logs'}", f"paths.output_dir={tmp_path / name}", *overrides
    )


@pytest.fixture
def cv_run(compose_config, tmp_path) -> Path:
    train(compose_config(*CV))
    return tmp_path / "run"


def test_eval_of_a_cv_run_recomputes_every_folds_test_metrics(cv_run, tmp_path, capsys):
    trained = json.loads((cv_run / "metrics.json").read_text())
    means = evaluate(task_config("eval", tmp_path, f"ckpt_path={cv_run}"))
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for name, detail in again["cv"]["metrics"].items():
        assert name.startswith("test/")
        assert detail["per_fold"] == trained["cv"]["metrics"][name]["per_fold"]  # fold by fold, exactly
        assert means[name] == trained[name]
    assert (tmp_path / "eval" / "oof_predictions.csv").read_text() == (
        cv_run / "oof_predictions.csv"
    ).read_text()
    assert "fold_0_2: test/acc" in capsys.readouterr().out


def prediction_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as file:
        return list(csv.DictReader(file))


def test_predict_with_a_cv_run_averages_its_fold_models(cv_run, tmp_path):
    raw, _ = DiabetesDataModule(data_dir=str(tmp_path / "data")).load()
    np.savetxt(tmp_path / "rows.csv", raw[:20], delimiter=",")
    common = [f"ckpt_path={cv_run}", f"input={tmp_path / 'rows.csv'}"]
    ensemble = prediction_rows(predict(task_config("predict", tmp_path, *common)))
    folds = [
        prediction_rows(predict(task_config("predict", tmp_path, *common, f"fold={fold}")))
        for fold in ("fold_0_0", 1, "fold_0_2")
    ]
    p = np.array([[float(row["p_no diabetes"]) for row in rows] for rows in folds])
    assert len({tuple(row) for row in p}) == 3  # three different models
    assert [float(row["p_no diabetes"]) for row in ensemble] == pytest.approx(p.mean(0).tolist(), abs=2e-6)
    assert [row["class"] for row in ensemble] == ["no diabetes" if v > 0.5 else "diabetes" for v in p.mean(0)]


def test_eval_and_predict_refuse_what_is_not_a_finished_cv_run(cv_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2,3,4,5,6,7,8\n")
    with pytest.raises(ValueError, match=r"fold=fold_9_9: .* has folds fold_0_0 ... fold_0_2; give one"):
        predict(task_config("predict", tmp_path, f"ckpt_path={cv_run}", f"input={rows}", "fold=fold_9_9"))
    one = cv_run / "fold_0_0" / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match=r"fold=1 picks a fold .* is one checkpoint"):
        predict(task_config("predict", tmp_path, f"ckpt_path={one}", f"input={rows}", "fold=1"))
    # A single run's folder (here a fold's): the error names the checkpoint its test used, its best.
    best = (
        cv_run / "fold_0_0" / "checkpoints" / Path(read_status(cv_run / "fold_0_0")["best_checkpoint"]).name
    )
    assert best.is_file() and best.name.startswith("epoch_")
    with pytest.raises(
        ValueError, match=rf"is not a cross-validation run .*: the one its test used is ckpt_path={best}$"
    ):
        evaluate(task_config("eval", tmp_path, f"ckpt_path={cv_run / 'fold_0_0'}"))
    record = {k: v for k, v in read_status(cv_run).items() if k not in ("status", "time")}
    write_status(cv_run, "interrupted", **record)
    with pytest.raises(
        ValueError, match=r"has not finished \(interrupted, 3 of 3 folds done\).*ckpt_path=last"
    ):
        evaluate(task_config("eval", tmp_path, f"ckpt_path={cv_run}"))
