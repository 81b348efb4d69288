"""Shared fixtures: small data files in the real on-disk formats, config composition, real-data lookup."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from data_files import write_caf, write_cifar, write_diabetes, write_mnist
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


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder with small files of every data set, in the real formats."""
    folder = tmp_path / "data"
    write_diabetes(folder)
    write_caf(folder)
    write_mnist(folder / "MNIST" / "raw", n_train=120, n_test=30)
    write_cifar(folder, n=24)
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
