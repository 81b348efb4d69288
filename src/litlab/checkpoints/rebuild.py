"""Rebuild a trained run's DataModule and LightningModule from its checkpoint alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from litlab.checkpoints.contents import stored_config
from litlab.checkpoints.io import load_checkpoint


def run_config(checkpoint: dict[str, Any], path: str | Path) -> DictConfig:
    """The resolved config that train.py stored in the checkpoint (sizes from the data included)."""
    saved = stored_config(checkpoint)
    if saved is None:
        raise ValueError(
            f"checkpoint {path} carries no litlab config: it was not written by litlab's train.py. "
            "Give a checkpoint from a run's checkpoints/ folder"
        )
    return OmegaConf.create(saved)


def build_model(config: DictConfig, checkpoint: dict[str, Any], strict: bool = True) -> Any:
    """The LightningModule of a run's config with the checkpoint's weights, in eval mode."""
    model = instantiate(config.model)
    model.load_state_dict(checkpoint["state_dict"], strict=strict)
    model.on_load_checkpoint(checkpoint)
    return model.eval()


def load_model(
    path: str | Path,
    expected: type,
    map_location: Any = None,
    strict: bool = True,
    weights_only: bool | None = True,
) -> Any:
    """`Classifier.load_from_checkpoint(path)`: the trained model, its net rebuilt from the stored config,
    on the device `map_location` names (a device, or a string such as "cuda:0"; CPU when None)."""
    checkpoint = load_checkpoint(path, map_location="cpu", weights_only=weights_only)
    model = build_model(run_config(checkpoint, path), checkpoint, strict=strict)
    if isinstance(map_location, (str, torch.device)):
        model = model.to(map_location)
    if not isinstance(model, expected):
        raise TypeError(
            f"checkpoint {path} holds a {type(model).__name__}, not a {expected.__name__}; load it with "
            f"{type(model).__name__}.load_from_checkpoint"
        )
    return model


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
    # Refused by the data module itself when the state it needs is missing (an older checkpoint).
    datamodule.load_state_dict(checkpoint.get(type(datamodule).__qualname__) or {})
    return config, datamodule, build_model(config, checkpoint), checkpoint
