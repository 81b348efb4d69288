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


def numel(shape: list[int]) -> int:
    """Number of values in one sample of this shape: what an MLP sees after flattening an image."""
    return math.prod(shape)


def register_resolvers() -> None:
    """Register litlab's resolvers once (safe to call again)."""
    OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)
    OmegaConf.register_new_resolver("num_outputs", num_outputs, replace=True)
    OmegaConf.register_new_resolver("numel", numel, replace=True)
