"""Read a numeric CSV table (plain or .gz) with errors naming the bad line and cell; write one."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class CsvTable:
    """A numeric CSV table: float64 values, plus its header row and first (id) column when asked for."""

    values: np.ndarray
    header: list[str] | None
    index: list[str] | None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_csv_table(path: Path, *, header: bool = False, index_column: bool = False) -> CsvTable:
    """Read `path`: every line has as many cells as the first, all numbers (but an id column if asked)."""
    try:
        with _open_text(path) as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise ValueError(f"{path}: cannot be read as CSV text ({err}); replace it with a good copy") from err
    header_row = rows.pop(0) if header and rows else None
    rows = [(n, row) for n, row in enumerate(rows, start=2 if header else 1) if row]
    if not rows:
        raise ValueError(f"{path}: holds no data rows; replace it with a good copy")
    first_line, columns = rows[0][0], len(rows[0][1])
    for n, row in rows:
        if len(row) != columns:
            raise ValueError(
                f"{path}: line {n} has {len(row)} comma-separated cells, expected {columns} as on "
                f"line {first_line}; every line must have the same columns: fix or remove line {n}"
            )
    if header_row is not None and len(header_row) != columns:
        raise ValueError(f"{path}: the header has {len(header_row)} cells, expected {columns}")
    start = 1 if index_column else 0
    cells = [row[start:] for _, row in rows]
    try:
        values = np.asarray(cells, dtype=np.float64)
    except ValueError:
        values = None
    if values is None or np.isnan(values).any():
        _raise_first_bad_cell(path, rows, start)
    return CsvTable(
        values=values,
        header=header_row,
        index=[row[0] for _, row in rows] if index_column else None,
    )


def write_csv_table(
    path: Path, rows: Iterable[Sequence], header: Sequence[str] | None = None, quote_text: bool = False
) -> None:
    """Write rows (and a header) as CSV, gzipped when `path` ends in .gz; `quote_text` quotes every
    non-number, as R's write.csv does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        writer = csv.writer(
            f, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC if quote_text else csv.QUOTE_MINIMAL
        )
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


def _raise_first_bad_cell(path: Path, rows: list[tuple[int, list[str]]], start: int) -> None:
    for n, row in rows:
        for col, cell in enumerate(row[start:], start=start + 1):
            try:
                number = float(cell)
            except ValueError:
                raise ValueError(
                    f"{path}: line {n}, column {col} is {cell!r}, not a number; fix or remove that line"
                ) from None
            if np.isnan(number):
                raise ValueError(
                    f"{path}: line {n}, column {col} is {cell!r} (NaN); litlab does not impute "
                    "missing values: fill the cell or remove that line"
                )
    raise AssertionError("unreachable: a bad cell was detected but not found")
