"""Logging: one copy of each console record, and a run's hyperparameters for TensorBoard's HParams tab."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Config sections that describe the experiment, logged as hyperparameters (HParams tab).
HPARAM_SECTIONS = ("task_name", "seed", "data", "model", "trainer")


def lightning_logs_through_hydra() -> None:
    """Call after importing lightning inside a Hydra task: its records then go to Hydra's console and file
    handlers only (the `lightning` package adds a console handler of its own on import)."""
    if logging.getLogger().hasHandlers():
        logging.getLogger("lightning").handlers.clear()


def log_hparams(loggers: list[Any], cfg: DictConfig, metrics: dict[str, float], step: int) -> None:
    """Log the resolved config with the final metrics, so TensorBoard's HParams tab compares runs."""
    from lightning.pytorch.loggers import TensorBoardLogger

    resolved = OmegaConf.to_container(cfg, resolve=True)
    params = {key: resolved[key] for key in HPARAM_SECTIONS if key in resolved}
    final = {f"final/{name}": value for name, value in metrics.items()}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, metrics=final)
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(final, step=step)
        logger.finalize("success")
