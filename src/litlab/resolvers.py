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


def register_resolvers() -> None:
    """Register litlab's resolvers once (safe to call again)."""
    OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)
    OmegaConf.register_new_resolver("num_outputs", num_outputs, replace=True)
    OmegaConf.register_new_resolver("optuna_direction", optuna_direction, replace=True)
    OmegaConf.register_new_resolver("numel", numel, replace=True)
