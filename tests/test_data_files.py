"""Reading the tabular files: good files load, bad ones fail with errors that name the value and the fix."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from litlab.data import BreastCancerDataModule, CAFDataModule, DiabetesDataModule


def write_diabetes(data_dir: Path, rows: int = 120) -> Path:
    """The data module's example table under `data_dir`; its path."""
    DiabetesDataModule.write_example_files(data_dir, rows=rows)
    return DiabetesDataModule.file(data_dir)


def write_caf(data_dir: Path, cells: int) -> Path:
    """The data module's example pair under `data_dir`; their folder."""
    CAFDataModule.write_example_files(data_dir, cells=cells)
    return data_dir / "caf"


def rewrite_line(path: Path, line: int, text: str) -> None:
    """Replace one line (1-based) of a gzipped CSV."""
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    lines[line - 1] = text
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")


def test_diabetes_loads_features_and_labels(tmp_path):
    write_diabetes(tmp_path, rows=50)
    dm = DiabetesDataModule(data_dir=str(tmp_path))
    x, y = dm.load()
    assert x.shape == (50, 8) and y.shape == (50,)
    assert set(np.unique(y)) <= {0, 1} and y.dtype == np.int64


def test_missing_file_without_network_names_path_and_url(tmp_path, monkeypatch):
    monkeypatch.setattr(DiabetesDataModule, "URL", (tmp_path / "offline" / "diabetes.csv.gz").as_uri())
    dm = DiabetesDataModule(data_dir=str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert str(dm.path) in message and DiabetesDataModule.URL in message and "place it at" in message
    assert list((tmp_path / "data" / "diabetes").iterdir()) == []  # nothing half-written


def test_download_is_verified_and_atomic(tmp_path, monkeypatch):
    source = write_diabetes(tmp_path / "mirror")
    monkeypatch.setattr(DiabetesDataModule, "URL", source.as_uri())
    monkeypatch.setattr(DiabetesDataModule, "SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    dm = DiabetesDataModule(data_dir=str(tmp_path / "data"))
    dm.prepare_data()
    assert dm.path.read_bytes() == source.read_bytes()
    assert [p.name for p in dm.path.parent.iterdir()] == ["diabetes.csv.gz"]


def test_checksum_mismatch_writes_nothing(tmp_path, monkeypatch):
    source = write_diabetes(tmp_path / "mirror")
    monkeypatch.setattr(DiabetesDataModule, "URL", source.as_uri())
    monkeypatch.setattr(DiabetesDataModule, "SHA256", "0" * 64)
    dm = DiabetesDataModule(data_dir=str(tmp_path / "data"))
    with pytest.raises(ValueError, match="checksum mismatch.*expected 0000") as err:
        dm.prepare_data()
    assert hashlib.sha256(source.read_bytes()).hexdigest() in str(err.value)
    assert not dm.path.exists() and list(dm.path.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (
            "0.1,0.2,0.3,0.4,0.5,0.6,0.7,1",
            r"line 7 has 8 comma-separated cells, expected 9 as on line 1",
        ),
        ("0.1,0.2,abc,0.4,0.5,0.6,0.7,0.8,1", r"line 7, column 3 is 'abc', not a number"),
        ("0.1,0.2,0.3,nan,0.5,0.6,0.7,0.8,1", r"line 7, column 4 is 'nan' \(NaN\)"),
        ("0.1,0.2,0.3,,0.5,0.6,0.7,0.8,1", r"line 7, column 4 is '', not a number"),
        (
            "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,2",
            r"label column \(last\) must be 0 or 1, but line 7 has 2",
        ),
    ],
    ids=["column-count", "non-numeric", "nan", "empty-cell", "label-outside-0-1"],
)
def test_bad_diabetes_rows_are_pinpointed(tmp_path, line, match):
    path = write_diabetes(tmp_path)
    rewrite_line(path, 7, line)
    with pytest.raises(ValueError, match=match) as err:
        DiabetesDataModule(data_dir=str(tmp_path)).load()
    assert str(path) in str(err.value)


def test_sizes_and_names_come_from_the_data(tmp_path):
    write_diabetes(tmp_path, rows=60)
    diabetes = DiabetesDataModule(data_dir=str(tmp_path))
    diabetes.setup()
    assert diabetes.describe() == {
        "input_shape": [8], "num_features": 8, "num_classes": 2, "class_names": ["diabetes", "no diabetes"],
        "feature_names": [], "num_targets": None,
    }  # fmt: skip
    cancer = BreastCancerDataModule()
    cancer.setup()
    described = cancer.describe()
    assert described["num_features"] == 30 and described["class_names"] == ["malignant", "benign"]
    assert described["feature_names"][:2] == ["mean radius", "mean texture"]
    assert len(described["feature_names"]) == 30 and described["num_targets"] is None
    with pytest.raises(RuntimeError, match=r"not described yet; call prepare_data\(\) and setup\(\)"):
        BreastCancerDataModule().describe()


@pytest.mark.parametrize(
    ("labels", "seen"),
    [(lambda y: np.where(y == 1, 3, y), r"\[0, 3\]"), (lambda y: y + 1, r"\[1, 2\]")],
    ids=["a-gap", "from-one"],
)
def test_labels_must_be_0_to_k_minus_1(labels, seen):
    dm = BreastCancerDataModule()
    x, y = dm.load()
    dm.load = lambda: (x, labels(y))
    with pytest.raises(ValueError, match=rf"labels must be the integers 0..1 .*labels seen are {seen}"):
        dm.setup()


def test_undeclared_classes_are_counted_from_the_labels(tmp_path):
    write_diabetes(tmp_path)
    dm = DiabetesDataModule(data_dir=str(tmp_path))
    dm.class_names = ()  # a data set that names no classes
    x, y = dm.load()
    dm.load = lambda: (x, np.arange(len(y)) % 3)
    dm.setup()
    assert dm.describe()["num_classes"] == 3 and dm.describe()["class_names"] == ["0", "1", "2"]
    dm = DiabetesDataModule(data_dir=str(tmp_path))
    dm.class_names = ()
    dm.load = lambda: (x, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match=r"0..2, every class present, but the labels seen are \[0, 2\]"):
        dm.setup()


def test_fitted_state_round_trips_and_an_old_state_is_refused(tmp_path):
    folder = write_caf(tmp_path, cells=40)
    trained = CAFDataModule(data_dir=str(tmp_path))
    trained.setup()
    state = trained.state_dict()
    fresh = CAFDataModule(data_dir=str(folder / "nowhere"))  # no data: all from the state
    fresh.load_state_dict(state)
    assert fresh.describe() == trained.describe()
    assert fresh.describe()["class_names"] == ["vCAF", "mCAF", "cCAF", "dCAF"]
    assert fresh.describe()["feature_names"][:2] == ["Gene0", "Gene1"]
    raw = np.full((2, 557), 3.0)
    assert torch.equal(fresh.preprocess(raw), trained.preprocess(raw))
    with pytest.raises(
        ValueError, match=r"lacks the data module's fitted state .*no input_shape.*Train again"
    ):
        CAFDataModule(data_dir=str(tmp_path)).load_state_dict({"mean": state["mean"], "std": state["std"]})


def test_caf_joins_labels_by_cell_id(tmp_path):
    folder = write_caf(tmp_path, cells=40)
    dm = CAFDataModule(data_dir=str(tmp_path))
    raw, y = dm.load()
    x = dm.transform(raw)
    assert x.shape == (40, 557) and sorted(set(y.tolist())) == [0, 1, 2, 3]
    # The writer gives cluster c a large marker in gene c-1: the join must keep each row's own label.
    assert (x[:, :4].argmax(axis=1) == y).all()
    assert x.min() >= 0 and x.max() < 17  # log2(RPKM + 1)
    assert (folder / "CAF_cluster.csv").read_text().startswith('"","Cells","cluster"')


def test_caf_missing_files_say_what_to_place_where(tmp_path):
    dm = CAFDataModule(data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert "CAF_RPKM_716x557.csv" in message and "CAF_cluster.csv" in message
    assert str(tmp_path / "caf") in message and "LITLAB_DATA_DIR" in message


def test_caf_cell_ids_must_match(tmp_path):
    folder = write_caf(tmp_path, cells=40)
    labels = folder / "CAF_cluster.csv"
    labels.write_text(labels.read_text().replace("SS2_15_0048_A0", "SS2_99_XXXX_A0"))
    with pytest.raises(ValueError, match=r"cell ids do not match.*SS2_15_0048_A0.*SS2_99_XXXX_A0"):
        CAFDataModule(data_dir=str(tmp_path)).load()


def replace_cell(path: Path, line: int, column: int, value: str) -> None:
    """Overwrite one cell (0-based line and column) of a plain CSV file."""
    lines = path.read_text().splitlines()
    cells = lines[line].split(",")
    cells[column] = value
    lines[line] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_caf_cluster_outside_1_to_4(tmp_path):
    folder = write_caf(tmp_path, cells=40)
    replace_cell(folder / "CAF_cluster.csv", line=3, column=2, value="7")
    with pytest.raises(ValueError, match=r"clusters \[7\] lie outside 1..4"):
        CAFDataModule(data_dir=str(tmp_path)).load()


def test_caf_non_numeric_expression(tmp_path):
    folder = write_caf(tmp_path, cells=40)
    replace_cell(folder / "CAF_RPKM_716x557.csv", line=5, column=10, value="n/a")
    with pytest.raises(ValueError, match=r"line 6, column 11 is 'n/a', not a number"):
        CAFDataModule(data_dir=str(tmp_path)).load()
