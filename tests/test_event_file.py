"""TensorBoard's event files as litlab writes them (runtime/event_file.py): in the logging thread, read
back by TensorBoard itself."""

from __future__ import annotations

import threading

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litlab.runtime.event_file import EventFile
from litlab.runtime.tensorboard import SameThreadSummaryWriter, TensorBoardLogger


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard reads from the event files in `folder`: tag -> [(step, value)]."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_the_logger_writes_events_that_tensorboard_reads_without_a_writer_thread(tmp_path):
    threads = threading.active_count()
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="", version="", default_hp_metric=False)
    assert isinstance(logger.experiment, SameThreadSummaryWriter)
    for step in range(50):
        logger.log_metrics({"train/loss": 1.0 / (step + 1), "val/acc": step / 50, "epoch": step}, step)
    assert threading.active_count() == threads  # torch's writer would have started one per file
    logger.save()  # Lightning's flush after its logging calls: the curves so far are on disk
    read = scalars(tmp_path)
    assert [step for step, _ in read["train/loss"]] == list(range(50))
    assert all(abs(value - 1.0 / (step + 1)) < 1e-7 for step, value in read["train/loss"])  # float32
    assert [step for step, _ in read["val/acc"]] == list(range(50))
    assert "epoch" not in read  # left out (runtime/tensorboard.py)
    logger.finalize("success")
    assert len(scalars(tmp_path)["val/acc"]) == 50


def test_an_event_file_reaches_the_disk_at_flush_and_when_flush_secs_have_passed(tmp_path):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    def event(step: int) -> Event:
        return Event(step=step, summary=Summary(value=[Summary.Value(tag="loss", simple_value=step)]))

    slow = EventFile(str(tmp_path / "slow"), flush_secs=3600)
    slow.add_event(event(0))
    assert scalars(tmp_path / "slow") == {}  # in the file's buffer still
    slow.flush()
    assert scalars(tmp_path / "slow") == {"loss": [(0, 0.0)]}
    eager = EventFile(str(tmp_path / "eager"), flush_secs=0)
    eager.add_event(event(1))
    assert scalars(tmp_path / "eager") == {"loss": [(1, 1.0)]}  # flushed as it was written
    slow.close()
    eager.close()
    slow.close()  # twice is fine


def test_read_events_gives_back_what_was_written_and_refuses_a_cut_file(tmp_path):
    import pytest
    from tensorboard.compat.proto.event_pb2 import Event

    from litlab.runtime.event_file import EventFile, read_events

    writer = EventFile(str(tmp_path))
    writer.add_event(Event(wall_time=1.0, step=7))
    writer.close()
    (path,) = tmp_path.iterdir()
    events = read_events(path)
    assert [e.file_version for e in events][0] == "brain.Event:2" and events[1].step == 7
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="cut short"):
        read_events(path)
