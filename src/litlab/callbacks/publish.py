"""Where the callbacks' figures go: a PNG in the run folder and TensorBoard's Images tab, each titled
with the run (its experiment and what it varied: runs/layout.run_title)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from litlab.callbacks.drawing import png_of, titled
from litlab.runtime.files import write_bytes_atomic
from litlab.runtime.hparams import FINAL


def save_png(figure, path: Path) -> bytes:
    """The figure as a PNG at `path`, written atomically; returns the PNG, so that TensorBoard gets the
    same image without drawing the figure again (`add_png`)."""
    png = png_of(figure)
    write_bytes_atomic(path, png)
    return png


def add_png(loggers: list[Any], tag: str, png: bytes, step: int) -> None:
    """A PNG as the image `tag` of every TensorBoard logger in `loggers` (what add_figure writes, but
    encoded once: drawing and encoding a figure costs more than a small net's whole epoch)."""
    from PIL import Image
    from tensorboard.compat.proto.summary_pb2 import Summary

    width, height = Image.open(io.BytesIO(png)).size  # reads the header only
    image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment._get_file_writer().add_summary(
                Summary(value=[Summary.Value(tag=tag, image=image)]), step
            )


def publish_figure(trainer: L.Trainer, run_dir: Path, name: str, figure, title: str = "") -> None:
    """`<run dir>/<name>.png`, written atomically, and the image `~final/test/<name>` in every TensorBoard
    logger (with the final metrics, after the curves: runtime/tensorboard.py), titled `title`."""
    png = save_png(titled(figure, title), run_dir / f"{name}.png")
    add_png(trainer.loggers, f"{FINAL}test/{name}", png, trainer.global_step)
