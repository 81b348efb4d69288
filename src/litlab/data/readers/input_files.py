"""Samples to predict from files: CSV rows of raw features, a .npy array, or an IDX image file."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np

from litlab.data.readers.csv_table import read_csv_table
from litlab.data.readers.mnist_files import read_idx

FORMATS = "a .csv / .csv.gz of feature rows (header optional), a .npy array, or an IDX file (*-ubyte[.gz])"


def read_inputs(path: str | Path, header: bool | None = None) -> np.ndarray:
    """The samples in `path`, one per row (tables) or per leading index (images), as stored. A CSV's
    first line is a header if `header`, or when None if none of its cells is a number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input {path} does not exist; give {FORMATS}")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return read_csv_table(path, header=has_header(path) if header is None else header).values
    if name.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: not a plain .npy array ({err}); save it with numpy.save") from err
    if name.endswith(("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")):
        return read_idx(path)
    raise ValueError(f"input {path}: unknown format; give {FORMATS}")


def has_header(path: Path) -> bool:
    """The first line is a header when none of its cells is a number."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        first = next(csv.reader(f), [])
    return bool(first) and not any(is_number(cell) for cell in first)


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
