"""Rebuild a trained run's DataModule and LightningModule from its checkpoint alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from litlab.checkpoint_io import load_checkpoint


def run_config(checkpoint: dict[str, Any], path: str | Path) -> DictConfig:
    """The resolved config that train.py stored in the checkpoint."""
    saved = checkpoint.get("litlab_config")
    if saved is None:
        raise ValueError(
            f"checkpoint {path} carries no litlab config: it was not written by litlab's train.py. "
            "Give a checkpoint from a run's checkpoints/ folder"
        )
    return OmegaConf.create(saved)


def rebuild(path: str | Path, data_dir: str | None = None) -> tuple[DictConfig, Any, Any, dict[str, Any]]:
    """(config, datamodule, model, checkpoint) of a checkpoint: the model holds the trained weights and the
    datamodule the fitted preprocessing (standardisation or channel statistics), without any data read.

    `data_dir` replaces where the training run read its data (data sets move between machines).
    """
    checkpoint = load_checkpoint(path)
    config = run_config(checkpoint, path)
    if data_dir is not None and "data_dir" in config.data:
        config.data.data_dir = data_dir
    datamodule = instantiate(config.data)
    state = checkpoint.get(type(datamodule).__qualname__)
    if state:
        datamodule.load_state_dict(state)
    model = instantiate(config.model)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return config, datamodule, model, checkpoint
