"""A run's hyperparameters for TensorBoard's HParams tab (what the console shows: runtime/console.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig


def log_hparams(
    loggers: list[Any], cfg: DictConfig, overrides: list[str], metrics: dict[str, float], step: int
) -> None:
    """Log the run's hyperparameters (runtime/hparams.py: its overrides, then a curated set) with its
    final metrics at its last step, so TensorBoard's HParams tab compares runs."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from litlab.runtime.hparams import FINAL, metric_order, run_hparams, session_summaries, write_record

    params = run_hparams(cfg, overrides)
    # The best checkpoint's val/* and the test/* results; train/* would repeat the curves' last points.
    final = {FINAL + name: value for name, value in metrics.items() if not name.startswith("train/")}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            # Lightning's log_hyperparams would write an experiment summary per run (runtime/hparams.py)
            writer = logger.experiment._get_file_writer()
            for summary in session_summaries(params):
                writer.add_summary(summary)
            write_record(Path(logger.log_dir), params, metric_order(cfg, metrics))
        else:
            logger.log_hyperparams(params)
        logger.log_metrics(final, step=step)
        logger.finalize("success")
