"""At test end: the lectures' figure for a model of one or two input features, and its answers to the
lectures' questions ("4 hours?", "1 and 7 hours?")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from litlab.callbacks.plots import PlotData, Predict, curve_figure, probability_figure, regions_figure
from litlab.callbacks.publish import publish_figure
from litlab.runtime.files import write_text_atomic
from litlab.runtime.hparams import FINAL

log = logging.getLogger(__name__)

# (input features, task) -> the figure's name and the function that draws it.
FIGURES = {
    (1, "regression"): ("fitted_curve", curve_figure),
    (1, "binary"): ("probability", probability_figure),
    (2, "binary"): ("decision_regions", regions_figure),
    (2, "multiclass"): ("decision_regions", regions_figure),
}


def collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    """All `(inputs, targets)` of a loader, concatenated on the CPU."""
    xs, ys = zip(*((x.cpu(), y.cpu()) for x, y in batches), strict=True)
    return torch.cat(xs), torch.cat(ys)


def net_description(module: nn.Module) -> str:
    """The widths of the module's Linear layers for figure titles, e.g. `linear 1-1`, `MLP 2-4-5-1`, and
    `MLP 2-4-5-1 + linear path` for an MLP with one beside its hidden layers."""
    named = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    path = any(name.endswith("linear_path") for name, _ in named)
    linears = [m for name, m in named if not name.endswith("linear_path")]
    if not linears:
        return type(module).__name__
    widths = "-".join(map(str, [linears[0].in_features, *(m.out_features for m in linears)]))
    return f"{'linear' if len(linears) == 1 else 'MLP'} {widths}" + (" + linear path" if path else "")


def predictor(pl_module: L.LightningModule) -> Predict:
    """The module's `predict_step` (values or probabilities) on CPU inputs, in eval mode, without grad."""

    def predict(x: torch.Tensor) -> torch.Tensor:
        training = pl_module.training
        pl_module.eval()
        with torch.inference_mode():
            out = pl_module.predict_step(x.to(pl_module.device), 0).float().cpu()
        pl_module.train(training)
        return out

    return predict


def answers(
    pl_module: L.LightningModule, predict: Predict, queries: torch.Tensor, classes: Sequence[str]
) -> list[str]:
    """One line per query point: the prediction, or the class probability and the class the model gives
    (its own `predicted_classes`, so the figure and the report decide alike)."""
    task, outputs = pl_module.task, predict(queries)
    decided = pl_module.predicted_classes(outputs).tolist() if task != "regression" else [None] * len(outputs)
    lines = []
    for point, value, k in zip(queries.tolist(), outputs, decided, strict=True):
        if task == "binary":  # the lectures print P(class 1) and whether it passes
            p = value[1].item()
            lines.append(f"x = {point}: P({classes[1]}) = {p:.4f} -> {classes[k]} ({bool(k)})")
        elif task == "multiclass":
            lines.append(f"x = {point}: {classes[k]} (p = {value[k].item():.4f})")
        else:
            lines.append(f"x = {point}: prediction {', '.join(f'{v:.4f}' for v in value.tolist())}")
    return lines


class DataFigure(Callback):
    """Draws what a model learned over its data at test end, chosen by task and inputs, into the run dir
    (PNG) and TensorBoard's Images tab:

    - 1 input feature, a regression of one target: the fitted curve over the points (`fitted_curve.png`);
    - 1 input feature, a binary task: P(class 1) against x with the 0.5 line (`probability.png`);
    - 2 input features, classes: decision regions with the points (`decision_regions.png`);
    - anything else (more features, images): no figure.

    The task is the model's (`pl_module.task`), the input shape and the names the data's (`describe()`).

    `query_points` (e.g. [[4.0]]) are inputs whose predictions are logged, written to `predictions.md`
    and marked on the figure: the lectures' "4 hours?" and "1 and 7 hours?". `feature_names` label the axes
    (default: the data's own feature names, when it has them). `title` (the run's: conf/train.yaml) heads
    the figure and `predictions.md`.
    """

    def __init__(
        self,
        query_points: Sequence[Sequence[float]] | None = None,
        feature_names: Sequence[str] = (),
        title: str = "",
    ) -> None:
        self.query_points = [[float(v) for v in point] for point in query_points or []]
        self.feature_names = list(feature_names)
        self.title = title

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if not trainer.is_global_zero or datamodule is None:
            return
        # What to draw follows from the model's task and the data's description, never from shapes.
        task, described = pl_module.task, datamodule.describe()
        if len(described["input_shape"]) != 1:
            shape = described["input_shape"]
            log.debug("DataFigure: the inputs are not feature vectors (shape %s); no figure", shape)
            return
        features = described["num_features"]
        self.check(features)
        queries = torch.tensor(self.query_points, dtype=torch.float32).reshape(-1, features)
        predict = predictor(pl_module)
        classes = described["class_names"]
        run_dir = Path(trainer.default_root_dir)
        if len(queries):
            self.report(trainer, run_dir, answers(pl_module, predict, queries, classes))
        if (features, task) not in FIGURES or (task == "regression" and described["num_targets"] != 1):
            log.debug("DataFigure: no figure for %d input features and a %s task", features, task)
            return
        name, draw = FIGURES[features, task]
        train, test = collect(datamodule.train_dataloader()), collect(datamodule.test_dataloader())
        # The lectures' tables train and test on the same rows (in another order: training shuffles).
        x_train, x_test = train[0], test[0]
        shared = x_train.shape == x_test.shape and torch.equal(x_train.unique(dim=0), x_test.unique(dim=0))
        axes = self.feature_names or described["feature_names"] or (["x"] if features == 1 else ["x1", "x2"])
        data = PlotData(
            predict, train, test, shared, queries, net_description(pl_module), axes, classes, task
        )
        publish_figure(trainer, run_dir, name, draw(data), self.title)

    def check(self, num_features: int) -> None:
        """Query points and feature names agree with the data's number of input features."""
        wrong = [point for point in self.query_points if len(point) != num_features]
        if wrong:
            raise ValueError(
                f"callbacks.data_figure.query_points {wrong} should have {num_features} values each, one per "
                f"input feature of the data; give points such as {[[0.0] * num_features]}"
            )
        if self.feature_names and len(self.feature_names) != num_features:
            raise ValueError(
                f"callbacks.data_figure.feature_names {self.feature_names} should name the data's "
                f"{num_features} input features, one name each"
            )

    def report(self, trainer: L.Trainer, run_dir: Path, lines: list[str]) -> None:
        """Log the query answers; write them to predictions.md and TensorBoard's Text tab."""
        for line in lines:
            log.info("Prediction for %s", line)
        markdown = "".join(f"- {line}\n" for line in lines)
        which = f" ({self.title})" if self.title else ""
        write_text_atomic(
            run_dir / "predictions.md", f"# Predictions for the query points{which}\n\n{markdown}"
        )
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_text(f"{FINAL}test/predictions", markdown, trainer.global_step)
