"""Where the callbacks' figures go: a PNG in the run folder and TensorBoard's Images tab."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from litlab.runtime.files import atomic_open
from litlab.runtime.hparams import FINAL


def publish_figure(trainer: L.Trainer, run_dir: Path, name: str, figure) -> None:
    """`<run dir>/<name>.png`, written atomically, and the image `~final/test/<name>` in every TensorBoard
    logger (with the final metrics, after the curves: runtime/tensorboard.py)."""
    with atomic_open(run_dir / f"{name}.png", "wb") as f:
        figure.savefig(f, format="png")
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(f"{FINAL}test/{name}", figure, trainer.global_step)
