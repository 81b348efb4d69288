"""TensorBoard's event file, written in the caller's thread (torch's SummaryWriter over it, less its
writer thread: runtime/tensorboard.py). No torch here: the sweep summary writes event files too.

torch's SummaryWriter hands every event to a thread of its own (tensorboard's `_AsyncWriter`), which
reopens the file to append each record. Each event then costs about 0.15 ms, most of it the handover
and the thread taking the GIL back from the training loop; a CV population logs 25 members' epochs
(3,550 events for diabetes 5x5) and paid 0.5-0.8 s for them. Here the same records (tensorboard's own
`RecordWriter`: length, masked CRC-32C, event) go into a buffered file in the caller's thread, at about
0.04 ms an event.

When the events reach the disk: whenever the file's buffer fills (8 KiB, some 35 epochs of scalars),
at every `flush()` (Lightning's `logger.save()` after each of its logging calls; a population's before
each last.ckpt: population/module.py), at least `flush_secs` after the last flush when an event is
written, at `close()`, and at exit for a file still open. So a killed run keeps its curves up to its
last checkpoint.
"""

from __future__ import annotations

import atexit
import itertools
import os
import socket
import struct
import time
import weakref
from pathlib import Path

from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

_files = itertools.count()  # told apart within a process, as tensorboard's own counter does
_open: weakref.WeakSet[EventFile] = weakref.WeakSet()  # flushed at exit, if still open then


@atexit.register
def flush_open_files() -> None:
    """At exit, the events of every file still open on disk (a run that failed before closing its
    loggers), whatever the exit does with the objects afterwards (runtime/cli.py: quick_exit)."""
    for event_file in list(_open):
        event_file.flush()


class EventFile:
    """A new event file in `log_dir`, named as tensorboard names them (TensorBoard reads any
    `*tfevents*` file), its records written in the caller's thread; the interface of tensorboard's
    EventFileWriter, which torch's FileWriter calls."""

    def __init__(self, log_dir: str, flush_secs: float = 120, filename_suffix: str = "") -> None:
        self._log_dir = log_dir
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        while True:  # a new file: never one that another writer of this process named the same second
            stamp = f"{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_files)}"
            try:
                self._file = open(  # noqa: SIM115 (closed by close())
                    os.path.join(log_dir, f"events.out.tfevents.{stamp}{filename_suffix}"), "xb"
                )
                break
            except FileExistsError:
                continue
        self._records = RecordWriter(self._file)
        _open.add(self)
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
        _open.discard(self)

    def reopen(self) -> None:
        """torch calls it for a writer that was closed; a closed EventFile stays closed (SummaryWriter
        makes a new one instead: runtime/tensorboard.py, `SameThreadSummaryWriter`)."""


def read_events(path: str | Path) -> list[event_pb2.Event]:
    """The events of a whole event file, in order (its records: length, CRC of the length, event, CRC
    of the event; the CRCs are not checked). A truncated or garbled file raises ValueError."""
    data, events, at = Path(path).read_bytes(), [], 0
    while at < len(data):
        if at + 12 > len(data):
            raise ValueError(f"{path}: a record cut short at byte {at}")
        (length,) = struct.unpack("<Q", data[at : at + 8])
        record = data[at + 12 : at + 12 + length]
        if len(record) < length or at + 16 + length > len(data):
            raise ValueError(f"{path}: a record cut short at byte {at}")
        try:
            events.append(event_pb2.Event.FromString(record))
        except Exception as err:  # protobuf's DecodeError
            raise ValueError(f"{path}: not an event at byte {at}: {err}") from err
        at += 16 + length
    return events
