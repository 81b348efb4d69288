"""eval.py and predict.py: a checkpoint alone gives back the training run's test metrics and predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_config, run_cli

from litlab.checkpoints.rebuild import rebuild
from litlab.data.splits import stratified_split
from litlab.evaluate import evaluate
from litlab.predict import predict
from litlab.train import train


def task_config(name: str, tmp_path: Path, *overrides: str):
    """conf/<name>.yaml (eval, predict) composed with outputs under tmp_path."""
    return compose_config(
        name, f"paths.log_dir={tmp_path / 'logs'}", f"paths.output_dir={tmp_path / name}", *overrides
    )


def trained(compose_config, tmp_path: Path, experiment: str, *overrides: str) -> tuple[Path, dict]:
    """A short training run; the checkpoint it tested and its metrics.json: the best epoch's, or
    last.ckpt for a recipe that tests its final weights (experiment=caf: L-BFGS, no best checkpoint)."""
    cfg = compose_config(
        f"experiment={experiment}", "trainer.max_epochs=3", "trainer.accelerator=cpu", *overrides
    )
    train(cfg)
    run = tmp_path / "run"
    best = next((run / "checkpoints").glob("epoch_*.ckpt"), run / "checkpoints" / "last.ckpt")
    return best, json.loads((run / "metrics.json").read_text())


@pytest.mark.parametrize("experiment", ["diabetes", "caf"])
def test_eval_recomputes_the_training_runs_test_metrics(compose_config, tmp_path, experiment, capsys):
    best, metrics = trained(compose_config, tmp_path, experiment)
    results = evaluate(task_config("eval", tmp_path, f"ckpt_path={best}"))
    assert results == {k: v for k, v in metrics.items() if k.startswith("test/")}
    printed = capsys.readouterr().out
    assert "| class | precision | recall | f1 | support |" in printed and "Failed to classify" in printed
    assert (tmp_path / "eval" / "classification_report.md").exists()


def raw_test_rows(datamodule) -> tuple[np.ndarray, np.ndarray]:
    """The test split's rows as they are in the files (before transform and standardisation)."""
    raw, labels = datamodule.load()
    generator = torch.Generator().manual_seed(datamodule.seed)
    _, _, test = stratified_split(
        torch.as_tensor(labels), datamodule.val_fraction, datamodule.test_fraction, generator
    )
    return raw[test.numpy()], labels[test.numpy()]


@pytest.mark.parametrize("experiment", ["diabetes", "caf"])
def test_predict_on_raw_rows_matches_the_test_set(compose_config, tmp_path, experiment):
    best, _ = trained(compose_config, tmp_path, experiment)
    _, datamodule, model, _ = rebuild(best)
    datamodule.setup()
    with torch.inference_mode():
        expected = model.predict_step(datamodule.splits["test"][0], 0)
    rows, _ = raw_test_rows(datamodule)
    table = tmp_path / "rows.csv"
    np.savetxt(table, rows, delimiter=",", fmt="%.10g")
    out = predict(
        task_config(
            "predict", tmp_path, f"ckpt_path={best}", f"input={table}", f"output={tmp_path / 'p.csv'}"
        )
    )
    lines = out.read_text().splitlines()
    assert len(lines) == len(rows) + 1 and lines[0].startswith("row,class,p_")
    probs = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
    expected = expected.numpy()
    np.testing.assert_allclose(probs, expected, atol=2e-5)
    names = datamodule.describe()["class_names"]
    assert lines[0] == "row,class," + ",".join(f"p_{name}" for name in names)
    assert [line.split(",")[1] for line in lines[1:]] == [names[i] for i in expected.argmax(axis=1)]


def test_predict_names_the_cifar_classes_from_the_checkpoint_alone(compose_config, tmp_path, data_dir):
    best, _ = trained(compose_config, tmp_path, "cifar10", "trainer.max_epochs=1", "model.net.channels=[8]")
    images = np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    (data_dir / "cifar-10-batches-py" / "batches.meta").unlink()  # nothing of the data is read
    out = tmp_path / "p.csv"
    predict(task_config("predict", tmp_path, f"ckpt_path={best}", f"input={tmp_path / 'images.npy'}",
                        f"output={out}"))  # fmt: skip
    assert out.read_text().splitlines()[0].startswith("row,class,p_airplane,p_automobile,p_bird,")


def test_predict_images_from_npy_and_idx(compose_config, tmp_path, data_dir):
    best, _ = trained(compose_config, tmp_path, "mnist", "trainer.max_epochs=1")
    _, datamodule, model, _ = rebuild(best)
    datamodule.setup()
    images = datamodule.splits["test"][0][:7]
    with torch.inference_mode():
        expected = model.predict_step(datamodule.normalize(images), 0).argmax(dim=1).tolist()
    np.save(tmp_path / "images.npy", images.numpy())
    idx = data_dir / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    for source in (tmp_path / "images.npy", idx):
        out = tmp_path / f"{source.name}.csv"
        predict(task_config("predict", tmp_path, f"ckpt_path={best}", f"input={source}", f"output={out}"))
        classes = [int(line.split(",")[1]) for line in out.read_text().splitlines()[1:8]]
        assert classes == expected


def test_predict_refuses_bad_rows(compose_config, tmp_path):
    best, _ = trained(compose_config, tmp_path, "diabetes", "trainer.max_epochs=1")
    cases = {
        "nine.csv": ("0.1," * 9).rstrip(",") + "\n",
        "word.csv": "0.1,0.2,0.3,high,0.5,0.6,0.7,0.8\n",
    }
    messages = {"nine.csv": r"expected rows of 8 features, got an array of shape \(1, 9\)",
                "word.csv": r"line 1, column 4 is 'high', not a number"}  # fmt: skip
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        cfg = task_config("predict", tmp_path, f"ckpt_path={best}", f"input={tmp_path / name}")
        with pytest.raises(ValueError, match=messages[name]):
            predict(cfg)
    with pytest.raises(ValueError, match="unknown format"):
        (tmp_path / "rows.txt").write_text("1\n")
        predict(task_config("predict", tmp_path, f"ckpt_path={best}", f"input={tmp_path / 'rows.txt'}"))


def test_eval_refuses_a_checkpoint_not_from_litlab(tmp_path):
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="carries no litlab config"):
        evaluate(task_config("eval", tmp_path, f"ckpt_path={path}"))


@pytest.mark.slow
def test_entry_points_run_from_the_command_line(compose_config, tmp_path):
    best, metrics = trained(compose_config, tmp_path, "diabetes", "trainer.max_epochs=1")
    rows = tmp_path / "rows.csv"
    rows.write_text("h1,h2,h3,h4,h5,h6,h7,h8\n" + "0,0,0,0,0,0,0,0\n")
    common = [f"ckpt_path={best}", f"paths.log_dir={tmp_path / 'logs'}"]
    done = run_cli("eval.py", *common, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        f"test/acc         {metrics['test/acc']:.4f}" in done.stdout and "Failed to classify" in done.stdout
    )
    out = tmp_path / "pred.csv"
    run_cli("predict.py", *common, f"input={rows}", f"output={out}")
    assert out.read_text().splitlines()[0] == "row,class,p_diabetes,p_no diabetes"


def test_predict_with_a_regressor_writes_its_values(compose_config, tmp_path):
    cfg = compose_config("experiment=hours_linear", "trainer.max_epochs=5", "callbacks.early_stopping=null")
    train(cfg)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    _, _, model, _ = rebuild(last)
    (tmp_path / "hours.csv").write_text("hours\n4\n7\n")
    out = tmp_path / "p.csv"
    hours = f"input={tmp_path / 'hours.csv'}"
    predict(task_config("predict", tmp_path, f"ckpt_path={last}", hours, f"output={out}"))
    lines = out.read_text().splitlines()
    assert lines[0] == "row,prediction" and len(lines) == 3
    with torch.inference_mode():
        expected = model.predict_step(torch.tensor([[4.0], [7.0]]), 0)[:, 0].tolist()
    assert [float(line.split(",")[1]) for line in lines[1:]] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"expected rows of 1 features, got an array of shape \(2, 2\)"):
        (tmp_path / "two.csv").write_text("4,1\n7,1\n")
        predict(task_config("predict", tmp_path, f"ckpt_path={last}", f"input={tmp_path / 'two.csv'}"))


def test_predict_header_option_and_non_finite_inputs(compose_config, tmp_path):
    best, _ = trained(compose_config, tmp_path, "caf", "trainer.max_epochs=1")
    numbers = ",".join(str(i) for i in range(557))
    (tmp_path / "numbered.csv").write_text(numbers + "\n" + ",".join(["1.5"] * 557) + "\n")
    out = tmp_path / "p.csv"
    predict(task_config("predict", tmp_path, f"ckpt_path={best}", f"input={tmp_path / 'numbered.csv'}",
                        f"output={out}", "header=true"))  # fmt: skip
    assert len(out.read_text().splitlines()) == 2  # the header of numbers is not a cell
    (tmp_path / "negative.csv").write_text(",".join(["-3"] * 557) + "\n")
    with pytest.raises(ValueError, match="row 1, feature 1 is not a finite number after preprocessing"):
        predict(task_config("predict", tmp_path, f"ckpt_path={best}", f"input={tmp_path / 'negative.csv'}"))
