"""Shared fixtures: small data files in the real on-disk formats, config composition, real-data lookup."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import compose_config as compose
from hydra.utils import get_object
from omegaconf import DictConfig

from litlab.runtime.resolvers import REPO_ROOT
from litlab.train import setup_data

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


def data_modules() -> list[type]:
    """The data module classes that conf/data/*.yaml name by `_target_`."""
    targets = {
        yaml.safe_load(p.read_text())["_target_"] for p in (REPO_ROOT / "conf" / "data").glob("*.yaml")
    }
    return [get_object(target) for target in sorted(targets)]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder with small files, in the real formats, of every data set of conf/data/ that reads
    files: each data module that has `write_example_files` writes its own."""
    folder = tmp_path / "data"
    for module in data_modules():
        write = getattr(module, "write_example_files", None)
        if write is not None:
            write(folder)
    return folder


@pytest.fixture
def compose_config(tmp_path: Path, data_dir: Path) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml with overrides; outputs and data under tmp_path."""

    def _compose(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return compose(
            "train",
            f"paths.data_dir={data_dir}",
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.output_dir={run_dir or tmp_path / 'run'}",
            *overrides,
        )

    return _compose


@pytest.fixture
def sized_by_data() -> Callable[[DictConfig], DictConfig]:
    """Fill a composed config's `from_data` from its data module, as the training task does before it
    builds the model."""

    def _sized(cfg: DictConfig) -> DictConfig:
        setup_data(cfg)
        return cfg

    return _sized
