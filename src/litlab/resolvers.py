"""OmegaConf resolvers used by conf/ (light: importing this must not import torch)."""

import math
from pathlib import Path

from omegaconf import OmegaConf

# src/litlab/resolvers.py -> the checkout that holds conf/, data/ and logs/.
REPO_ROOT = Path(__file__).resolve().parents[2]


def num_outputs(num_classes: int) -> int:
    """Width of a classifier's last layer: one logit for a binary task, one per class otherwise."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}; set data.num_classes")
    return 1 if num_classes == 2 else num_classes


def optuna_direction(mode: str) -> str:
    """Optuna's word for a metric's mode: optimized_metric_mode=min -> minimize, max -> maximize."""
    directions = {"min": "minimize", "max": "maximize"}
    if mode not in directions:
        raise ValueError(f"optimized_metric_mode must be one of {list(directions)}, got {mode!r}")
    return directions[mode]


def numel(shape: list[int]) -> int:
    """Number of values in one sample of this shape: what an MLP sees after flattening an image."""
    return math.prod(shape)


def latest_run(runs_dir: str | Path) -> Path | None:
    """The run under `runs_dir` whose checkpoints/last.ckpt was written last; None when there is none."""
    candidates = list(Path(runs_dir).glob("*/checkpoints/last.ckpt"))
    return max(candidates, key=lambda p: p.stat().st_mtime).parent.parent if candidates else None


def run_dir(ckpt_path: str | None, runs_dir: str, timestamp: str) -> str:
    """A single run's folder: a new `<runs_dir>/<timestamp>`, or the folder of the run it resumes, so
    that a resumed run continues its checkpoints, TensorBoard curves and metrics in one place."""
    if not ckpt_path:
        return f"{runs_dir}/{timestamp}"
    if ckpt_path == "last":
        # No earlier run: a new folder, where the task then says clearly that there is nothing to resume
        # (an error raised here would come out of Hydra's startup as a traceback).
        return str(latest_run(runs_dir) or f"{runs_dir}/{timestamp}")
    path = Path(ckpt_path).absolute()
    return str(path.parent.parent) if path.parent.name == "checkpoints" else f"{runs_dir}/{timestamp}"


def register_resolvers() -> None:
    """Register litlab's resolvers once (safe to call again)."""
    OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)
    OmegaConf.register_new_resolver("num_outputs", num_outputs, replace=True)
    OmegaConf.register_new_resolver("optuna_direction", optuna_direction, replace=True)
    OmegaConf.register_new_resolver("numel", numel, replace=True)
    OmegaConf.register_new_resolver("run_dir", run_dir, replace=True)
