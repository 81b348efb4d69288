"""Shared fixtures: small data files in the real on-disk formats, config composition, real-data lookup."""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from litlab.resolvers import REPO_ROOT

SLOW_REASON = "slow: runs with --run-slow, `make test-all` or LITLAB_RUN_SLOW=1 (CI sets it)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get("LITLAB_RUN_SLOW") == "1":
        return
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=SLOW_REASON))


@pytest.fixture
def real_data_dir() -> Path:
    """The reference data sets (LITLAB_DATA_DIR, else ../shared/datasets); skip when absent."""
    candidates = [os.environ.get("LITLAB_DATA_DIR"), REPO_ROOT.parent / "shared" / "datasets"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "diabetes" / "diabetes.csv.gz").exists():
            return Path(candidate)
    pytest.skip("real data not found: set LITLAB_DATA_DIR to a folder with diabetes/, caf/, MNIST/")


def write_diabetes(data_dir: Path, rows: int = 120, seed: int = 0) -> Path:
    """A diabetes.csv.gz like the course's: no header, 8 features in [-1, 1], then a 0/1 label."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(rows, 8))
    y = (x[:, :3].sum(axis=1) + 0.3 * rng.standard_normal(rows) > 0).astype(int)
    path = data_dir / "diabetes" / "diabetes.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(f"{v:g}" for v in row) + f",{label}" for row, label in zip(x, y, strict=True)]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_caf(data_dir: Path, cells: int = 80, genes: int = 557, seed: int = 0) -> Path:
    """The CAF pair: cells x genes RPKM (id column, gene header) and the Cells/cluster table."""
    rng = np.random.default_rng(seed)
    folder = data_dir / "caf"
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"SS2_15_00{48 + i % 2}_{chr(65 + i % 16)}{i}" for i in range(cells)]
    clusters = np.arange(cells) % 4 + 1
    rpkm = rng.exponential(5.0, size=(cells, genes)) * (rng.random((cells, genes)) > 0.8)
    rpkm[:, :4] += 50.0 * (clusters[:, None] == np.arange(1, 5))  # a marker gene per cluster
    with open(folder / "CAF_RPKM_716x557.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", *[f"Gene{g}" for g in range(genes)]])
        writer.writerows([cell, *map(repr, row.tolist())] for cell, row in zip(ids, rpkm, strict=True))
    order = rng.permutation(cells)  # the label file lists cells in another order: join by id
    with open(folder / "CAF_cluster.csv", "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(["", "Cells", "cluster"])
        writer.writerows([str(n + 1), ids[i], int(clusters[i])] for n, i in enumerate(order))
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder with small diabetes and CAF files."""
    folder = tmp_path / "data"
    write_diabetes(folder)
    write_caf(folder)
    return folder


@pytest.fixture
def compose_config(tmp_path: Path, data_dir: Path) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml with overrides; outputs and data under tmp_path."""

    def _compose(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
            return compose(
                config_name="train",
                overrides=[
                    f"paths.data_dir={data_dir}",
                    f"paths.log_dir={tmp_path / 'logs'}",
                    f"paths.output_dir={run_dir or tmp_path / 'run'}",
                    *overrides,
                ],
            )

    return _compose
