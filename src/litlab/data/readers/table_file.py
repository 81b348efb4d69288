"""Read a user's table (.csv, .tsv, .csv.gz, .tsv.gz, .parquet) with a header row into a pyarrow Table.

pyarrow reads the file (multithreaded CSV parsing, typed columns with nulls, gzip and Parquet natively).
What it does not do is guess a CSV's separator or decimal mark, so `sniff` does that from the first
lines: the separator that cuts every sampled line into the same number (> 1) of cells, and a decimal
comma when numbers such as 1,5 appear and none such as 1.5. Either can be set (`data.sep`,
`data.decimal`). Every refusal names the file, what was found and the option that fixes it.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pyarrow as pa

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
FORMATS = ".csv, .tsv, .csv.gz, .tsv.gz (a header row, then one row per sample) or .parquet"
SEPARATORS = (",", "\t", ";", "|")
SAMPLE_BYTES = 1 << 16
COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+$")
DOT_DECIMAL = re.compile(r"^[+-]?\d*\.\d+(e[+-]?\d+)?$", re.IGNORECASE)


def is_table_file(path: str | Path) -> bool:
    """Whether `path` names a format `read_table` reads."""
    return str(path).lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


def read_table(
    path: str | Path, sep: str | None = None, decimal: str | None = None, option: str = "data.path"
) -> pa.Table:
    """The table in `path`, columns typed by pyarrow (missing cells as nulls); refused when it has no
    rows, duplicate column names, a single column (a wrong separator) or nested Parquet types.
    `option` is the setting that named the file, for the errors."""
    path = Path(path)
    if not path.is_file():
        where = "is a folder" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"{option}={path}: the file {where}; give the path of a {FORMATS} file")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        table = read_parquet(path, option)
    elif name.endswith(CSV_SUFFIXES):
        sep, decimal = sniff(path, sep, decimal, option)
        table = read_csv(path, sep, decimal, option)
        if table.num_columns == 1:
            raise ValueError(
                f"{option}={path}: one column found ({table.column_names[0]!r}) with the separator "
                f"{sep!r}: the file's separator is another one. Give it, e.g. data.sep=';' or "
                "data.sep='\\t' (on the command line: 'data.sep=\";\"')"
            )
    else:
        raise ValueError(f"{option}={path}: unknown format {path.suffix!r}; give a {FORMATS} file")
    check_columns(table, path, option)
    return blank_to_null(table)


def blank_to_null(table: pa.Table) -> pa.Table:
    """Empty strings are missing, in Parquet text columns as in CSV cells."""
    import pyarrow.compute as pc

    for i, f in enumerate(table.schema):
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            column = table.column(i)
            blank = pc.equal(column, "")
            if pc.any(blank).as_py():
                table = table.set_column(i, f, pc.if_else(blank, pa.scalar(None, f.type), column))
    return table


def read_csv(path: Path, sep: str, decimal: str, option: str) -> pa.Table:
    """pyarrow's CSV reader; empty cells, NA, NaN, null ... are missing, in text columns too."""
    from pyarrow import csv as pacsv

    try:
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(decimal_point=decimal, strings_can_be_null=True),
        )
    except pa.ArrowInvalid as err:
        raise ValueError(
            f"{option}={path}: cannot be read as a table with separator {sep!r} ({err}). Check that "
            "every line has as many cells as the header, or give the separator (data.sep)"
        ) from err


def read_parquet(path: Path, option: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{option}={path}: not a readable Parquet file ({err}); write it again") from err


def sniff(path: Path, sep: str | None, decimal: str | None, option: str) -> tuple[str, str]:
    """The separator and decimal mark of a CSV: those given, else guessed from its first lines."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(SAMPLE_BYTES)
    except (OSError, EOFError) as err:
        raise ValueError(f"{option}={path}: cannot be read ({err}); replace it with a good copy") from err
    text = head.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    if len(head) == SAMPLE_BYTES and lines:
        lines.pop()  # cut in the middle
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError(
            f"{option}={path}: the file is empty; give a table with a header row and one row per sample"
        )
    if sep is None:
        sep = "\t" if ".tsv" in path.name.lower() else guess_separator(lines)
    if len(sep) != 1:
        raise ValueError(f"data.sep={sep!r}: give one character, such as ',', ';', '|' or '\\t'")
    if decimal is None:
        decimal = guess_decimal(lines[1:], sep)
    if decimal not in (".", ","):
        raise ValueError(f"data.decimal={decimal!r}: give '.' or ','")
    if decimal == sep:
        raise ValueError(f"data.decimal={decimal!r} is also the separator; give data.sep or data.decimal")
    return sep, decimal


def guess_separator(lines: list[str]) -> str:
    """The candidate that splits every line into the same number of cells, the most cells winning;
    "," when none splits them (the single-column check then says so)."""
    best, best_width = ",", 1
    for candidate in SEPARATORS:
        widths = {len(row) for row in csv.reader(lines, delimiter=candidate)}
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = candidate, width
    return best


def guess_decimal(rows: list[str], sep: str) -> str:
    """ "," when some cells read as decimal-comma numbers (1,5) and none as decimal-point ones (1.5)."""
    if sep == ",":
        return "."
    cells = [cell.strip() for row in csv.reader(rows, delimiter=sep) for cell in row]
    commas = sum(bool(COMMA_DECIMAL.match(cell)) for cell in cells)
    dots = sum(bool(DOT_DECIMAL.match(cell)) for cell in cells)
    return "," if commas and not dots else "."


def check_columns(table: pa.Table, path: Path, option: str) -> None:
    """Unique column names, flat types, and at least one row."""
    names = table.column_names
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"{option}={path}: duplicate column names {duplicates}; every column needs its own name: "
            "rename them in the file's header"
        )
    nested = [f"{f.name} ({f.type})" for f in table.schema if pa.types.is_nested(f.type)]
    if nested:
        raise ValueError(
            f"{option}={path}: nested columns {nested}; litlab reads flat tables of numbers, text and "
            "booleans: flatten them into columns of their own, or leave them out (data.drop=[...])"
        )
    if table.num_rows == 0:
        raise ValueError(
            f"{option}={path}: the file has a header ({len(names)} columns: {names[:10]}) but no rows; "
            "give a table with at least one row per sample"
        )
