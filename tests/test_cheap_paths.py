"""litlab's cheaper paths give what the full ones give: epoch metrics that no callback watches go to the
loggers without self.log (the same values at the same steps; the loss through it only for a progress
bar, which still shows it), and last.ckpt is written when enough
training time has passed rather than every epoch (a resumed run still ends as an uninterrupted one)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import litlab.checkpoints.callbacks as checkpoint_callbacks
import litlab.models.supervised as supervised
from litlab.checkpoints.io import load_checkpoint
from litlab.runs.status import read_status, write_status
from litlab.train import train

QUICK = ["experiment=moons", "data.n_samples=120", "trainer.accelerator=cpu", "seed=5", "logger=many"]


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def csv_rows(run: Path) -> list[dict[str, str]]:
    (path,) = run.glob("**/metrics.csv")
    return sorted(csv.DictReader(path.open()), key=lambda row: sorted(row.items()))


@pytest.mark.parametrize("extra", [[], ["cv.folds=2"]])
def test_logging_around_self_log_gives_the_same_curves_and_metrics(
    compose_config, tmp_path, monkeypatch, extra
):
    runs = {}
    for direct in (False, True):
        monkeypatch.setattr(supervised, "LOG_DIRECTLY", direct)
        run = tmp_path / f"direct_{direct}"
        train(compose_config(*QUICK, "trainer.max_epochs=6", *extra, run_dir=run))
        runs[direct] = run
    full, cheap = runs[False], runs[True]
    assert json.loads((cheap / "metrics.json").read_text()) == json.loads((full / "metrics.json").read_text())
    folder = "fold_0_1" if extra else "."
    curves = scalars(cheap / folder)
    assert curves == scalars(full / folder) and {"train/acc", "val/f1", "val/loss"} <= curves.keys()
    rows = csv_rows(cheap / folder)
    assert rows and _values(rows) == _values(csv_rows(full / folder))


@pytest.mark.parametrize("bar", [True, False])
def test_the_loss_goes_through_self_log_only_for_a_progress_bar_that_shows_it(bar):
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from litlab.models import MLP, Classifier

    x = torch.randn(64, 3)
    rows = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)
    model = Classifier(MLP(3, 1, [4]), 2, lambda params: torch.optim.Adam(params, lr=0.01))
    trainer = L.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=bar,
        enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(model, rows, rows)
    assert ("train/loss" in trainer.progress_bar_metrics) is bar
    assert ("train/loss" in trainer.callback_metrics) is bar
    assert "val/loss" in trainer.callback_metrics  # the monitored metric, for its callbacks
    assert set(model.train_history[1]) >= {"train/loss", "train/acc"}  # metrics.json's, either way


def _values(rows: list[dict[str, str]]) -> dict[tuple[str, str], str]:
    """Every (step, metric) -> value of a CSV log, however Lightning spread them over rows."""
    return {(row["step"], k): v for row in rows for k, v in row.items() if v and k != "step"}


@pytest.mark.parametrize(
    ("overrides", "written"),
    [
        (["trainer.max_epochs=5", "callbacks.early_stopping=null"], 4),  # max_epochs: the last epoch
        (["trainer.max_epochs=60", "callbacks.early_stopping.patience=1"], None),  # early stopping's
    ],
)
def test_last_ckpt_waits_its_interval_but_always_follows_the_last_epoch(
    compose_config, tmp_path, overrides, written
):
    train(compose_config(*QUICK, "callbacks.last_checkpoint.every_seconds=3600", *overrides))
    run = tmp_path / "run"
    last = load_checkpoint(run / "checkpoints" / "last.ckpt", weights_only=False)
    stopped = json.loads((run / "metrics.json").read_text())["fit"]
    assert last["epoch"] == stopped["last_epoch"] == (written if written is not None else last["epoch"])
    if written is None:
        assert stopped["stopped_by"] == "early_stopping" and stopped["last_epoch"] < 59


def test_a_run_killed_epochs_after_its_last_ckpt_resumes_to_the_uninterrupted_result(
    compose_config, tmp_path
):
    """Killed at epoch 6 with last.ckpt from epoch 2, it trains epochs 3-6 again and ends the same."""
    common = [*QUICK, "trainer.max_epochs=10", "callbacks.early_stopping=null", "trainer.deterministic=true"]
    train(compose_config(*common, run_dir=tmp_path / "whole"))
    killed = tmp_path / "killed"
    clock = itertools.chain([0.0, 0.0, 0.0, 0.0], itertools.repeat(100.0))  # 100 s pass in epoch 2
    stop = ["+callbacks.stop._target_=failing_callback.StopAtEpoch", "+callbacks.stop.epoch=6"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint_callbacks, "clock", lambda: next(clock))
        with pytest.raises(RuntimeError, match="stopped at the end of epoch 6"):
            train(
                compose_config(*common, *stop, "callbacks.last_checkpoint.every_seconds=50", run_dir=killed)
            )
    written = load_checkpoint(killed / "checkpoints" / "last.ckpt")["epoch"]
    assert 0 < written < 6  # the kill came epochs after the last last.ckpt
    record = {k: v for k, v in read_status(killed).items() if k not in ("status", "time", "error")}
    write_status(killed, "running", **{**record, "pid": 2**22 + 1})  # as a SIGKILL leaves it
    train(compose_config(*common, "ckpt_path=last", run_dir=killed))
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert json.loads((killed / "metrics.json").read_text()) == whole
