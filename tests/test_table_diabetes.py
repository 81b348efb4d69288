"""The lectures' diabetes file as a table with a header: `experiment=diabetes data=table` gives the same
splits and the same metrics as the experiment's own header-less file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from litlab.data.diabetes import DiabetesDataModule
from litlab.train import setup_data, train

# The UCI names of the features. The label is not called Outcome: this copy codes the larger class 1,
# most likely "no diabetes", the opposite of UCI's Outcome (see the data set's PROVENANCE.md).
HEADER = "Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,DiabetesPedigreeFunction,Age,label"


def with_header(data_dir: Path, path: Path) -> Path:
    """The diabetes file under `data_dir` behind a header row, its labels written as the class names
    (sorted, they keep the codes: 0 "diabetes", 1 "no diabetes"), its features unchanged."""
    names = DiabetesDataModule.class_names
    with gzip.open(DiabetesDataModule.file(data_dir), "rt") as f:
        rows = [line.rsplit(",", 1) for line in f.read().splitlines() if line]
    lines = [f"{features},{names[int(float(label))]}" for features, label in rows]
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


@pytest.mark.parametrize(
    "source", ["data_dir", pytest.param("real_data_dir", marks=pytest.mark.data)]
)  # the example files of the tests' data folder, and the real file when LITLAB_DATA_DIR has it
def test_header_diabetes_as_a_table_gives_the_same_splits_and_metrics(
    compose_config, tmp_path, request, source
):
    data_dir = request.getfixturevalue(source)
    table = with_header(data_dir, tmp_path / "diabetes.csv")
    common = ["experiment=diabetes", f"paths.data_dir={data_dir}", "trainer.max_epochs=4", "~logger"]
    as_table = ["data=table", f"data.path={table}", "data.target=label"]

    own, other = setup_data(compose_config(*common)), setup_data(compose_config(*common, *as_table))
    for split in ("train", "val", "test"):
        assert torch.equal(own.splits[split][0], other.splits[split][0]), split
        assert torch.equal(own.splits[split][1], other.splits[split][1]), split
    assert other.describe()["class_names"] == own.describe()["class_names"] == ["diabetes", "no diabetes"]
    assert other.describe()["feature_names"] == HEADER.split(",")[:-1]

    train(compose_config(*common, run_dir=tmp_path / "file"))
    train(compose_config(*common, *as_table, run_dir=tmp_path / "table"))
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("file", "table")]
    assert metrics[0] == metrics[1]
