"""At test end: a confusion matrix figure and a per-class precision/recall/F1 table, as the lectures print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from litlab.callbacks.drawing import confusion_figure
from litlab.callbacks.publish import add_png, save_png
from litlab.runtime.files import write_bytes_atomic, write_text_atomic
from litlab.runtime.hparams import FINAL


def confusion_counts(targets: torch.Tensor, predicted: torch.Tensor, classes: int) -> torch.Tensor:
    """The (classes, classes) confusion matrix [target, prediction] of these rows, on their device."""
    pairs = targets * classes + predicted
    return torch.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def per_class_report(confusion: torch.Tensor, names: Sequence[str]) -> list[dict[str, float | str]]:
    """Rows of class, precision, recall, F1 and support from a (true x predicted) confusion matrix."""
    confusion = confusion.double()
    hits = confusion.diag()
    precision = hits / confusion.sum(0).clamp_min(1)
    recall = hits / confusion.sum(1).clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    support = confusion.sum(1)
    return [
        {"class": name, "precision": p, "recall": r, "f1": f, "support": int(s)}
        for name, p, r, f, s in zip(
            names, precision.tolist(), recall.tolist(), f1.tolist(), support.tolist(), strict=True
        )
    ]


def report_markdown(rows: list[dict], confusion: torch.Tensor, title: str = "") -> str:
    """The table as Markdown under the run's title, with the lectures' "failed to classify N of M" line
    under it."""
    lines = [f"**{title}**", ""] if title else []
    lines += ["| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['class']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
        for r in rows
    ]
    total, wrong = int(confusion.sum()), int(confusion.sum() - confusion.diag().sum())
    lines += ["", f"Failed to classify {wrong} of {total} ({100 * wrong / max(total, 1):.1f}%)"]
    return "\n".join(lines) + "\n"


def class_names(trainer: L.Trainer, num_classes: int) -> list[str]:
    """The data's class names (its `describe()`), or "0".."K-1" when tested on plain dataloaders."""
    datamodule = trainer.datamodule
    if datamodule is None:
        return [str(k) for k in range(num_classes)]
    names = datamodule.describe()["class_names"]
    if len(names) != num_classes:
        raise ValueError(
            f"the data names {len(names)} classes {names}, but the model classifies {num_classes}: the "
            "checkpoint or the model config was made for other data; train the model on this data"
        )
    return list(names)


class ClassificationReport(Callback):
    """At test end, for a classifier (`pl_module.task` binary or multiclass; a regressor is skipped), writes
    the confusion matrix figure and the per-class table to the run dir (`confusion_matrix.png`,
    `confusion_matrix.csv`, `classification_report.md`) and to TensorBoard. It counts the classes that the
    model's `predicted_classes` gives for the (n, num_classes) probabilities its `test_step` returns; the
    classes are named by the data module's `describe()`; `title` (the run's: conf/train.yaml) heads the
    figure and the table. The table's Markdown stays in `markdown` for a task to print."""

    def __init__(self, title: str = "") -> None:
        self.title = title
        self.confusion: torch.Tensor | None = None
        self.markdown = ""

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.confusion = None
        if pl_module.task in ("binary", "multiclass"):
            # Zeros from the start: a DDP rank without test batches still joins the sum at epoch end.
            k = pl_module.num_classes
            self.confusion = torch.zeros(k, k, dtype=torch.long, device=pl_module.device)

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.confusion is None:
            return  # not a classifier
        counts = confusion_counts(batch[1], pl_module.predicted_classes(outputs), len(self.confusion))
        self.confusion += counts.to(self.confusion.device)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.confusion is None:
            return
        confusion = trainer.strategy.reduce(self.confusion, reduce_op="sum").cpu()  # all ranks' test batches
        if not trainer.is_global_zero:
            return
        names = class_names(trainer, len(confusion))
        self.markdown, png = write_report(Path(trainer.default_root_dir), confusion, names, self.title)
        publish_report(trainer.loggers, self.markdown, png, trainer.global_step)


def publish_report(loggers: list[Any], markdown: str, png: bytes, step: int) -> None:
    """The confusion matrix image and the report's table in every TensorBoard logger."""
    add_png(loggers, f"{FINAL}test/confusion_matrix", png, step)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text(f"{FINAL}test/classification_report", markdown, step)


def write_report(
    run_dir: Path, confusion: torch.Tensor, names: Sequence[str], title: str = "", png: bytes | None = None
) -> tuple[str, bytes]:
    """`confusion_matrix.png`, `confusion_matrix.csv` and `classification_report.md` in `run_dir`, each
    written atomically, from a (true x predicted) confusion matrix, titled `title`; returns the Markdown
    and the PNG (`png`: the figure already drawn, see callbacks/drawing.py)."""
    markdown = report_markdown(per_class_report(confusion, names), confusion, title)
    path = run_dir / "confusion_matrix.png"
    if png is None:
        png = save_png(confusion_figure(confusion, names, title), path)
    else:
        write_bytes_atomic(path, png)
    csv = ",".join(["true\\predicted", *names]) + "\n"
    csv += "".join(
        ",".join([name, *map(str, row)]) + "\n" for name, row in zip(names, confusion.tolist(), strict=True)
    )
    write_text_atomic(run_dir / "confusion_matrix.csv", csv)
    write_text_atomic(run_dir / "classification_report.md", markdown)
    return markdown, png
