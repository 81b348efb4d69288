"""TensorBoard as litlab writes it: Lightning's TensorBoardLogger, less what would crowd Time Series.

Time Series sorts its groups by tag and opens the first two, so the learning curves (train/, val/) come
first only when nothing sorts before them: Lightning's `epoch` scalar is left out (the step is the x
axis), and so are the test/* scalars of `trainer.test`, one dot each: the test results are HParams
metrics, written with the best checkpoint's validation metrics at the run's last step under `~final/`
(runtime/hparams.py), a group that sorts after val/, where the callbacks' figures and reports go too.

Its SummaryWriter writes each event in the logging thread (runtime/event_file.py says why and when the
events reach the disk); torch's own for a `purge_step` or a remote `save_dir`.
"""

from __future__ import annotations

from collections.abc import Mapping

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.writer import FileWriter

from litlab.runtime.event_file import EventFile

HELD_BACK = ("test/",)  # logged as HParams metrics instead (~final/test/...), not as a second card


class SameThreadFileWriter(FileWriter):
    """torch's FileWriter (events from summaries, steps and wall times) over an EventFile."""

    def __init__(
        self, log_dir: str, max_queue: int = 10, flush_secs: float = 120, filename_suffix: str = ""
    ) -> None:  # max_queue: torch's signature; nothing queues here
        self.event_writer = EventFile(str(log_dir), flush_secs, filename_suffix)


class SameThreadSummaryWriter(SummaryWriter):
    """torch's SummaryWriter, its events written by a SameThreadFileWriter (runtime/event_file.py)."""

    def _get_file_writer(self) -> FileWriter:
        if self.purge_step is not None or "://" in str(self.log_dir):
            return super()._get_file_writer()  # torch's own: it knows how to purge, and remote storage
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = SameThreadFileWriter(self.log_dir, flush_secs=self.flush_secs,
                                                    filename_suffix=self.filename_suffix)  # fmt: skip
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
        return self.file_writer


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoardLogger without the `epoch` and test/* scalars (see the module docstring),
    writing each call's scalars as one event: the values TensorBoard reads from `add_scalar`'s events
    (`simple_value`), at a tenth of its cost per scalar, which a CV population pays 25 times per epoch,
    into an event file written in the logging thread (runtime/event_file.py)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> SameThreadSummaryWriter:
        """Lightning's SummaryWriter, as its own property makes it, but a SameThreadSummaryWriter."""
        if self._experiment is None:
            if self.root_dir:
                self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = SameThreadSummaryWriter(log_dir=self.log_dir, **self._kwargs)
        return self._experiment

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        kept = {k: v for k, v in metrics.items() if k != "epoch" and not k.startswith(HELD_BACK)}
        if not kept:
            return
        if any(isinstance(v, Mapping) for v in kept.values()) or self._prefix:
            super().log_metrics(kept, step)  # add_scalars' layout, or a prefix: Lightning's own way
            return
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=name, simple_value=float(value)) for name, value in kept.items()]
        self.experiment._get_file_writer().add_summary(Summary(value=values), step)
