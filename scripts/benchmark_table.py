"""Reading and setting up a user's table (data=table): seconds and peak memory, in a process of its own.

    python scripts/benchmark_table.py --write t.csv [--rows 200000 --columns 50]   # the test table
    python scripts/benchmark_table.py t.csv          # one JSON line: seconds, peak and matrix bytes

The table mixes 40 numeric columns (4 decimals, 1% missing) and 10 text columns of 3-12 categories
(1% missing), then a 0/1 target. The peak is the growth of the process's peak resident memory during
`TableDataModule(...).setup()` (resource.getrusage), against the size of the float32 feature matrix
it builds (rows x encoded features x 4 bytes).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path


def write_test_table(path: Path, rows: int, columns: int, seed: int = 0) -> None:
    """A mixed table of `columns` features (a fifth of them text) and a target, written by pyarrow."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    texts = columns // 5
    data = {}
    for j in range(columns - texts):
        values = np.round(rng.normal(j, 1 + j % 3, rows), 4)  # as measured data is written
        data[f"x{j}"] = pa.array(values, mask=rng.random(rows) < 0.01)
    for j in range(texts):
        names = np.array([f"c{j}_{k}" for k in range(3 + j)])
        data[f"t{j}"] = pa.array(names[rng.integers(0, len(names), rows)], mask=rng.random(rows) < 0.01)
    data["y"] = pa.array((rng.random(rows) < 0.4).astype(np.int64))
    pacsv.write_csv(pa.table(data), path)


def peak_bytes() -> int:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec; ru_maxrss does not (it
    keeps the parent's peak at fork: run from scripts/benchmark.py, with MNIST loaded, it showed 0 growth)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def measure(path: Path) -> dict[str, float]:
    """Seconds and peak memory growth of reading and setting up `path` with TableDataModule."""
    import torch

    from litlab.data.table import TableDataModule

    torch.set_num_threads(1)  # the benchmark's rule; pyarrow parses with its own threads (all cores)

    dm = TableDataModule(path=str(path), target="y", seed=0)
    before = peak_bytes()
    start = time.perf_counter()
    dm.setup("fit")
    seconds = time.perf_counter() - start
    growth = peak_bytes() - before
    rows = sum(len(y) for _, y in dm.splits.values())
    matrix = rows * dm.describe()["num_features"] * 4
    return {"seconds": seconds, "peak_bytes": growth, "matrix_bytes": matrix, "rows": rows,
            "features": dm.describe()["num_features"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--write", action="store_true", help="write the test table to PATH instead")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=50)
    args = parser.parse_args()
    if args.write:
        write_test_table(args.path, args.rows, args.columns)
    else:
        print(json.dumps(measure(args.path)))


if __name__ == "__main__":
    main()
