"""cv.vectorize=true: every fold (x repeat) of a CV run trained at once as one population of MLPs. Each
member must end exactly as its sequential fold ends (same numbers, same best and last epochs, same fold
files), stop by Lightning's own rules, stay frozen once stopped, resume after SIGKILL to the
uninterrupted result, and what it cannot do must be refused with the value and the fix."""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import os
import re
import shutil
import signal
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from helpers import compose_config, run_cli
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from omegaconf import DictConfig
from table_files import mixed_rows, write_table
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from litlab.checkpoints.identity import flatten
from litlab.checkpoints.io import AtomicCheckpointIO, load_checkpoint
from litlab.evaluate import evaluate
from litlab.models.nets import MLP, ConvNet
from litlab.population import module as population_module
from litlab.population.members import MemberBatches, pad_members
from litlab.population.module import PopulationClassifier
from litlab.population.nets import StackedMLP, dropout
from litlab.population.optim import PopulationAdam
from litlab.population.stopping import MemberStopping
from litlab.predict import predict
from litlab.runs.status import read_status, write_status
from litlab.train import setup_data, train

TOL = 1e-4
QUICK = ["trainer.accelerator=cpu", "trainer.devices=1", "model.net.hidden=[16]", "model.optimizer.lr=0.05"]
CV = ["cv.folds=3", "cv.repeats=2"]
EVENTS = "events.out.tfevents.*"


def class_rows(n: int = 150, seed: int = 0) -> dict[str, list]:
    """A 3-class table: x1, x2 (some missing), colour (text); label ant/bee/cat follows all three."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    colour = rng.choice(["red", "green", "blue"], n)
    score = np.stack([x1, x2, -x1 - x2 + (colour == "red")], 1) + rng.normal(0, 0.7, (n, 3))
    return {
        "x1": np.round(x1, 3).tolist(),
        "x2": [None if i % 11 == 5 else round(float(v), 3) for i, v in enumerate(x2)],
        "colour": colour.tolist(),
        "label": np.array(["ant", "bee", "cat"])[score.argmax(1)].tolist(),
    }


def tables(folder: Path) -> dict[str, list[str]]:
    """The generated tables as data= overrides: binary (125 rows: folds of different sizes, so members
    are padded) and 3-class."""
    binary = write_table(folder / "patients.csv", mixed_rows(125))
    three = write_table(folder / "insects.csv", class_rows(150))
    return {
        "binary": ["data=table", f"data.path={binary}", "data.target=Outcome", "data.id=pid"],
        "multiclass": ["data=table", f"data.path={three}", "data.target=label"],
    }


# Each case: the table and settings under which folds stop at different epochs, some early, some at
# max_epochs (binary: one fold's patience runs out at the very last epoch, see the xfail below;
# multiclass: min_delta > 0 gives best epochs that do not reset the patience, best == last; full_batch:
# data.batch_size=null, every member's batch is its whole training part, of its own size; and val/acc,
# mode max).
CASES = {
    "binary": ("binary", ["trainer.max_epochs=13", "callbacks.early_stopping.patience=2", "seed=1"]),
    "multiclass": (
        "multiclass",
        [
            "trainer.max_epochs=13",
            "callbacks.early_stopping.patience=2",
            "callbacks.early_stopping.min_delta=0.01",
            "seed=1",
        ],
    ),
    "full_batch": (
        "binary",
        [
            "data.batch_size=null",
            "cv.repeats=1",
            "trainer.max_epochs=20",
            "callbacks.early_stopping.patience=3",
            "monitor.metric=val/acc",  # and a metric that is maximised
            "model.optimizer.lr=0.1",
            "seed=1",
        ],
    ),
}


def compose(tmp: Path, *overrides: str) -> DictConfig:
    return compose_config("train", f"paths.log_dir={tmp / 'logs'}", *overrides)


class Pair:
    """A sequential and a vectorised run of the same command."""

    def __init__(self, tmp: Path, case: str, cases: dict = CASES) -> None:
        table, settings = cases[case]
        self.args = [*tables(tmp / "tables")[table], *QUICK, *CV, *settings]
        self.max_epochs = int(next(a for a in settings if "max_epochs" in a).split("=")[1])
        self.seq, self.vec = tmp / "sequential", tmp / "vectorised"
        train(compose(tmp, *self.args, f"paths.output_dir={self.seq}"))
        train(compose(tmp, *self.args, "cv.vectorize=true", f"paths.output_dir={self.vec}"))
        self.folds = sorted(p.name for p in self.seq.glob("fold_*"))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Each case's pair, run once for the module however many tests read it."""
    made: dict[str, Pair] = {}

    def get(case: str) -> Pair:
        if case not in made:
            made[case] = Pair(tmp_path_factory.mktemp(case), case)
        return made[case]

    return get


@pytest.fixture(params=list(CASES))
def pair(request, pairs) -> Pair:
    return pairs(request.param)


@pytest.fixture
def binary(pairs) -> Pair:
    return pairs("binary")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def numbers(metrics: dict) -> dict[str, float]:
    """The numeric leaves of a metrics.json, flattened (lists of numbers, such as ci95, by position)."""
    flat = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, list):
            flat.update({f"{key}[{i}]": v for i, v in enumerate(value)})
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[key] = value
    return flat


def assert_close(ours: dict[str, float], theirs: dict[str, float], where: str) -> None:
    assert sorted(ours) == sorted(theirs), where
    bad = {k: (ours[k], theirs[k]) for k in ours if not math.isclose(ours[k], theirs[k], abs_tol=TOL)}
    assert not bad, f"{where}: {bad}"


def oof_rows(run: Path) -> list[dict[str, str]]:
    with (run / "oof_predictions.csv").open() as f:
        return list(csv.DictReader(f))


def assert_same_oof(vec: Path, seq: Path) -> None:
    ours, theirs = oof_rows(vec), oof_rows(seq)
    assert len(ours) == len(theirs) > 0 and list(ours[0]) == list(theirs[0])
    key = ("row", "repeat", "fold")
    ours, theirs = (
        sorted(ours, key=lambda r: [r[k] for k in key]),
        sorted(theirs, key=lambda r: [r[k] for k in key]),
    )
    for a, b in zip(ours, theirs, strict=True):
        assert {k: v for k, v in a.items() if not k.startswith("p_")} == {
            k: v for k, v in b.items() if not k.startswith("p_")
        }
        for k in (k for k in a if k.startswith("p_")):
            assert float(a[k]) == pytest.approx(float(b[k]), abs=TOL), (a, b)


# 1, 2. The vectorised run equals the sequential one, fold by fold ------------------------------------


def test_every_fold_equals_its_sequential_fold(pair):
    fits = {}
    for fold in pair.folds:
        seq, vec = (read_json(run / fold / "metrics.json") for run in (pair.seq, pair.vec))
        assert_close(numbers(vec), numbers(seq), fold)  # val/, test/, train/ and fit.last_epoch_train
        assert (vec["fit"]["best_epoch"], vec["fit"]["last_epoch"]) == (
            seq["fit"]["best_epoch"], seq["fit"]["last_epoch"],
        ), fold  # fmt: skip
        if seq["fit"]["last_epoch"] < pair.max_epochs - 1:  # stopping at the last epoch: see the xfail below
            assert vec["fit"]["stopped_by"] == seq["fit"]["stopped_by"], fold
        fits[fold] = seq["fit"]
    # The case exercises per-member stopping: members stopped at different epochs, some early.
    assert len({fit["last_epoch"] for fit in fits.values()}) >= 3, fits
    assert sum(fit["stopped_by"] == "early_stopping" for fit in fits.values()) >= 2, fits
    assert len({fit["best_epoch"] for fit in fits.values()}) >= 3, fits
    assert_close(
        numbers(read_json(pair.vec / "metrics.json")), numbers(read_json(pair.seq / "metrics.json")), "run"
    )
    assert_same_oof(pair.vec, pair.seq)


def test_full_batch_members_have_different_batch_sizes(tmp_path):
    """The full_batch case is a real test of members with batches of their own size."""
    table, settings = CASES["full_batch"]
    datamodule = setup_data(compose(tmp_path, *tables(tmp_path)[table], *QUICK, *CV, *settings))
    sizes = {len(fold.train) for fold in datamodule.folds(3, 1)}
    assert len(sizes) > 1, sizes
    assert datamodule.batch_size is None


def test_a_member_whose_patience_runs_out_at_the_last_epoch_says_what_its_sequential_fold_says(binary):
    at_the_end = [
        fold for fold in binary.folds
        if read_json(binary.seq / fold / "metrics.json")["fit"]["last_epoch"] == binary.max_epochs - 1
    ]  # fmt: skip
    if not at_the_end:
        raise RuntimeError("the binary case has no fold that reaches the last epoch")
    for fold in binary.folds:
        seq, vec = (read_json(run / fold / "metrics.json")["fit"] for run in (binary.seq, binary.vec))
        assert vec["stopped_by"] == seq["stopped_by"], (fold, seq, vec)
        seq, vec = (read_status(run / fold) for run in (binary.seq, binary.vec))
        assert vec["stopped_by"] == seq["stopped_by"], fold


@pytest.mark.slow  # a sequential and a vectorised run of their own
def test_members_train_at_least_min_epochs_as_their_sequential_folds_do(tmp_path):
    settings = [
        "cv.repeats=1",
        "trainer.max_epochs=10",
        "trainer.min_epochs=8",
        "callbacks.early_stopping.patience=2",
    ]
    pair = Pair(tmp_path, "min_epochs", {"min_epochs": ("binary", [*settings, "seed=1"])})
    fits = {
        fold: [read_json(run / fold / "metrics.json")["fit"] for run in (pair.seq, pair.vec)]
        for fold in pair.folds
    }
    if not any(seq["last_epoch"] == 7 and seq["stopped_by"] == "early_stopping" for seq, _ in fits.values()):
        raise RuntimeError(f"no sequential fold ran out of patience before min_epochs: {fits}")
    for fold, (seq, vec) in fits.items():
        assert (vec["best_epoch"], vec["last_epoch"]) == (seq["best_epoch"], seq["last_epoch"]), fold


@pytest.mark.slow  # a sequential and a vectorised run of their own
def test_each_folds_best_checkpoint_holds_its_sequential_folds_weights_and_preprocessing(binary):
    for fold in binary.folds:
        best = read_json(binary.seq / fold / "metrics.json")["fit"]["best_epoch"]
        name = f"checkpoints/epoch_{best:03d}.ckpt"
        seq, vec = (
            load_checkpoint(run / fold / name, weights_only=False) for run in (binary.seq, binary.vec)
        )
        assert sorted(vec["state_dict"]) == sorted(seq["state_dict"]), fold
        for key, value in seq["state_dict"].items():
            assert torch.allclose(vec["state_dict"][key], value, atol=TOL), (fold, key)
        assert vec["TableDataModule"] == seq["TableDataModule"], fold  # its own fitted preprocessing
        assert vec["epoch"] == seq["epoch"] == best


def tensorboard_points(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """What a folder's TensorBoard runs hold: tag -> (step, value) in step order, over all its event
    files; the curves (train/, val/), the final values (~final/), the confusion matrix image and the
    classification report (value 0: only their steps)."""
    points: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob(EVENTS)):
        events = EventAccumulator(str(path))
        events.Reload()
        tags = events.Tags()
        for tag in tags["scalars"]:
            points.setdefault(tag, []).extend((e.step, e.value) for e in events.Scalars(tag))
        for kind, read in (("images", events.Images), ("tensors", events.Tensors)):
            for tag in tags[kind]:
                points.setdefault(f"{kind}:{tag}", []).extend((e.step, 0.0) for e in read(tag))
    return {tag: sorted(values) for tag, values in points.items()}


def assert_same_points(ours: dict, theirs: dict, where: str) -> None:
    assert theirs and sorted(ours) == sorted(theirs), where
    for tag, points in theirs.items():  # the same points: at the same steps, the same values
        assert [step for step, _ in ours[tag]] == [step for step, _ in points], (where, tag)
        assert [v for _, v in ours[tag]] == pytest.approx([v for _, v in points], abs=TOL), (where, tag)


def test_each_folds_tensorboard_run_equals_its_sequential_folds(binary):
    for fold in binary.folds:
        points = tensorboard_points(binary.seq / fold)
        assert any(tag.startswith("val/") for tag in points) and "~final/test/acc" in points
        assert any(tag.startswith("images:") for tag in points), sorted(points)
        assert_same_points(tensorboard_points(binary.vec / fold), points, fold)


def test_the_runs_own_tensorboard_entry_equals_the_sequential_runs(binary):
    assert_same_points(tensorboard_points(binary.vec), tensorboard_points(binary.seq), "run")


# 5. Downstream, a vectorised run is a sequential one -----------------------------------------------------


def relative_files(folder: Path, recursive: bool = True) -> set[str]:
    """The files under `folder`, as relative paths; TensorBoard's event files, whose names carry the time
    and the process (and of which a sequential fold writes one per trainer stage), as one name."""
    paths = folder.rglob("*") if recursive else [*folder.iterdir(), *folder.glob("checkpoints/*")]
    return {
        re.sub(r"events\.out\.tfevents\..*$", EVENTS, str(path.relative_to(folder)))
        for path in paths
        if path.is_file()
    }


def key_paths(tree: dict, prefix: str = "") -> set[str]:
    """Every key of a nested dict, as a dotted path."""
    paths = set()
    for key, value in tree.items():
        paths.add(prefix + key)
        if isinstance(value, dict):
            paths |= key_paths(value, f"{prefix}{key}.")
    return paths


def test_a_vectorised_run_leaves_the_files_of_a_sequential_one(binary):
    for fold in binary.folds:
        seq, vec = binary.seq / fold, binary.vec / fold
        # The one difference: a member has no checkpoints/last.ckpt of its own; the population's, in the
        # run folder (below), resumes every member at once.
        assert relative_files(vec) == relative_files(seq) - {"checkpoints/last.ckpt"}, fold
        assert "checkpoints/last.ckpt" in relative_files(seq)
        assert key_paths(read_json(vec / "metrics.json")) == key_paths(read_json(seq / "metrics.json")), fold
        assert key_paths(read_status(vec)) == key_paths(read_status(seq)), fold
        assert read_status(vec)["status"] == "ok"
    assert relative_files(binary.vec, recursive=False) == relative_files(binary.seq, recursive=False) | {
        "checkpoints/last.ckpt"
    }
    assert key_paths(read_json(binary.vec / "metrics.json")) == key_paths(
        read_json(binary.seq / "metrics.json")
    )
    assert read_status(binary.vec)["status"] == "ok"


def task_config(name: str, tmp: Path, *overrides: str) -> DictConfig:
    """conf/<name>.yaml (eval, predict) with its outputs under tmp."""
    return compose_config(name, f"paths.log_dir={tmp / 'logs'}", f"paths.output_dir={tmp / name}", *overrides)


def prediction_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def assert_same_predictions(ours: list[dict[str, str]], theirs: list[dict[str, str]]) -> None:
    assert len(ours) == len(theirs) > 0 and list(ours[0]) == list(theirs[0])
    assert any(k.startswith("p_") for k in theirs[0])
    for a, b in zip(ours, theirs, strict=True):
        assert {k: v for k, v in a.items() if not k.startswith("p_")} == {
            k: v for k, v in b.items() if not k.startswith("p_")
        }
        assert [float(a[k]) for k in a if k.startswith("p_")] == pytest.approx(
            [float(b[k]) for k in b if k.startswith("p_")], abs=TOL
        )


def new_rows(tmp: Path) -> Path:
    """Rows predict.py has not seen, without the target column."""
    columns = mixed_rows(20, seed=7)
    columns.pop("Outcome")
    return write_table(tmp / "new_rows.csv", columns)


def test_eval_and_predict_take_a_vectorised_run_as_a_sequential_one(binary, tmp_path):
    trained = read_json(binary.vec / "metrics.json")
    means = evaluate(task_config("eval", tmp_path, f"ckpt_path={binary.vec}"))
    again = read_json(tmp_path / "eval" / "metrics.json")
    assert sorted(again["cv"]["metrics"]) == sorted(
        k for k in trained["cv"]["metrics"] if k.startswith("test/")
    )
    for name, detail in again["cv"]["metrics"].items():
        per_fold = trained["cv"]["metrics"][name]["per_fold"]
        assert sorted(detail["per_fold"]) == sorted(per_fold) == binary.folds
        assert detail["per_fold"] == pytest.approx(per_fold, abs=1e-6), name  # each fold tested again
        assert means[name] == pytest.approx(trained[name], abs=1e-6)
    assert_same_oof(tmp_path / "eval", binary.vec)

    rows = new_rows(tmp_path)
    for fold in (None, "fold_1_0"):  # the folds' average, and one fold's model
        chosen = [f"fold={fold}"] if fold else []
        ours, theirs = (
            predict(task_config("predict", tmp_path / name, f"ckpt_path={run}", f"input={rows}", *chosen))
            for name, run in (("vec", binary.vec), ("seq", binary.seq))
        )
        assert_same_predictions(prediction_rows(ours), prediction_rows(theirs))


@pytest.mark.slow
def test_eval_py_and_predict_py_on_a_vectorised_run(binary, tmp_path):
    logs = f"paths.log_dir={tmp_path / 'logs'}"
    run_cli("eval.py", f"ckpt_path={binary.vec}", logs, f"hydra.run.dir={tmp_path / 'eval'}")
    trained, again = read_json(binary.vec / "metrics.json"), read_json(tmp_path / "eval" / "metrics.json")
    assert again["cv"]["metrics"]  # every test/ metric of every fold
    for name, detail in again["cv"]["metrics"].items():
        assert detail["per_fold"] == pytest.approx(trained["cv"]["metrics"][name]["per_fold"], abs=1e-6), name
    rows, output = new_rows(tmp_path), tmp_path / "predicted.csv"
    run_cli(
        "predict.py", f"ckpt_path={binary.vec}", f"input={rows}", f"output={output}", logs,
        f"hydra.run.dir={tmp_path / 'predict'}",
    )  # fmt: skip
    theirs = predict(task_config("predict", tmp_path, f"ckpt_path={binary.seq}", f"input={rows}"))
    assert_same_predictions(prediction_rows(output), prediction_rows(theirs))


# 3. MemberStopping decides as Lightning's own callbacks do ---------------------------------------------


def lightning_decides(values: list[float], mode: str, patience: int, min_delta: float) -> dict:
    """What Lightning's callbacks decide for one fold's sequence of monitored values, by their own code:
    EarlyStopping._evaluate_stopping_criteria (lightning/pytorch/callbacks/early_stopping.py: a
    non-finite value stops, check_finite=True; `monitor_op(current - min_delta, best_score)` with
    min_delta negated in min mode, i.e. better by more than min_delta, resets the wait; otherwise
    wait_count += 1 and `wait_count >= patience` stops), and ModelCheckpoint(save_top_k=1).
    check_monitor_top_k (model_checkpoint.py: the first value is saved, then only a strictly better one,
    torch.lt / torch.gt), with the bookkeeping of its _update_best_and_save, which keeps a NaN as
    +inf (min) / -inf (max). Both run at every epoch's end; the epoch that stops is still checkpointed."""
    stopper = EarlyStopping(monitor="m", mode=mode, patience=patience, min_delta=min_delta)
    checkpoint = ModelCheckpoint(monitor="m", mode=mode, save_top_k=1)

    class Strategy:
        @staticmethod
        def reduce_boolean_decision(decision: bool, **_) -> bool:
            return decision

    trainer = type("Trainer", (), {"strategy": Strategy()})()
    best, saved = None, []
    for epoch, value in enumerate(values):
        current = torch.tensor(value, dtype=torch.float32)
        save = bool(checkpoint.check_monitor_top_k(trainer, current))
        if save:
            kept = (
                torch.tensor(float("inf") if mode == "min" else float("-inf"))
                if torch.isnan(current)
                else current
            )
            checkpoint.best_k_models, checkpoint.kth_best_model_path = (
                {f"epoch={epoch}": kept},
                f"epoch={epoch}",
            )
            best = epoch
        saved.append(save)
        should_stop, _ = stopper._evaluate_stopping_criteria(current)
        if should_stop:
            return {"best_epoch": best, "last_epoch": epoch, "stopped_early": True, "saved": saved}
    return {"best_epoch": best, "last_epoch": len(values) - 1, "stopped_early": False, "saved": saved}


NAN = float("nan")
JUNK = -1e6  # fed after a member stopped (the best a min-mode metric could be): it must change nothing
STOPPING_CASES = {
    "min, ties, NaN": (
        "min", 2, 0.0,
        [
            [1.0, 0.8, 0.8, 0.7, 0.7, 0.7, 0.6, 0.5],  # ties with the best do not count: stops at 5, best 3
            [1.0, 0.9, NAN, 0.1, 0.1, 0.1, 0.1, 0.1],  # a NaN stops it; the best stays epoch 1
            [NAN, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1],  # a NaN first: epoch 0 is its checkpoint, then it stops
            [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],  # improves to the end: never stops
            [0.5, 0.6, 0.4, 0.45, 0.41, 0.39, 0.3, 0.2],  # worse, better, worse twice: stops at 4
        ],
    ),
    "min, min_delta": (
        "min", 2, 0.1,
        [
            [1.0, 0.95, 0.93, 0.5, 0.45, 0.42, 0.4, 0.3],  # better, but not by 0.1: best == last == 2
            [1.0, 0.85, 0.8, 0.74, 0.7, 0.69, 0.68, 0.67],  # resets at 1 and 3, stops at 5 (its best)
            [0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2],  # by exactly 0.1 (float32 decides, as Lightning's)
            [0.5, NAN, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2],
        ],
    ),
    "max, min_delta, ties": (
        "max", 3, 0.05,
        [
            [0.5, 0.6, 0.6, 0.62, 0.64, 0.66, 0.7, 0.71],  # stops at 4, its best: better, but not by 0.05
            [NAN, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9],
            [0.7, 0.7, 0.7, 0.7, 0.7, 0.9, 0.9, 0.9],  # ties: best 0, stops at 3
            [0.1, 0.3, 0.5, 0.7, 0.9, NAN, 1.0, 1.0],  # a NaN after the best
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        ],
    ),
}  # fmt: skip


def check_stopping(mode: str, patience: int, min_delta: float, sequences: list[list[float]]) -> None:
    """Feed every member's sequence to one MemberStopping, epoch by epoch, and compare each member with
    Lightning's decisions for its sequence alone (what it is fed after it stopped: JUNK)."""
    expected = [lightning_decides(values, mode, patience, min_delta) for values in sequences]
    stopping = MemberStopping(len(sequences), mode, patience, min_delta)
    for epoch in range(len(sequences[0])):
        fed = [
            values[epoch] if epoch <= e["last_epoch"] else (JUNK if mode == "min" else -JUNK)
            for values, e in zip(sequences, expected, strict=True)
        ]
        improved = stopping.update(torch.tensor(fed), epoch)
        for k, e in enumerate(expected):
            saved = epoch <= e["last_epoch"] and e["saved"][epoch]
            assert bool(improved[k]) == saved, (k, epoch)  # the epochs whose weights become its best
            trains = not e["stopped_early"] or epoch < e["last_epoch"]
            assert bool(stopping.active[k]) == trains, (k, epoch)
    for k, e in enumerate(expected):
        ours = (int(stopping.best_epoch[k]), int(stopping.last_epoch[k]), bool(stopping.stopped_early[k]))
        assert ours == (e["best_epoch"], e["last_epoch"], e["stopped_early"]), (k, sequences[k], e)


@pytest.mark.parametrize("case", list(STOPPING_CASES))
def test_member_stopping_decides_as_lightnings_early_stopping_and_model_checkpoint(case):
    check_stopping(*STOPPING_CASES[case])


def test_the_stopping_cases_cover_what_they_say():
    """The reference itself: the cases hold early stops at different epochs, best == last, and members
    that never stop (so the test above can fail in each of these ways)."""
    decided = [
        lightning_decides(values, mode, patience, min_delta)
        for mode, patience, min_delta, sequences in STOPPING_CASES.values()
        for values in sequences
    ]
    assert len({d["last_epoch"] for d in decided if d["stopped_early"]}) >= 4
    assert any(d["stopped_early"] and d["best_epoch"] == d["last_epoch"] for d in decided)
    assert any(not d["stopped_early"] for d in decided)
    assert any(d["last_epoch"] == 0 for d in decided)  # a NaN at the first epoch
    first = lightning_decides(STOPPING_CASES["min, ties, NaN"][3][0], "min", 2, 0.0)
    assert (first["best_epoch"], first["last_epoch"]) == (3, 5)


def test_member_stopping_with_patience_zero_decides_as_lightning():
    check_stopping("min", 0, 0.0, [[1.0, 0.9, 0.8, 0.85, 0.7], [1.0, 1.1, 0.5, 0.4, 0.3]])


# 4. A stopped member is frozen ---------------------------------------------------------------------


def member_rows(n: int, flipped: bool, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n rows of 4 features whose class is feature 0's sign (the other sign when flipped)."""
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
    return x, ((x[:, 0] > 0) != flipped).long()


class Snapshots(Callback):
    """At every epoch's start: the population's weights, best weights, optimizer state and stopping."""

    def __init__(self) -> None:
        self.taken: list[dict[str, torch.Tensor]] = []

    def take(self, module: PopulationClassifier) -> dict[str, torch.Tensor]:
        (state,) = module.trainer.optimizers[0].state.values()  # one stacked parameter: net.flat
        return {
            "flat": module.net.flat.detach().clone(),
            "best": module.best_net.flat.detach().clone(),
            "stepped": module.stepped.clone(),
            "active": module.stopping.active.clone(),
            **{f"adam.{name}": value.clone() for name, value in state.items()},
        }

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch > 0:
            self.taken.append(self.take(module))


def train_three_members(monkeypatch, computing: str) -> tuple[MemberStopping, Snapshots, dict]:
    """Three members of a 4-6-1 net, member 1 bound to stop first; `computing`: "all" (stopped members
    compute too, as for these small steps) or "training" (only the members still training compute: the
    path of wide nets, taken here by declaring every step large)."""
    if computing == "training":
        monkeypatch.setattr(population_module, "SMALL_STEP", 0)
    # Member 1 is judged on rows labelled the other way: the better it learns, the worse its val/loss,
    # so it stops first; members 0 and 2 go on (member 2 with fewer rows: padded, fewer steps).
    counts, flipped = (40, 37, 29), (False, True, False)
    train_rows = [member_rows(n, False, seed) for seed, n in enumerate(counts)]
    val_rows = [member_rows(20, flip, 10 + k) for k, flip in enumerate(flipped)]
    splits = {"train": pad_members(train_rows), "val": pad_members(val_rows), "test": pad_members(val_rows)}
    nets = []
    for k in range(3):
        torch.manual_seed(k)
        nets.append(MLP(4, 1, hidden=[6]))
    stopping = MemberStopping(3, "min", patience=2)
    module = PopulationClassifier(
        StackedMLP(nets), 2, splits, MemberBatches(splits["train"].counts, 8, seed=0),
        lambda params: PopulationAdam(params, lr=0.05), stopping, "val/loss", [[], [], []],
    )  # fmt: skip
    snapshots = Snapshots()
    trainer = L.Trainer(
        max_epochs=15, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[snapshots],
    )  # fmt: skip
    trainer.fit(module)
    return stopping, snapshots, snapshots.take(module)


@pytest.mark.parametrize("computing", ["all", "training"])
def test_a_stopped_member_stays_bit_identical_while_the_others_train(monkeypatch, computing):
    stopping, snapshots, final = train_three_members(monkeypatch, computing)
    stop = int(stopping.last_epoch[1])
    assert bool(stopping.stopped_early[1]) and not stopping.active[1]
    assert stop < int(stopping.last_epoch[0]) and stop < int(stopping.last_epoch[2])  # the others went on
    frozen = snapshots.taken[stop]  # at the start of the epoch after its last
    assert frozen["stepped"][1] == final["stepped"][1] > 0
    for later in [*snapshots.taken[stop + 1 :], final]:
        for name, value in later.items():
            if name != "active":
                assert torch.equal(value[1], frozen[name][1]), name  # bit-identical: row 1 of each
    # ... while the members still training changed in every one of them (so the test can fail).
    for name, value in final.items():
        if name != "active" and name != "best":
            assert not torch.equal(value[0], frozen[name][0]) and not torch.equal(
                value[2], frozen[name][2]
            ), name
    assert not torch.equal(frozen["flat"][1], snapshots.taken[0]["flat"][1])  # member 1 had trained


def test_computing_only_the_members_still_training_changes_nothing_but_rounding(monkeypatch):
    """A stopped member's rows left out of the forward (wide nets) or computed and thrown away (small
    ones): the stopped member ends bit for bit the same, and the members still training with the same
    weights, Adam state and best weights up to float32 rounding (a batched matmul over 2 members may
    round in the last bit unlike one over 3: it does on some CPUs, not on others)."""
    stopping, _, everyone = train_three_members(monkeypatch, "all")
    _, _, training_only = train_three_members(monkeypatch, "training")
    assert sorted(everyone) == sorted(training_only)
    assert stopping.last_epoch[1] < min(stopping.last_epoch[0], stopping.last_epoch[2])  # stopped first
    for name, value in everyone.items():
        assert torch.equal(value[1], training_only[name][1]), name
        scale = value.abs().max().item() if value.is_floating_point() else 0  # of each tensor's own size
        torch.testing.assert_close(value, training_only[name], rtol=1e-5, atol=1e-6 * scale, msg=name)


def test_a_subsets_forward_writes_its_members_gradient_rows_whole():
    torch.manual_seed(0)
    stacked = StackedMLP([MLP(5, 3, hidden=[7, 4]) for _ in range(4)])
    x = torch.randn(4, 10, 5)
    stacked(x).square().sum().backward()
    everyone = stacked.grad.clone()
    stale = torch.full_like(stacked.grad, 7.0)
    stacked.grad.copy_(stale)  # no zero_grad: the subset's rows must be replaced, the others kept
    members = torch.tensor([1, 3])
    stacked(x[members], members).square().sum().backward()
    assert torch.equal(stacked.grad[members], everyone[members])
    assert torch.equal(stacked.grad[[0, 2]], stale[[0, 2]])
    assert stacked.flat.grad is stacked.grad


def test_a_subsets_forward_without_a_gradient_to_write_into_leaves_the_weights_alone():
    """The best weights' copy is made without a gradient; asked for one later (Lightning's unfreeze()),
    a forward of some members must not write anything into its weights."""
    torch.manual_seed(0)
    best = copy.deepcopy(StackedMLP([MLP(5, 3, hidden=[4]) for _ in range(3)])).requires_grad_(False)
    best.link()
    best.requires_grad_(True)
    weights = best.flat.detach().clone()
    logits = best(torch.randn(2, 6, 5), torch.tensor([0, 2]))
    assert not logits.requires_grad  # nothing to train through: no gradient is recorded at all
    assert torch.equal(best.flat.detach(), weights)


# 7. What a population cannot do is refused, with the value and the fix --------------------------------


@pytest.mark.parametrize(
    "settings",
    [{"hidden": [7, 4], "activation": "tanh", "dropout": 0.3}, {"hidden": []}],
    ids=["deep", "logistic"],
)
def test_a_stacked_mlp_computes_each_members_own_mlp(settings):
    torch.manual_seed(0)
    nets = [MLP(5, 3, **settings).eval() for _ in range(3)]
    stacked = StackedMLP(nets).eval()
    x = torch.randn(3, 10, 5)
    logits = stacked(x)
    for k, net in enumerate(nets):
        assert torch.allclose(logits[k], net(x[k]), atol=1e-6)
        state = stacked.member_state(k)  # what its fold's checkpoint holds
        assert sorted(state) == sorted(net.state_dict())
        assert all(torch.equal(state[name], value) for name, value in net.state_dict().items())


def test_a_stacked_mlp_in_training_drops_each_members_own_values():
    """Dropout in training: about p of the values zeroed, the rest scaled by 1 / (1 - p), and every
    member its own mask; p = 0 and eval leave the values as they are."""
    torch.manual_seed(0)
    x = torch.ones(4, 500, 64)
    out = dropout(x, 0.3)
    assert out.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert not torch.equal(out[0] == 0, out[1] == 0)
    stacked = StackedMLP([MLP(64, 2, hidden=[64], dropout=0.3) for _ in range(4)])
    assert not torch.equal(stacked(x), stacked(x))  # training: new masks every call
    stacked.eval()
    assert torch.equal(stacked(x), stacked(x))


class Custom(nn.Module):
    """Not an MLP: its own forward, with BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.linear, self.norm = nn.Linear(4, 3), nn.BatchNorm1d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x))


def with_batchnorm() -> MLP:
    """An MLP with a BatchNorm1d after its hidden layer: statistics a population would share."""
    net = MLP(4, 1, hidden=[8])
    net.layers = nn.Sequential(*net.layers[:2], nn.BatchNorm1d(8), *net.layers[2:])
    return net


UNSTACKABLE = {
    "mlp_with_batchnorm": (with_batchnorm, ["cannot stack a BatchNorm1d layer", "Linear, Dropout"]),
    "convnet": (
        lambda: ConvNet(in_shape=[1, 8, 8], out_features=3),
        ["ConvNet", "BatchNorm", "model/net=mlp"],
    ),
    "custom_module": (Custom, ["Custom", "model/net=mlp"]),
    "sequential": (lambda: nn.Sequential(nn.Linear(4, 2)), ["Sequential", "model/net=mlp"]),
    "softmax_activation": (
        lambda: MLP(4, 3, hidden=[5], activation="softmax"),
        ["cannot stack a Softmax layer"],
    ),
    "linear_path": (lambda: MLP(4, 3, hidden=[5], linear_path=True), ["model.net.linear_path=true"]),
}


@pytest.mark.parametrize("case", list(UNSTACKABLE))
def test_a_net_a_population_cannot_stack_is_refused(case):
    build, fragments = UNSTACKABLE[case]
    with pytest.raises(ValueError) as error:
        StackedMLP([build(), build()])
    for fragment in [*fragments, "cv.vectorize=false"]:
        assert fragment in str(error.value)


@pytest.fixture(scope="module")
def small_table(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("small")
    return tables(folder)["binary"]


REFUSED = {
    "not_a_bool": (["cv.vectorize=maybe"], ["cv.vectorize='maybe'", "give true", "false"]),
    "without_folds": (
        ["cv.vectorize=true", "cv.folds=null", "cv.repeats=1"],
        ["cv.folds is not set", "give cv.folds=5"],
    ),
    "sgd": (
        ["cv.vectorize=true", "model/optimizer=sgd"],
        ["model/optimizer=adam|adamw", "torch.optim.SGD", "cv.vectorize=false"],
    ),
    "lbfgs": (
        ["cv.vectorize=true", "model/optimizer=lbfgs", "model.l2=0.01"],
        ["model/optimizer=adam|adamw", "torch.optim.LBFGS", "cv.vectorize=false"],
    ),
    "l2": (
        ["cv.vectorize=true", "model.l2=0.01"],
        ["model.l2=0.01", "model.optimizer.weight_decay", "cv.vectorize=false"],
    ),
    "scheduler": (
        ["cv.vectorize=true", "model/scheduler=step"],
        ["learning-rate scheduler", "model/scheduler=null", "cv.vectorize=false"],
    ),
    "several_at_once": (
        ["cv.vectorize=true", "model/optimizer=sgd", "model/scheduler=step"],
        [
            "2 things stand in its way: (1) ",
            "torch.optim.SGD",
            "; (2) ",
            "model/scheduler=null",
            "cv.vectorize=false",
        ],
    ),
    "linear_path": (
        ["cv.vectorize=true", "model.net.hidden=[4]", "model.net.linear_path=true"],
        ["without a linear path", "model.net.linear_path=false", "cv.vectorize=false"],
    ),
    "convnet": (
        ["cv.vectorize=true", "model/net=convnet"],
        ["ConvNet", "model/net=mlp", "cv.vectorize=false"],
    ),
    "regressor": (
        ["cv.vectorize=true", "model=regressor", "data.target=bmi"],
        ["classifiers", "Regressor", "cv.vectorize=false"],
    ),
    "compile": (["cv.vectorize=true", "model.compile=true"], ["model.compile=false", "cv.vectorize=false"]),
    "precision": (
        ["cv.vectorize=true", "+trainer.precision=16-mixed"],
        ["trainer.precision=16-mixed", "32-true or bf16-mixed", "cv.vectorize=false"],
    ),
    "max_steps": (
        ["cv.vectorize=true", "+trainer.max_steps=500"],
        ["trainer.max_steps=500", "trainer.max_epochs", "cv.vectorize=false"],
    ),
    "train_monitor": (
        ["cv.vectorize=true", "monitor.metric=train/loss"],
        ["monitor.metric=train/loss", "val/"],
    ),
    "ddp": (
        ["cv.vectorize=true", "trainer=ddp_sim"],
        ["trainer.devices=1", "cv.vectorize=false"],
    ),
    # A member is tested with its best epoch; the folds one by one would test their final weights.
    "no_best_checkpoint": (
        ["cv.vectorize=true", "callbacks.best_checkpoint=null"],
        ["callbacks.best_checkpoint=null", "final", "cv.vectorize=false"],
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_a_population_cannot_do_is_refused_before_it_trains(case, small_table, tmp_path):
    overrides, fragments = REFUSED[case]
    run = tmp_path / "run"
    cfg = compose(
        tmp_path, *small_table, *QUICK, *CV, "trainer.max_epochs=2", *overrides, f"paths.output_dir={run}"
    )
    with pytest.raises(ValueError) as error:
        train(cfg)
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)
    assert not list(run.glob("fold_*")) and not (run / "checkpoints").exists()  # nothing trained


def test_the_refusal_of_several_devices_names_what_it_saw(small_table, tmp_path):
    overrides = [*small_table, *QUICK, *CV, "cv.vectorize=true", "trainer=ddp_sim"]
    try:
        train(compose(tmp_path, *overrides, f"paths.output_dir={tmp_path / 'run'}"))
    except ValueError as error:
        message = str(error)
    else:
        raise RuntimeError("trainer=ddp_sim was not refused")
    if "trainer.devices=1" not in message:  # not the refusal: an error, not the xfail
        raise RuntimeError(message)
    assert "devices=2" in message or "2 processes" in message or "ddp" in message, message


def memory_refusal(cfg: DictConfig, available: int, monkeypatch) -> str | None:
    """The error of a run with `available` bytes free on its device, or None when it trained."""
    monkeypatch.setattr("litlab.runtime.memory.available_bytes", lambda device: available)
    try:
        train(cfg)
    except ValueError as error:
        if "members would fit" not in str(error) and "one member alone" not in str(error):
            raise
        return str(error)
    return None


def test_a_population_that_does_not_fit_in_memory_is_refused_with_how_many_would(
    small_table, tmp_path, monkeypatch
):
    runs = iter(range(100))

    def cfg() -> DictConfig:  # 6 members, each run in a folder of its own
        settings = [
            "cv.vectorize=true",
            "trainer.max_epochs=1",
            "~logger",
            f"paths.output_dir={tmp_path / str(next(runs))}",
        ]
        return compose(tmp_path, *small_table, *QUICK, *CV, *settings)

    message = memory_refusal(cfg(), 1000, monkeypatch)  # not even one member fits
    assert "one member alone needs about" in message and "cv.vectorize=false" in message, message
    assert not list((tmp_path / "0").glob("fold_*"))  # refused before anything was trained or written
    # The smallest power of two that holds the 6 members; half of it holds 3 to 5 of them.
    available, message = 2**12, None
    while (refused := memory_refusal(cfg(), available, monkeypatch)) is not None:
        message, available = refused, 2 * available
        assert available < 2**40, message
    assert message is not None, "4 KiB held 6 members"
    for fragment in (
        "6 members need about",
        "are free on cpu",
        "members would fit",
        "fewer folds or repeats",
    ):
        assert fragment in message, message
    assert "cv.vectorize=false" in message
    fit = int(re.search(r"about (\d+) members would fit", message).group(1))
    assert 3 <= fit <= 5, message
    # The number said is the number that fits: memory for `fit` members of that size, times 6 / fit,
    # holds the 6; times 6 / (fit + 1) does not (whatever each member is estimated to need).
    half = available // 2
    assert memory_refusal(cfg(), math.ceil(half * 6 / fit), monkeypatch) is None
    assert memory_refusal(cfg(), half * 6 // (fit + 1), monkeypatch) is not None


# 6. Killed with SIGKILL in the middle of its fit, resumed with ckpt_path=last -------------------------


class KillAfterLastCheckpoint(AtomicCheckpointIO):
    """The trainer's checkpoint IO (trainer.plugins) that SIGKILLs its own process once the last.ckpt of
    epoch `epoch` is on disk: a run killed in the middle of its fit, at a chosen epoch, with no chance to
    say so (imported by the train.py subprocess from tests/, on its PYTHONPATH)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        super().save_checkpoint(checkpoint, path, storage_options)
        if Path(path).name == "last.ckpt" and checkpoint.get("epoch") == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def results_of(run: Path) -> dict:
    """What a CV run found: every fold's metrics.json and the run's, flattened, and the out-of-fold rows."""
    found = {
        f"{fold.name}/{k}": v
        for fold in run.glob("fold_*")
        for k, v in flatten(read_json(fold / "metrics.json")).items()
    }
    return {
        **found,
        **flatten(read_json(run / "metrics.json")),
        "oof": (run / "oof_predictions.csv").read_text(),
    }


@pytest.mark.slow
def test_a_population_killed_in_the_middle_of_its_fit_resumes_to_the_uninterrupted_result(tmp_path):
    kill_at = 5
    table = tables(tmp_path / "tables")["binary"]
    logs = tmp_path / "logs"
    args = [
        *table, *QUICK, *CV, *CASES["binary"][1], "cv.vectorize=true", "task_name=population",
        f"paths.log_dir={logs}", "callbacks.last_checkpoint.every_seconds=0",  # a last.ckpt every epoch
        f"trainer.plugins=[{{_target_:test_population.KillAfterLastCheckpoint,epoch:{kill_at}}}]",
    ]  # fmt: skip
    whole = tmp_path / "whole"
    run_cli("train.py", *args[:-1], f"hydra.run.dir={whole}")
    stopped = logs / "population" / "runs" / "stopped"
    killed = run_cli("train.py", *args, f"hydra.run.dir={stopped}", check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    last = load_checkpoint(stopped / "checkpoints" / "last.ckpt")
    active = last["state_dict"]["stopping.active"]
    assert last["epoch"] == kill_at and active.any() and not active.all()  # some members had stopped
    assert not (stopped / "metrics.json").exists() and read_status(stopped)["status"] == "running"

    resumed = run_cli("train.py", *args, "ckpt_path=last")
    assert f"Resuming the population from {stopped / 'checkpoints' / 'last.ckpt'}: epoch {kill_at} done" in (
        resumed.stdout + resumed.stderr
    )  # not trained again from the start
    assert results_of(stopped) == results_of(whole)
    for fold in sorted(p.name for p in whole.glob("fold_*")):  # each fold's curves: the killed run's, then on
        curves = {
            t: v for t, v in tensorboard_points(whole / fold).items() if t.startswith(("train/", "val/"))
        }
        assert {t: v for t, v in tensorboard_points(stopped / fold).items() if t in curves} == curves, fold
    assert read_status(stopped)["status"] == "ok"
    assert load_checkpoint(stopped / "checkpoints" / "last.ckpt")["epoch"] > kill_at  # it trained on


def as_if_killed(run: Path) -> None:
    """Make the folder say what a SIGKILLed process leaves: running, by a process that is gone."""
    record = {k: v for k, v in read_status(run).items() if k not in ("status", "time", "stopped_by")}
    write_status(run, "running", **{**record, "pid": 2**22 + 1})


def test_a_population_killed_after_its_fit_is_only_tested_when_resumed(small_table, tmp_path):
    run = tmp_path / "run"
    args = [*small_table, *QUICK, *CV, *CASES["binary"][1], "cv.vectorize=true", f"paths.output_dir={run}"]
    train(compose(tmp_path, *args))
    whole, last = results_of(run), run / "checkpoints" / "last.ckpt"
    written = last.stat().st_mtime_ns
    # Killed after the fit's last checkpoint, before any fold was tested: each fold folder holds only the
    # curves its TensorBoard run had written.
    for path in [*run.glob("fold_*/*"), run / "metrics.json", run / "oof_predictions.csv"]:
        if not path.name.startswith("events.out.tfevents."):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    as_if_killed(run)
    train(compose(tmp_path, *args, "ckpt_path=last"))
    assert results_of(run) == whole
    assert last.stat().st_mtime_ns == written  # tested, not trained again
    assert read_status(run)["status"] == "ok"


@pytest.mark.parametrize(("optimizer", "population"), [("adam", True), ("sgd", False)])
def test_auto_trains_a_population_only_where_the_config_allows_one(
    optimizer, population, small_table, tmp_path, caplog
):
    run = tmp_path / "run"
    cfg = compose(
        tmp_path, *small_table, *QUICK, *CV, "trainer.max_epochs=2", "cv.vectorize=auto",
        f"model/optimizer={optimizer}", f"paths.output_dir={run}",
    )  # fmt: skip
    caplog.set_level(logging.INFO)
    train(cfg)
    folds = list(run.glob("fold_*"))
    assert len(folds) == 6
    # A population leaves its last.ckpt in the run folder and none in the folds; the folds one by one
    # the other way round.
    assert (run / "checkpoints" / "last.ckpt").is_file() == population
    assert all((fold / "checkpoints" / "last.ckpt").is_file() != population for fold in folds)
    said = "cv.vectorize=auto: the folds one by one (a population cannot train this: it supports"
    assert (said in caplog.text and "torch.optim.SGD" in caplog.text) != population, caplog.text
