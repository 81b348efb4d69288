"""Where the callbacks' figures go: a PNG in the run folder and TensorBoard's Images tab, each titled
with the run (its experiment and what it varied: runs/layout.run_title)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from litlab.runtime.files import atomic_open
from litlab.runtime.hparams import FINAL


def titled(figure, title: str):
    """The figure with the run's title above its own, wrapped to the figure's width; returns it."""
    if title:
        width = max(24, int(figure.get_figwidth() * 11))  # characters of a medium font per line
        figure.suptitle(textwrap.fill(title, width), fontsize="medium")
        figure.tight_layout()
    return figure


def save_png(figure, path: Path) -> None:
    """The figure as a PNG at `path`, written atomically."""
    with atomic_open(path, "wb") as f:
        figure.savefig(f, format="png")


def publish_figure(trainer: L.Trainer, run_dir: Path, name: str, figure, title: str = "") -> None:
    """`<run dir>/<name>.png`, written atomically, and the image `~final/test/<name>` in every TensorBoard
    logger (with the final metrics, after the curves: runtime/tensorboard.py), titled `title`."""
    save_png(titled(figure, title), run_dir / f"{name}.png")
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(f"{FINAL}test/{name}", figure, trainer.global_step)
