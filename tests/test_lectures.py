"""The lectures' toy problems: their data, the Regressor, the data figure, and each experiment end to end."""

from __future__ import annotations

import io
import json

import lightning as L
import matplotlib.image
import pytest
import torch
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litlab.callbacks import DataFigure
from litlab.data import (
    GaussianClassesDataModule,
    NoisyLineDataModule,
    ParabolaDataModule,
    RowsDataModule,
)
from litlab.models import MLP, Regressor
from litlab.runtime.hparams import FINAL
from litlab.train import train

LECTURES = {
    # experiment: (the figure it draws, the metric it reports)
    "hours_linear": ("fitted_curve", "test/r2"),
    "hours_logistic": ("probability", "test/acc"),
    "flamingo_seagull": ("decision_regions", "test/acc"),
    "nonlinear_regression": ("fitted_curve", "test/r2"),
    "moons": ("decision_regions", "test/acc"),
    "noisy_line": ("fitted_curve", "test/r2"),
}
FIGURES = {"fitted_curve", "probability", "decision_regions"}
SHORT = ["trainer.max_epochs=2", "trainer.accelerator=cpu", "trainer.devices=1"]


def decoded_png(data: bytes):
    """The image as an array; fails unless the bytes are a whole PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def sgd(lr: float = 0.1):
    return lambda params: torch.optim.SGD(params, lr=lr)


@pytest.mark.parametrize("experiment", sorted(LECTURES))
def test_lecture_experiment_fast_dev_run_draws_its_figure(compose_config, tmp_path, experiment):
    figure, metric = LECTURES[experiment]
    train(compose_config(f"experiment={experiment}", "debug=fdr"))
    run = tmp_path / "run"
    assert metric in json.loads((run / "metrics.json").read_text())
    assert decoded_png((run / f"{figure}.png").read_bytes()).ndim == 3
    assert {p.stem for p in run.glob("*.png")} & FIGURES == {figure}  # one figure, chosen by the data


def test_hours_experiments_answer_the_lectures_questions(compose_config, tmp_path):
    train(compose_config("experiment=hours_linear", "debug=fdr", run_dir=tmp_path / "linear"))
    assert (tmp_path / "linear" / "predictions.md").read_text().count("x = [4.0]: prediction ") == 1
    train(compose_config("experiment=hours_logistic", "debug=fdr", run_dir=tmp_path / "logistic"))
    answers = (tmp_path / "logistic" / "predictions.md").read_text()
    assert "x = [1.0]: P(pass) = " in answers and "x = [7.0]: P(pass) = " in answers


@pytest.mark.parametrize(
    ("overrides", "figure"),
    [
        (["experiment=noisy_line"], "fitted_curve"),
        (["experiment=hours_logistic"], "probability"),
        (["experiment=moons"], "decision_regions"),
        (
            [
                "experiment=flamingo_seagull",
                "data.means=[[0.0,0.0],[6.0,0.0],[3.0,5.0]]",
                "data.class_names=[a,b,c]",
            ],
            "decision_regions",
        ),
    ],
    ids=["1d-regression", "1d-binary", "2d-binary", "2d-three-classes"],
)
def test_figure_reaches_tensorboard_and_the_run_dir(compose_config, tmp_path, overrides, figure):
    train(compose_config(*overrides, *SHORT))
    run = tmp_path / "run"
    on_disk = decoded_png((run / f"{figure}.png").read_bytes())
    events = EventAccumulator(str(run), size_guidance={"images": 0})
    events.Reload()
    (image,) = events.Images(f"{FINAL}test/{figure}")
    in_tensorboard = decoded_png(image.encoded_image_string)
    assert in_tensorboard.shape[:2] == on_disk.shape[:2] == (image.height, image.width)
    assert on_disk[..., :3].std() > 0.05  # a drawing, not a blank canvas


def test_no_figure_for_more_than_two_features(compose_config, tmp_path):
    train(compose_config("experiment=breast_cancer", "debug=fdr"))
    assert not {p.stem for p in (tmp_path / "run").glob("*.png")} & FIGURES


@pytest.mark.parametrize("name", ["flamingo_seagull", "moons", "parabola", "noisy_line"])
def test_generated_data_is_the_same_for_the_same_seed(compose_config, name):
    def splits(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        overrides = [f"data={name}", f"seed={seed}"]
        if name == "noisy_line":
            overrides.append("data.random_state=null")  # the data too, not just the split, from the seed
        datamodule = instantiate(compose_config(*overrides).data)
        datamodule.setup("fit")
        return datamodule.splits

    first, again, other = splits(1), splits(1), splits(2)
    assert first.keys() == {"train", "val", "test"}
    for split in first:
        assert all(torch.equal(a, b) for a, b in zip(first[split], again[split], strict=True))
    assert not torch.equal(first["train"][0], other["train"][0])
    x, y = first["train"]
    assert x.dtype == torch.float32 and x.ndim == 2
    regression = name in ("parabola", "noisy_line")
    assert (y.dtype, y.ndim) == ((torch.float32, 2) if regression else (torch.long, 1))


def test_flamingos_and_seagulls_gather_round_their_means(compose_config):
    datamodule = instantiate(compose_config("data=flamingo_seagull", "data.n_per_class=2000").data)
    datamodule.setup("fit")
    x, y = datamodule.splits["train"]
    assert torch.allclose(x[y == 0].mean(0), torch.tensor([8.0, 7.0]), atol=0.15)
    assert torch.allclose(x[y == 1].mean(0), torch.tensor([5.0, 3.0]), atol=0.15)
    assert torch.allclose(x[y == 1].std(0), torch.tensor([1.5, 1.5]), atol=0.1)


def test_table_trains_and_evaluates_on_its_own_rows(compose_config):
    datamodule = instantiate(compose_config("data=hours_points").data)
    datamodule.setup("fit")
    x, y = datamodule.splits["train"]
    assert x.tolist() == [[1.0], [2.0], [3.0]] and y.tolist() == [[2.0], [4.0], [6.0]]
    assert datamodule.splits["val"] == datamodule.splits["test"] == datamodule.splits["train"]


def test_regressor_metrics_match_a_hand_computation():
    net = MLP(1, 1)
    with torch.no_grad():
        net.layers[-1].weight.fill_(1.0)
        net.layers[-1].bias.fill_(0.5)
    model = Regressor(net, optimizer=sgd())
    # Predictions 0.5 .. 4.5, in batches of 2, 2 and 1: the epoch's numbers weigh every sample once.
    data = RowsDataModule([[0.0], [1.0], [2.0], [3.0], [4.0]], [1.0, 2.0, 2.0, 5.0, 4.0], batch_size=2)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.test(model, datamodule=data, verbose=False)
    squared_errors = 0.25 + 0.25 + 0.25 + 2.25 + 0.25
    spread = sum((v - 2.8) ** 2 for v in [1.0, 2.0, 2.0, 5.0, 4.0])
    assert metrics["test/loss"] == pytest.approx(squared_errors / 5)
    assert metrics["test/mse"] == pytest.approx(squared_errors / 5)
    assert metrics["test/r2"] == pytest.approx(1 - squared_errors / spread)
    assert model.predict_step((torch.tensor([[4.0]]),), 0).item() == pytest.approx(4.5)


@pytest.mark.slow
def test_regressor_learns_the_hours_table(compose_config, tmp_path):
    cfg = compose_config("experiment=hours_linear", "trainer.max_epochs=300", "model.optimizer.lr=0.1")
    train(cfg)
    answer = (tmp_path / "run" / "predictions.md").read_text()
    assert float(answer.split("prediction ")[1].split()[0]) == pytest.approx(8.0, abs=0.1)


def test_bad_inputs_say_what_to_fix():
    model = Regressor(MLP(1, 1), optimizer=sgd())
    with pytest.raises(ValueError, match=r"predicts \(3, 1\) but the targets are torch.float32 \(3,\)"):
        model.loss_and_outputs(torch.rand(3, 1), torch.rand(3))
    with pytest.raises(ValueError, match=r"model.optimizer is invalid.*lr"):
        Regressor(MLP(1, 1), optimizer=sgd(lr=-1.0))
    with pytest.raises(ValueError, match=r"data.inputs must be 3 rows .* got shape \(2, 1\)"):
        RowsDataModule([[1.0], [2.0]], [0, 0, 1])
    with pytest.raises(
        ValueError, match=r"data.targets: class labels must be the integers 0..2.*seen are \[0, 2\]"
    ):
        RowsDataModule([[1.0], [2.0]], [0, 2])
    with pytest.raises(ValueError, match=r"data.targets \[0.5, 1\] are not all integers.*data.class_names"):
        RowsDataModule([[1.0], [2.0]], [0.5, 1], class_names=["a", "b"])
    with pytest.raises(
        ValueError, match=r"data.class_names \['a', 'b', 'c'\] names 3 classes but data.means has 2"
    ):
        GaussianClassesDataModule([[0.0, 0.0], [1.0, 1.0]], 1.0, 10, class_names=["a", "b", "c"])
    parabola = ParabolaDataModule(n_samples=20)
    parabola.load = lambda: (torch.rand(20), torch.rand(20))  # one feature, but not as a column
    with pytest.raises(
        ValueError, match=r"inputs of shape \(20,\) and 20 targets; expected inputs \(n, features\)"
    ):
        parabola.setup()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("hours_points", {"num_classes": None, "class_names": [], "num_targets": 1}),
        ("hours_pass", {"num_classes": 2, "class_names": ["fail", "pass"], "num_targets": None}),
        ("flamingo_seagull", {"num_classes": 2, "class_names": ["flamingo", "seagull"], "num_targets": None}),
        ("moons", {"num_classes": 2, "class_names": ["0", "1"], "num_targets": None}),
        ("noisy_line", {"num_classes": None, "class_names": [], "num_targets": 1}),
    ],
)
def test_the_lecture_data_describes_itself(compose_config, sized_by_data, data, expected):
    regression = expected["num_targets"] is not None
    cfg = sized_by_data(compose_config(f"data={data}", *(["model=regressor"] if regression else [])))
    described = dict(cfg.from_data)
    width = 1 if data.startswith(("hours", "noisy")) else 2
    assert described == {
        "input_shape": [width], "num_features": width, "feature_names": [], **expected
    }  # fmt: skip
    model = instantiate(cfg.model)
    assert model.net.layers[-1].in_features == width


def test_table_targets_choose_the_task():
    points = RowsDataModule([[1.0], [2.0]], [2.0, 4.0])
    points.setup()
    assert points.splits["train"][1].tolist() == [[2.0], [4.0]] and points.describe()["num_targets"] == 1
    labels = RowsDataModule([[1.0], [2.0], [3.0]], [0, 2, 1])
    labels.setup()
    assert labels.splits["train"][1].dtype == torch.long and labels.describe()["num_classes"] == 3
    five = NoisyLineDataModule(n_samples=30, n_features=5)
    five.setup()
    assert five.describe()["input_shape"] == [5]


def test_query_points_must_fit_the_data(compose_config):
    cfg = compose_config(
        "experiment=hours_linear", "debug=fdr", "callbacks.data_figure.query_points=[[4.0,1.0]]"
    )
    with pytest.raises(ValueError, match=r"query_points \[\[4.0, 1.0\]\] should have 1 values each"):
        train(cfg)
    with pytest.raises(ValueError, match=r"feature_names \['a'\] should name the data's 2 input features"):
        DataFigure(feature_names=["a"]).check(2)
