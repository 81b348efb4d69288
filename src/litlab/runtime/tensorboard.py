"""TensorBoard as litlab writes it: Lightning's TensorBoardLogger, less what would crowd Time Series.

Time Series sorts its groups by tag and opens the first two, so the learning curves (train/, val/) come
first only when nothing sorts before them: Lightning's `epoch` scalar is left out (the step is the x
axis), and so are the test/* scalars of `trainer.test`, one dot each: the test results are HParams
metrics, written with the best checkpoint's validation metrics at the run's last step under `~final/`
(runtime/hparams.py), a group that sorts after val/, where the callbacks' figures and reports go too.
"""

from __future__ import annotations

from collections.abc import Mapping

from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

HELD_BACK = ("test/",)  # logged as HParams metrics instead (~final/test/...), not as a second card


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoardLogger without the `epoch` and test/* scalars (see the module docstring)."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        kept = {k: v for k, v in metrics.items() if k != "epoch" and not k.startswith(HELD_BACK)}
        if kept:
            super().log_metrics(kept, step)
