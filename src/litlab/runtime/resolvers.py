"""OmegaConf resolvers used by conf/ (light: importing this must not import torch)."""

from pathlib import Path

from omegaconf import OmegaConf

from litlab.runs.layout import claim_new_folder, job_folder_name, run_folder, sweep_folder, swept_keys
from litlab.runtime.objective import metric_mode, optuna_direction

# src/litlab/runtime/resolvers.py -> the checkout that holds conf/, data/ and logs/.
REPO_ROOT = Path(__file__).resolve().parents[3]


def num_outputs(num_classes: int | None) -> int:
    """Width of a classifier's last layer: one logit for a binary task, one per class otherwise."""
    if num_classes is None:
        raise ValueError(
            "the data has float targets (a regression), but the model is a classifier: use "
            "model=regressor optimized_metric=val/r2 (litlab.models.Regressor), or give the data class labels"
        )
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, the data has {num_classes}")
    return 1 if num_classes == 2 else num_classes


def job_folder(num: int, overrides: list[str], sweep_dir: str, params: dict | None) -> str:
    """A sweep job's folder name (hydra.sweep.subdir): its number and swept values, runs/layout.py."""
    return job_folder_name(num, overrides, swept_keys(sweep_dir, params))


def register_resolvers() -> None:
    """Register litlab's resolvers once (safe to call again)."""
    OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)
    OmegaConf.register_new_resolver("num_outputs", num_outputs, replace=True)
    OmegaConf.register_new_resolver("optuna_direction", optuna_direction, replace=True)
    OmegaConf.register_new_resolver("metric_mode", metric_mode, replace=True)
    # Cached: a folder is claimed once, however often Hydra reads the value (Hydra copies the cache
    # into every job config of a sweep, so all jobs see the same sweep folder).
    OmegaConf.register_new_resolver("job_folder", job_folder, replace=True)
    OmegaConf.register_new_resolver("run_folder", run_folder, replace=True, use_cache=True)
    OmegaConf.register_new_resolver("sweep_folder", sweep_folder, replace=True, use_cache=True)
    OmegaConf.register_new_resolver(
        "new_folder", lambda parent: str(claim_new_folder(parent)), replace=True, use_cache=True
    )
