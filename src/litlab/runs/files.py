"""The results a finished run leaves in its folder: metrics.json and the resolved config (and how the
YAML files litlab, OmegaConf and Hydra write are read back)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from litlab.runs.layout import CONFIG_FILE, METRICS_FILE
from litlab.runtime.files import write_text_atomic


def write_metrics(run_dir: Path, metrics: dict[str, float], fit: dict[str, Any] | None = None) -> None:
    """`metrics.json`: the final metrics, sorted by name, and under "fit" which epoch they come from
    (runs/fit_report.py)."""
    write_text_atomic(run_dir / METRICS_FILE, metrics_text(metrics, fit))


def metrics_text(metrics: dict[str, float], fit: dict[str, Any] | None = None) -> str:
    """metrics.json's text: the metrics by name, then the fit section when there is one."""
    return json.dumps({**dict(sorted(metrics.items())), **({"fit": fit} if fit else {})}, indent=2) + "\n"


def read_metrics(run_dir: Path) -> dict[str, float]:
    """The metrics a finished run wrote (a CV run: their means; the detail under "cv" is left out)."""
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def read_fold_metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    """A CV run's value of every metric on every fold, {"val/acc": {"fold_0_0": 0.8, ...}} (runs/folds.py
    writes them under "cv"); {} for a single run."""
    detail = json.loads((run_dir / METRICS_FILE).read_text()).get("cv", {}).get("metrics", {})
    return {name: {fold: float(v) for fold, v in d.get("per_fold", {}).items()} for name, d in detail.items()}


def read_yaml(path: Path) -> Any:
    """A YAML file that OmegaConf, Hydra or yaml.safe_dump wrote (config.yaml, .hydra/*.yaml, multirun.yaml,
    hparams.yaml) as plain dicts and lists, by libyaml's loader: the values that
    `OmegaConf.to_container(OmegaConf.load(path))` gives (OmegaConf writes every float with a dot or as
    .inf/.nan, and quotes the strings YAML would read as something else), in a fifteenth of its time; a
    sweep's summary reads every job's files."""
    value = yaml.load(
        Path(path).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    return {} if value is None else value  # an empty file: OmegaConf.load's empty config


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config a run wrote, as plain dicts and lists; None when it has no config.yaml."""
    path = run_dir / CONFIG_FILE
    return read_yaml(path) if path.exists() else None


def write_config(run_dir: Path, cfg: DictConfig) -> None:
    """`config.yaml`: the resolved config."""
    write_text_atomic(run_dir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))
