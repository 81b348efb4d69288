"""Where the callbacks' figures go: a PNG in the run folder and TensorBoard's Images tab, each titled
with the run (its experiment and what it varied: runs/layout.run_title)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from litlab.runtime.files import write_bytes_atomic
from litlab.runtime.hparams import FINAL


def titled(figure, title: str):
    """The figure with the run's title above its own, wrapped to the figure's width; returns it."""
    if title:
        width = max(24, int(figure.get_figwidth() * 11))  # characters of a medium font per line
        figure.suptitle(textwrap.fill(title, width), fontsize="medium")
        if figure.get_layout_engine() is None:  # a constrained one makes room for it when drawn
            figure.tight_layout()
    return figure


def png_of(figure) -> bytes:
    """The figure drawn as a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_png(figure, path: Path) -> bytes:
    """The figure as a PNG at `path`, written atomically; returns the PNG, so that TensorBoard gets the
    same image without drawing the figure again (`add_png`)."""
    png = png_of(figure)
    write_bytes_atomic(path, png)
    return png


def drawn(draw: Callable[..., Any], args: tuple) -> bytes:
    """The PNG of the figure `draw(*args)` makes."""
    return png_of(draw(*args))


def pngs(draw: Callable[..., Any], jobs: list[tuple]) -> list[bytes]:
    """The PNG of `draw(*job)` for every job, in order; many figures on several cores are drawn by
    forked processes (drawing holds the GIL, and 25 folds' figures take a second or two). `draw` must
    use no torch: a forked process inherits torch's thread pool in whatever state it was."""
    import multiprocessing
    import os
    import sys

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    forkable = "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux")
    if len(jobs) < 4 or cores < 2 or not forkable:
        return [drawn(draw, job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(min(cores, len(jobs))) as pool:
        return pool.starmap(drawn, [(draw, job) for job in jobs])


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
