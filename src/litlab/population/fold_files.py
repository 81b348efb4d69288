"""One member of a finished population, tested and written as its sequential fold writes itself:
checkpoints/epoch_NNN.ckpt (its best epoch, loadable by eval.py, predict.py and
`Classifier.load_from_checkpoint`), metrics.json with its "fit" section, oof_predictions.csv, the
classification report, status.json and its TensorBoard run (curves, then the HParams and the figure).
It has no last.ckpt of its own: the population's, in the run folder, resumes the fit. Its confusion
figure is drawn as soon as it stops, while the others still train (`MemberFigures`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from litlab.callbacks.classification_report import confusion_counts
from litlab.callbacks.drawing import confusion_figure
from litlab.runs.lifecycle import RunRecord
from litlab.runtime.logging import log_hparams

log = logging.getLogger(__name__)


def fold_titles(cfg: DictConfig, folds: list[Any]) -> list[str]:
    """Each fold's figure title: the run's, then the fold."""
    return [f"{cfg.get('title') or cfg.task_name} ({fold.name})" for fold in folds]


class MemberFigures(Callback):
    """Each member's confusion figure, drawn by the drawing process (callbacks/drawing.py: FigurePool) as
    soon as the member stops: its best weights are final from then on, so its test rows' confusion is
    known while the others still train. `write_members` takes the drawn figure when its own test gives
    the same counts (the tester's Linear layers against the population's batched ones could round a
    probability of exactly 0.5 the other way; that figure is then drawn again)."""

    def __init__(self, figures: Any, tester: Any, names: list[str], titles: list[str]) -> None:
        self.figures, self.tester, self.names, self.titles = figures, tester, names, titles
        self.drawing: set[int] = set()

    @torch.no_grad()
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        stopped = [k for k in (~pl_module.stopping.active).nonzero()[:, 0].tolist() if k not in self.drawing]
        if not stopped:
            return
        best_net, test = pl_module.best_net, pl_module.splits["test"]
        best_net.eval()  # no dropout
        for k in stopped:
            x, y = test.member(k)
            members = torch.tensor([k], device=x.device)
            probabilities = pl_module.probabilities(best_net(x[None], members))[0]
            predicted = self.tester.predicted_classes(probabilities)
            confusion = confusion_counts(y, predicted, len(self.names)).cpu()
            self.figures.submit(confusion_figure, (confusion.numpy(), self.names, self.titles[k]))
            self.drawing.add(k)
        best_net.train()


def tested_metrics(model: Any, x: torch.Tensor, y: torch.Tensor, stage: str) -> tuple[dict[str, float], Any]:
    """`stage`'s loss and metrics of `model` on (x, y) through its own metric collection (the values
    its sequential fold's trainer.validate / test gives), and the outputs."""
    model.eval()
    loss, outputs = model.loss_and_outputs(x, y)
    metrics = getattr(model, f"{stage}_metrics")
    metrics.reset()
    metrics.update(model.metric_inputs(outputs.float()), y)
    values = {f"{stage}/loss": float(loss), **{name: float(v) for name, v in metrics.compute().items()}}
    metrics.reset()
    return values, outputs


def write_members(
    cfg: DictConfig, config: dict[str, Any], folds: list[Any], tester: Any, population: Any,
    data_states: list[dict[str, Any]], cv: Any, overrides: list[str], loggers: list[list[Any]],
    drawing: Any,
) -> None:  # fmt: skip
    """Test every member with its best weights (loaded into `tester`, one member at a time) and write
    its fold folder; the folds' confusion figures come from `drawing` (a FigurePool: those drawn while
    the fit went on, the others drawn now, in parallel)."""
    from litlab.callbacks.classification_report import publish_report, write_report

    names = list(cfg.from_data.class_names)
    tested = []
    for k, fold in enumerate(folds):
        tester.net.load_state_dict(population.best_net.member_state(k))
        tested.append(test_member(cfg, config, k, fold, tester, population, data_states[k], cv))
    titles = fold_titles(cfg, folds)
    jobs = [
        (confusion.numpy(), names, title) for (_, confusion, _), title in zip(tested, titles, strict=True)
    ]
    pooled, pooled_title = cv.pooled_confusion()  # the run's report, over every fold: drawn with theirs
    *figures, pooled_png = drawing.pngs(confusion_figure, [*jobs, (pooled.numpy(), names, pooled_title)])
    cv.pooled_figure = (pooled, pooled_png)
    for k, fold in enumerate(folds):
        metrics, confusion, status = tested[k]
        fold_dir = cv.fold_dir(fold.name)
        step = int(population.stepped[k])
        publish_report(loggers[k], *write_report(fold_dir, confusion, names, titles[k], figures[k]), step)
        log_hparams(loggers[k], cfg, overrides, metrics, step)
        RunRecord(fold_dir, resuming=False).write("ok", **status)


def test_member(
    cfg: DictConfig, config: dict[str, Any], k: int, fold: Any, model: Any, population: Any,
    data_state: dict[str, Any], cv: Any,
) -> tuple[dict[str, float], torch.Tensor, dict[str, Any]]:  # fmt: skip
    """Member `k` (its best weights in `model`) tested on its fold: its checkpoint, metrics.json and
    out-of-fold rows written; returns its metrics, its confusion matrix and its status details."""
    import lightning as L

    from litlab.checkpoints.contents import CONFIG_KEY
    from litlab.checkpoints.io import AtomicCheckpointIO
    from litlab.models.supervised import TRAIN_HISTORY_KEY
    from litlab.runs.layout import BEST_NAME, checkpoint_dir

    stopping, history = population.stopping, population.history[k]
    best, last = int(stopping.best_epoch[k]), int(stopping.last_epoch[k])
    splits = population.splits
    val, _ = tested_metrics(model, *(t.to(model.device) for t in splits["val"].member(k)), "val")
    x_test, y_test = (t.to(model.device) for t in splits["test"].member(k))
    test, probabilities = tested_metrics(model, x_test, y_test, "test")
    metrics = {**history.get(best, {}), **dict(sorted({**val, **test}.items()))}
    max_epochs = cfg.trainer.get("max_epochs")
    # As runs/lifecycle.stopped_by says it: reaching max_epochs first, whether or not patience ran out too.
    at_limit = max_epochs is not None and max_epochs >= 0 and last + 1 >= max_epochs
    stopped_by = "early_stopping" if bool(stopping.stopped_early[k]) and not at_limit else "max_epochs"
    fit = {
        "best_epoch": best, "last_epoch": last, "stopped_by": stopped_by, "tested": "best checkpoint",
        "last_epoch_train": history.get(last, {}),
    }  # fmt: skip
    path = checkpoint_dir(cv.fold_dir(fold.name)) / f"{BEST_NAME.format(epoch=best)}.ckpt"
    checkpoint = {
        "epoch": best,
        "global_step": int(population.stepped[k]),
        "pytorch-lightning_version": L.__version__,
        "state_dict": model.state_dict(),
        CONFIG_KEY: config,
        TRAIN_HISTORY_KEY: history,
        **data_state,  # the fold's fitted preprocessing, under the data module's name (as Lightning keeps it)
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    AtomicCheckpointIO().save_checkpoint(checkpoint, path)
    names = list(cfg.from_data.class_names)
    cv.add(fold, metrics, y_test, probabilities, model.task, names, fit)
    confusion = confusion_counts(y_test, model.predicted_classes(probabilities), len(names)).cpu()
    status = {
        "fit_done": True, "best_checkpoint": str(path), "train_metrics": history.get(best, {}), "fit": fit,
        "epochs": last + 1, "max_epochs": max_epochs, "stopped_by": stopped_by,
    }  # fmt: skip
    return metrics, confusion, status
