"""Reading the tabular files: good files load, bad ones fail with errors that name the value and the fix."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from data_files import write_caf, write_diabetes

from litlab.data import BreastCancerDataModule, CAFDataModule, DiabetesDataModule

DIABETES = {"num_features": 8, "num_classes": 2}
CAF = {"num_features": 557, "num_classes": 4}


def rewrite_line(path: Path, line: int, text: str) -> None:
    """Replace one line (1-based) of a gzipped CSV."""
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    lines[line - 1] = text
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")


def test_diabetes_loads_features_and_labels(tmp_path):
    write_diabetes(tmp_path, rows=50)
    dm = DiabetesDataModule(data_dir=str(tmp_path), **DIABETES)
    x, y = dm.load()
    assert x.shape == (50, 8) and y.shape == (50,)
    assert set(np.unique(y)) <= {0, 1} and y.dtype == np.int64


def test_missing_file_without_network_names_path_and_url(tmp_path, monkeypatch):
    monkeypatch.setattr(DiabetesDataModule, "URL", (tmp_path / "offline" / "diabetes.csv.gz").as_uri())
    dm = DiabetesDataModule(data_dir=str(tmp_path / "data"), **DIABETES)
    with pytest.raises(FileNotFoundError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert str(dm.path) in message and DiabetesDataModule.URL in message and "place it at" in message
    assert list((tmp_path / "data" / "diabetes").iterdir()) == []  # nothing half-written


def test_download_is_verified_and_atomic(tmp_path, monkeypatch):
    source = write_diabetes(tmp_path / "mirror")
    monkeypatch.setattr(DiabetesDataModule, "URL", source.as_uri())
    monkeypatch.setattr(DiabetesDataModule, "SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    dm = DiabetesDataModule(data_dir=str(tmp_path / "data"), **DIABETES)
    dm.prepare_data()
    assert dm.path.read_bytes() == source.read_bytes()
    assert [p.name for p in dm.path.parent.iterdir()] == ["diabetes.csv.gz"]


def test_checksum_mismatch_writes_nothing(tmp_path, monkeypatch):
    source = write_diabetes(tmp_path / "mirror")
    monkeypatch.setattr(DiabetesDataModule, "URL", source.as_uri())
    monkeypatch.setattr(DiabetesDataModule, "SHA256", "0" * 64)
    dm = DiabetesDataModule(data_dir=str(tmp_path / "data"), **DIABETES)
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
        DiabetesDataModule(data_dir=str(tmp_path), **DIABETES).load()
    assert str(path) in str(err.value)


def test_feature_count_is_checked_against_the_config(tmp_path):
    write_diabetes(tmp_path)
    dm = DiabetesDataModule(data_dir=str(tmp_path), num_features=7, num_classes=2)
    with pytest.raises(ValueError, match=r"features of shape \(8,\), but data.num_features is 7"):
        dm.setup()


def test_labels_outside_num_classes_are_refused():
    dm = BreastCancerDataModule(num_features=30, num_classes=2)
    x, y = dm.load()
    dm.load = lambda: (x, np.where(y == 1, 3, y))
    with pytest.raises(ValueError, match=r"labels \[3\] lie outside 0..1.*data.num_classes"):
        dm.setup()


def test_caf_joins_labels_by_cell_id(tmp_path):
    folder = write_caf(tmp_path, cells=40)
    dm = CAFDataModule(data_dir=str(tmp_path), **CAF)
    raw, y = dm.load()
    x = dm.transform(raw)
    assert x.shape == (40, 557) and sorted(set(y.tolist())) == [0, 1, 2, 3]
    # The writer gives cluster c a large marker in gene c-1: the join must keep each row's own label.
    assert (x[:, :4].argmax(axis=1) == y).all()
    assert x.min() >= 0 and x.max() < 17  # log2(RPKM + 1)
    assert (folder / "CAF_cluster.csv").read_text().startswith('"","Cells","cluster"')


def test_caf_missing_files_say_what_to_place_where(tmp_path):
    dm = CAFDataModule(data_dir=str(tmp_path), **CAF)
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
        CAFDataModule(data_dir=str(tmp_path), **CAF).load()


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
        CAFDataModule(data_dir=str(tmp_path), **CAF).load()


def test_caf_non_numeric_expression(tmp_path):
    folder = write_caf(tmp_path, cells=40)
    replace_cell(folder / "CAF_RPKM_716x557.csv", line=5, column=10, value="n/a")
    with pytest.raises(ValueError, match=r"line 6, column 11 is 'n/a', not a number"):
        CAFDataModule(data_dir=str(tmp_path), **CAF).load()
