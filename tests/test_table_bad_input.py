"""data=table refuses bad input with an error naming the value and the fix, and writes nothing: the data
folder is left as it was, and the run folder says only that the run failed (status.json, error.txt)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from table_files import mixed_rows, write_table

from litlab.data.table import TableDataModule
from litlab.train import train


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def small(**changes) -> dict[str, list]:
    columns = {k: v[:40] for k, v in mixed_rows().items()}
    return {**columns, **changes}


def empty(path: Path) -> Path:
    path.write_text("")
    return path


def header_only(path: Path) -> Path:
    path.write_text("a,b,Outcome\n")
    return path


def duplicate_names(path: Path) -> Path:
    path.write_text("a,a,Outcome\n1,2,x\n3,4,y\n5,6,x\n")
    return path


def semicolons(path: Path) -> Path:
    write_table(path, small(), sep=";")
    return path


def nested(path: Path) -> Path:
    pq.write_table(pa.table({"x": [[1, 2], [3]], "Outcome": ["a", "b"]}), path.with_suffix(".parquet"))
    return path.with_suffix(".parquet")


def table(**changes):
    return lambda path: write_table(path, small(**changes))


# (writer of the file, extra data options, the error's words)
CASES = {
    "missing file": (
        lambda path: path.with_name("absent.csv"),
        {},
        r"data.path=.*absent.csv: the file does not exist",
    ),
    "missing target": (
        table(),
        {"target": "Diagnosis"},
        r"data.target='Diagnosis' is not a column .*\['pid', 'age'",
    ),
    "one class": (
        table(Outcome=["well"] * 40),
        {"id": "pid"},
        r"the target 'Outcome' has one class only \('well'",
    ),
    "empty file": (empty, {}, r"the file is empty; give a table with a header row"),
    "header only": (header_only, {}, r"has a header \(3 columns: \['a', 'b', 'Outcome'\]\) but no rows"),
    "duplicate columns": (duplicate_names, {}, r"duplicate column names \['a'\]; .*rename them"),
    "every feature constant": (
        table(age=[3] * 40, bmi=[1.5] * 40, smoker=["no"] * 40, city=["Ames"] * 40),
        {"id": "pid"},
        r"every feature column is constant \(\['age', 'bmi', 'smoker', 'city', 'const'\]\)",
    ),
    "every feature dropped": (table(), {"id": "pid", "features": []}, r"no feature columns are left"),
    "a feature all missing": (
        table(city=[None] * 40),
        {"id": "pid"},
        r"'city' is missing in every row.*data.drop=\[city\]",
    ),
    "an id-like text column": (
        table(),
        {},
        r"text column 'pid' has a different value in every one of its 40 rows.*data.id=pid",
    ),
    "wrong separator": (
        semicolons,
        {"sep": ","},
        r"one column found \('pid;age;.*with the separator ','.*data.sep",
    ),
    "regression target with NaN": (
        table(bmi=[None, *mixed_rows()["bmi"][1:40]]),
        {"target": "bmi", "id": "pid"},
        r"regression target 'bmi' is missing or not finite in 1 rows \(the first: data row 1\)",
    ),
    "nested parquet": (nested, {}, r"nested columns \['x \(list<element: int64>\)'\].*flatten"),
    "unknown task": (
        table(),
        {"id": "pid", "task": "ranking"},
        r"data.task='ranking': give classification, regression",
    ),
    "unknown column to drop": (table(), {"id": "pid", "drop": ["zip"]}, r"data.drop: \['zip'\] not columns"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_with_the_fix(tmp_path, case):
    write, options, message = CASES[case]
    folder = tmp_path / "data"
    folder.mkdir()
    path = write(folder / "t.csv")
    before = files(folder)
    options = {"target": "Outcome", **options}
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        TableDataModule(path=str(path), **options).setup("fit")
    assert files(folder) == before


def test_a_gzip_that_is_not_gzip_is_named(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"t.csv.gz: cannot be read"):
        TableDataModule(path=str(path), target="y").setup()
    with gzip.open(tmp_path / "ok.csv.gz", "wt") as f:
        f.write("x,y\n1,a\n2,b\n3,a\n4,b\n5,a\n6,b\n7,a\n8,b\n9,a\n10,b\n")
    TableDataModule(path=str(tmp_path / "ok.csv.gz"), target="y", val_fraction=0.2).setup()


def test_a_failed_table_run_leaves_only_its_failure(compose_config, tmp_path):
    path = write_table(tmp_path / "in" / "t.csv", small())
    before = files(tmp_path / "in")
    cfg = compose_config("data=table", f"data.path={path}", "data.target=Diagnosis")
    with pytest.raises(ValueError, match=r"data.target='Diagnosis' is not a column"):
        train(cfg)
    assert files(tmp_path / "in") == before
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["error.txt", "status.json"]
