"""The results a finished run leaves in its folder: metrics.json and the resolved config."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from litlab.runs.layout import CONFIG_FILE, METRICS_FILE
from litlab.runtime.files import write_text_atomic


def write_metrics(run_dir: Path, metrics: dict[str, float]) -> None:
    """`metrics.json`: the final metrics, sorted by name."""
    write_text_atomic(run_dir / METRICS_FILE, json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def read_metrics(run_dir: Path) -> dict[str, float]:
    """The metrics a finished run wrote (a CV run: their means; the detail under "cv" is left out)."""
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def read_cv_detail(run_dir: Path) -> dict[str, dict]:
    """A CV run's per-metric detail: {name: {mean, std, ci95, n, per_fold}} ({} for a single run)."""
    return json.loads((run_dir / METRICS_FILE).read_text()).get("cv", {}).get("metrics", {})


def write_config(run_dir: Path, cfg: DictConfig) -> None:
    """`config.yaml`: the resolved config."""
    write_text_atomic(run_dir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))
