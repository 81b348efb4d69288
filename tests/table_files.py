"""Small tables in every format data=table reads, written by the tests themselves: mixed types, missing
values, a constant column and an id."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ["csv", "tsv", "csv.gz", "parquet"]


def mixed_rows(n: int = 120, seed: int = 0) -> dict[str, list]:
    """Columns: pid (an id), age (int, some missing), bmi (float), smoker (yes/no), city (text, some
    missing), const (one value), Outcome (sick/well, following bmi and smoker)."""
    rng = np.random.default_rng(seed)
    bmi = np.round(rng.normal(25, 4, n), 2)
    smoker = rng.choice(["yes", "no"], n)
    cities = rng.choice(["Ames", "Bonn", "Cork"], n)
    outcome = np.where(bmi + 3 * (smoker == "yes") + rng.normal(0, 1, n) > 26.5, "sick", "well")
    return {
        "pid": [f"p{i:03d}" for i in range(n)],
        "age": [None if i % 9 == 4 else int(a) for i, a in enumerate(rng.integers(20, 80, n))],
        "bmi": bmi.tolist(),
        "smoker": smoker.tolist(),
        "city": [None if i % 7 == 3 else str(c) for i, c in enumerate(cities)],
        "const": [1] * n,
        "Outcome": outcome.tolist(),
    }


def write_table(path: Path, columns: dict[str, list], sep: str | None = None, decimal: str = ".") -> Path:
    """`columns` as a file whose format follows the name (.csv, .tsv, .csv.gz, .parquet)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(pa.table(columns), path)
        return path
    sep = sep or ("\t" if ".tsv" in path.name else ",")

    def cell(value) -> str:
        if value is None:
            return ""
        text = str(value)
        return text.replace(".", decimal) if isinstance(value, float) else text

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as f:
        writer = csv.writer(f, delimiter=sep, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(v) for v in row] for row in zip(*columns.values(), strict=True))
    return path
