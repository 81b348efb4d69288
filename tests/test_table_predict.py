"""predict.py on a table: columns matched by name, the schema carried by the checkpoint alone."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from helpers import compose_config as compose
from table_files import mixed_rows, write_table

from litlab.checkpoints.contents import stored_config
from litlab.checkpoints.io import load_checkpoint
from litlab.checkpoints.rebuild import rebuild
from litlab.data.splits import stratified_split
from litlab.data.table import TableDataModule
from litlab.evaluate import evaluate
from litlab.predict import predict
from litlab.train import train


@pytest.fixture
def trained_table(compose_config, tmp_path) -> tuple[Path, dict[str, list]]:
    """A short run on a mixed table (id pid); its last checkpoint and the table's columns. The training
    file is deleted afterwards: predicting must need nothing but the checkpoint."""
    columns = mixed_rows()
    path = write_table(tmp_path / "train" / "patients.csv", columns)
    cfg = compose_config(
        "data=table", f"data.path={path}", "data.target=Outcome", "data.id=pid", "trainer.max_epochs=3",
        "trainer.accelerator=cpu", "~logger",
    )  # fmt: skip
    train(cfg)
    return tmp_path / "run" / "checkpoints" / "last.ckpt", columns


def predicted(tmp_path: Path, checkpoint: Path, input_path: Path, name: str) -> list[dict[str, str]]:
    output = tmp_path / f"{name}.csv"
    predict(
        compose(
            "predict",
            f"ckpt_path={checkpoint}",
            f"input={input_path}",
            f"output={output}",
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.output_dir={tmp_path / name}",
        )  # fmt: skip
    )
    with open(output, newline="") as f:
        return list(csv.DictReader(f))


def test_the_checkpoint_carries_the_schema(trained_table):
    checkpoint, _ = trained_table
    state = load_checkpoint(checkpoint)["TableDataModule"]
    schema = state["schema"]
    assert schema["class_names"] == ["sick", "well"] and schema["id"] == "pid"
    assert state["path"] == str(checkpoint.parents[2] / "train" / "patients.csv")
    assert schema["numeric"] == ["age", "bmi"] and schema["categories"]["city"] == ["Ames", "Bonn", "Cork"]
    assert schema["kinds"] == {"age": "number", "bmi": "number", "smoker": "text", "city": "text"}
    assert len(schema["mean"]) == 2 and schema["with_missing"] == ["age", "city"]
    Path(stored_config(load_checkpoint(checkpoint))["data"]["path"]).unlink()
    _, datamodule, _, _ = rebuild(checkpoint)  # no file left to read: the checkpoint is enough
    assert datamodule.describe()["num_features"] == 11


def test_predict_matches_columns_by_name(trained_table, tmp_path, caplog):
    checkpoint, columns = trained_table
    rows = {k: v[:25] for k, v in columns.items() if k not in ("Outcome", "const")}
    plain = predicted(tmp_path, checkpoint, write_table(tmp_path / "in.csv", rows), "plain")
    shuffled = {k: rows[k] for k in ["city", "bmi", "pid", "smoker", "age"]}
    shuffled["notes"] = ["x"] * 25
    caplog.set_level(logging.INFO)
    moved = predicted(tmp_path, checkpoint, write_table(tmp_path / "in.parquet", shuffled), "moved")
    assert moved == plain
    assert list(plain[0]) == ["pid", "class", "p_sick", "p_well"]
    assert [r["pid"] for r in plain] == rows["pid"]
    assert all(r["class"] in ("sick", "well") for r in plain)
    assert all(abs(float(r["p_sick"]) + float(r["p_well"]) - 1) < 1e-5 for r in plain)
    assert any("ignored: ['notes']" in r.getMessage() for r in caplog.records)


def test_predict_gives_the_models_test_probabilities(trained_table, tmp_path):
    checkpoint, columns = trained_table
    config, _, model, _ = rebuild(checkpoint)
    rows = {k: v for k, v in columns.items() if k != "Outcome"}
    got = predicted(tmp_path, checkpoint, write_table(tmp_path / "all.tsv", rows), "all")
    # The training run's test split, read again from its file with its settings.
    data = TableDataModule(path=config.data.path, target="Outcome", id="pid", seed=config.data.seed)
    data.setup("fit")
    generator = torch.Generator().manual_seed(data.seed)
    test = stratified_split(data.rows[1], data.val_fraction, data.test_fraction, generator)[2]
    with torch.inference_mode():
        expected = model.probabilities(model(data.splits["test"][0]))[:, 1]
    assert [float(got[i]["p_well"]) for i in test.tolist()] == pytest.approx(expected.tolist(), abs=1e-6)


def test_unseen_categories_are_unknown_and_counted(trained_table, tmp_path, caplog):
    checkpoint, columns = trained_table
    rows = {k: v[:6] for k, v in columns.items() if k != "Outcome"}
    rows["city"] = ["Dax", "Dax", "Ames", None, "Erfurt", "Bonn"]
    caplog.set_level(logging.WARNING)
    got = predicted(tmp_path, checkpoint, write_table(tmp_path / "new.csv", rows), "new")
    assert len(got) == 6
    assert any("3 values of 'city' unseen in training" in r.getMessage() for r in caplog.records)


def test_a_missing_feature_column_is_named(trained_table, tmp_path):
    checkpoint, columns = trained_table
    rows = {k: v[:5] for k, v in columns.items() if k not in ("Outcome", "bmi")}
    with pytest.raises(ValueError, match=r"lacks the feature columns \['bmi'\]"):
        predicted(tmp_path, checkpoint, write_table(tmp_path / "nobmi.csv", rows), "nobmi")


def test_text_where_a_number_was_is_refused(trained_table, tmp_path):
    checkpoint, columns = trained_table
    rows = {k: v[:5] for k, v in columns.items() if k != "Outcome"}
    rows["bmi"] = ["high", "low", "25", "30", "n/a"]
    pq.write_table(pa.table(rows), tmp_path / "text.parquet")
    with pytest.raises(ValueError, match=r"column 'bmi' holds string values, but was number in training"):
        predicted(tmp_path, checkpoint, tmp_path / "text.parquet", "text")


def test_eval_recomputes_a_table_runs_test_metrics(compose_config, tmp_path, monkeypatch):
    # Trained on a path relative to where it ran, evaluated from elsewhere: the checkpoint knows the file.
    write_table(tmp_path / "here" / "t.csv.gz", mixed_rows())
    monkeypatch.chdir(tmp_path / "here")
    train(compose_config("data=table", "data.path=t.csv.gz", "data.target=Outcome", "data.id=pid",
                         "trainer.max_epochs=3", "trainer.accelerator=cpu", "~logger"))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    checkpoint = next((tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt"))
    cfg = compose("eval", f"ckpt_path={checkpoint}", f"paths.log_dir={tmp_path / 'logs'}",
                  f"paths.output_dir={tmp_path / 'eval'}")  # fmt: skip
    assert evaluate(cfg) == {k: v for k, v in metrics.items() if k.startswith("test/")}


def test_a_regression_table_trains_and_predicts_by_id(compose_config, tmp_path):
    columns = {k: v for k, v in mixed_rows().items() if k != "Outcome"}
    path = write_table(tmp_path / "bmi.parquet", columns)
    cfg = compose_config("data=table", f"data.path={path}", "data.target=bmi", "data.id=pid",
                         "model=regressor", "optimized_metric=val/r2", "trainer.max_epochs=2",
                         "trainer.accelerator=cpu", "~logger")  # fmt: skip
    train(cfg)
    assert cfg.from_data.num_classes is None and cfg.from_data.num_targets == 1
    rows = {k: v[:4] for k, v in columns.items() if k != "bmi"}
    got = predicted(
        tmp_path, tmp_path / "run" / "checkpoints" / "last.ckpt", write_table(tmp_path / "x.csv", rows), "x"
    )
    assert list(got[0]) == ["pid", "prediction"] and [r["pid"] for r in got] == rows["pid"]


def test_eval_refuses_a_file_whose_columns_changed(trained_table, tmp_path):
    checkpoint, columns = trained_table
    columns["city"][0] = "Dax"  # a category training did not have
    write_table(tmp_path / "train" / "patients.csv", columns)
    cfg = compose("eval", f"ckpt_path={checkpoint}", f"paths.log_dir={tmp_path / 'logs'}",
                  f"paths.output_dir={tmp_path / 'eval'}")  # fmt: skip
    with pytest.raises(
        ValueError, match=r"patients.csv: its columns are not those the checkpoint was trained on"
    ):
        evaluate(cfg)


def test_a_table_cross_validates_and_its_folds_predict(compose_config, tmp_path):
    path = write_table(tmp_path / "t.tsv", mixed_rows())
    options = ["data.target=Outcome", "data.id=pid", "cv.folds=3", "trainer.max_epochs=2", "~logger"]
    train(compose_config("data=table", f"data.path={path}", "trainer.accelerator=cpu", *options))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["cv"]["folds"] == 3 and len(metrics["cv"]["metrics"]["test/acc"]["per_fold"]) == 3
    rows = {k: v[:8] for k, v in mixed_rows().items() if k != "Outcome"}
    got = predicted(tmp_path, tmp_path / "run", write_table(tmp_path / "x.csv", rows), "cv")
    assert [r["pid"] for r in got] == rows["pid"] and list(got[0]) == ["pid", "class", "p_sick", "p_well"]
