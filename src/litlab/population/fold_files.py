"""One member of a finished population, tested and written as its sequential fold writes itself:
checkpoints/epoch_NNN.ckpt (its best epoch, loadable by eval.py, predict.py and
`Classifier.load_from_checkpoint`), metrics.json with its "fit" section, oof_predictions.csv, the
classification report, status.json and its TensorBoard run (curves, then the HParams and the figure).
It has no last.ckpt of its own: the population's, in the run folder, resumes the fit.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from omegaconf import DictConfig

log = logging.getLogger(__name__)


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


def write_member(
    cfg: DictConfig, config: dict[str, Any], k: int, fold: Any, model: Any, population: Any,
    data_state: dict[str, Any], cv: Any, overrides: list[str], loggers: list[Any],
) -> None:  # fmt: skip
    """Test member `k` (its best weights are in `model`) and write its fold folder."""
    import lightning as L

    from litlab.callbacks.classification_report import publish_report, write_report
    from litlab.checkpoints.contents import CONFIG_KEY
    from litlab.checkpoints.io import AtomicCheckpointIO
    from litlab.models.supervised import TRAIN_HISTORY_KEY
    from litlab.runs.layout import BEST_NAME, checkpoint_dir
    from litlab.runs.lifecycle import RunRecord
    from litlab.runtime.logging import log_hparams

    stopping, history = population.stopping, population.history[k]
    best, last = int(stopping.best_epoch[k]), int(stopping.last_epoch[k])
    splits = population.splits
    val, _ = tested_metrics(model, *(t.to(model.device) for t in splits["val"].member(k)), "val")
    x_test, y_test = (t.to(model.device) for t in splits["test"].member(k))
    test, probabilities = tested_metrics(model, x_test, y_test, "test")
    metrics = {**history.get(best, {}), **dict(sorted({**val, **test}.items()))}
    stopped_by = "early_stopping" if bool(stopping.stopped_early[k]) else "max_epochs"
    fit = {
        "best_epoch": best, "last_epoch": last, "stopped_by": stopped_by, "tested": "best checkpoint",
        "last_epoch_train": history.get(last, {}),
    }  # fmt: skip
    fold_dir = cv.fold_dir(fold.name)
    path = checkpoint_dir(fold_dir) / f"{BEST_NAME.format(epoch=best)}.ckpt"
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
    cv.add(fold, metrics, y_test, probabilities, model.task, list(cfg.from_data.class_names), fit)
    names = list(cfg.from_data.class_names)
    predicted = model.predicted_classes(probabilities)
    confusion = torch.bincount(y_test * len(names) + predicted, minlength=len(names) ** 2).reshape(
        len(names), -1
    )
    title = f"{cfg.get('title') or cfg.task_name} ({fold.name})"
    step = int(population.stepped[k])
    publish_report(loggers, *write_report(fold_dir, confusion.cpu(), names, title), step)
    log_hparams(loggers, cfg, overrides, metrics, step)
    record = RunRecord(fold_dir, resuming=False)
    record.write(
        "ok", fit_done=True, best_checkpoint=str(path), train_metrics=history.get(best, {}), fit=fit,
        epochs=last + 1, max_epochs=cfg.trainer.get("max_epochs"), stopped_by=stopped_by,
    )  # fmt: skip
