"""At test end: a confusion matrix figure and a per-class precision/recall/F1 table, as the lectures print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from litlab.callbacks.publish import publish_figure
from litlab.run_files import write_text_atomic


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


def report_markdown(rows: list[dict], confusion: torch.Tensor) -> str:
    """The table as Markdown, with the lectures' "failed to classify N of M" line under it."""
    lines = ["| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['class']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
        for r in rows
    ]
    total, wrong = int(confusion.sum()), int(confusion.sum() - confusion.diag().sum())
    lines += ["", f"Failed to classify {wrong} of {total} ({100 * wrong / max(total, 1):.1f}%)"]
    return "\n".join(lines) + "\n"


def confusion_figure(confusion: torch.Tensor, names: Sequence[str]):
    """A matplotlib figure of the confusion matrix with counts in the cells."""
    from matplotlib.figure import Figure  # deferred: matplotlib costs half a second to import

    size = max(4.0, 0.55 * len(names) + 2)
    figure = Figure(figsize=(size, size), dpi=100)
    ax = figure.add_subplot()
    ax.imshow(confusion.numpy(), cmap="Blues")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    threshold = confusion.max().item() / 2
    for (i, j), count in zip(
        torch.cartesian_prod(torch.arange(len(names)), torch.arange(len(names))).tolist(),
        confusion.flatten().tolist(),
        strict=True,
    ):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    figure.tight_layout()
    return figure


class ClassificationReport(Callback):
    """Collects the test predictions of a classifier (its `test_step` returns class probabilities: P(class 1)
    per sample when binary, one row per sample otherwise); at test end writes the figure and the table to
    the run dir (`confusion_matrix.png`, `confusion_matrix.csv`, `classification_report.md`) and to
    TensorBoard. The table's Markdown stays in `markdown` for a task to print."""

    def __init__(self) -> None:
        self.confusion: torch.Tensor | None = None
        self.markdown = ""

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.confusion = None

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if (
            not isinstance(outputs, torch.Tensor)
            or outputs.ndim not in (1, 2)
            or batch[1].is_floating_point()
        ):
            return  # not class probabilities (a regressor's predictions have float targets)
        if outputs.ndim == 1:  # binary: P(class 1), decided at 0.5 like the accuracy metric
            num_classes, predicted = 2, (outputs > 0.5).long()
        else:
            num_classes, predicted = outputs.shape[1], outputs.argmax(dim=1)
        pairs = batch[1] * num_classes + predicted
        counts = torch.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)
        self.confusion = counts if self.confusion is None else self.confusion + counts

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.confusion is None:
            return
        confusion = trainer.strategy.reduce(self.confusion, reduce_op="sum").cpu()  # all ranks' test batches
        if not trainer.is_global_zero:
            return
        names = list(getattr(trainer.datamodule, "class_names", ()) or map(str, range(len(confusion))))
        rows = per_class_report(confusion, names)
        markdown = self.markdown = report_markdown(rows, confusion)
        figure = confusion_figure(confusion, names)
        run_dir = Path(trainer.default_root_dir)
        publish_figure(trainer, run_dir, "confusion_matrix", figure)
        csv = ",".join(["true\\predicted", *names]) + "\n"
        csv += "".join(
            ",".join([name, *map(str, row)]) + "\n"
            for name, row in zip(names, confusion.tolist(), strict=True)
        )
        write_text_atomic(run_dir / "confusion_matrix.csv", csv)
        write_text_atomic(run_dir / "classification_report.md", markdown)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_text("test/classification_report", markdown, trainer.global_step)
