"""TensorBoard's event file, written in the caller's thread: torch's SummaryWriter, less its writer thread.

torch's SummaryWriter hands every event to a thread of its own (tensorboard's `_AsyncWriter`), which
reopens the file to append each record. Each event then costs about 0.15 ms, most of it the handover
and the thread taking the GIL back from the training loop; a CV population logs 25 members' epochs
(3,550 events for diabetes 5x5) and paid 0.5-0.8 s for them. Here the same records (tensorboard's own
`RecordWriter`: length, masked CRC-32C, event) go into a buffered file in the caller's thread, at about
0.04 ms an event.

When the events reach the disk: whenever the file's buffer fills (8 KiB, some 35 epochs of scalars),
at every `flush()` (Lightning's `logger.save()` after each of its logging calls; a population's before
each last.ckpt: population/module.py), at least `flush_secs` after the last flush when an event is
written, and at `close()`. So a killed run keeps its curves up to its last checkpoint.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.writer import FileWriter

_files = itertools.count()  # told apart within a process, as tensorboard's own counter does


class EventFile:
    """A new event file in `log_dir`, named as tensorboard names them (TensorBoard reads any
    `*tfevents*` file), its records written in the caller's thread; the interface of tensorboard's
    EventFileWriter, which torch's FileWriter calls."""

    def __init__(self, log_dir: str, flush_secs: float = 120, filename_suffix: str = "") -> None:
        self._log_dir = log_dir
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        stamp = f"{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_files)}"
        path = os.path.join(log_dir, f"events.out.tfevents.{stamp}{filename_suffix}")
        self._file = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._records = RecordWriter(self._file)
        self._flush_secs = flush_secs
        self._due = time.monotonic() + flush_secs
        self.add_event(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def get_logdir(self) -> str:
        return self._log_dir

    def add_event(self, event: event_pb2.Event) -> None:
        self._records.write(event.SerializeToString())
        if time.monotonic() >= self._due:
            self.flush()

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()
        self._due = time.monotonic() + self._flush_secs

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def reopen(self) -> None:
        """torch calls it for a writer that was closed; a closed EventFile stays closed (SummaryWriter
        makes a new one instead: `SameThreadSummaryWriter._get_file_writer`)."""


class SameThreadFileWriter(FileWriter):
    """torch's FileWriter (events from summaries, steps and wall times) over an EventFile."""

    def __init__(
        self, log_dir: str, max_queue: int = 10, flush_secs: float = 120, filename_suffix: str = ""
    ) -> None:  # max_queue: torch's signature; nothing queues here
        self.event_writer = EventFile(str(log_dir), flush_secs, filename_suffix)


class SameThreadSummaryWriter(SummaryWriter):
    """torch's SummaryWriter, its events written by a SameThreadFileWriter (see the module docstring)."""

    def _get_file_writer(self) -> FileWriter:
        if self.purge_step is not None:  # rare: torch's own writer then, which knows how to purge
            return super()._get_file_writer()
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = SameThreadFileWriter(self.log_dir, flush_secs=self.flush_secs,
                                                    filename_suffix=self.filename_suffix)  # fmt: skip
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
        return self.file_writer
