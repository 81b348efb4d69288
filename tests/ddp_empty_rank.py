"""Run by test_ddp.py: two CPU processes over gloo test a model on one sample, so rank 0 gets none.

Prints the logged test metrics of rank 0 as JSON; a hang (the rank without a batch skipping the metric
sync) is caught by the caller's timeout.
"""

from __future__ import annotations

import json
import sys
import tempfile

import lightning as L
import torch

from litlab.callbacks import ClassificationReport
from litlab.data import RowsDataModule
from litlab.models import MLP, Classifier


class OneTestRow(RowsDataModule):
    """Trains on the table, validates and tests on its last row only."""

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        last = (self.x[-1:], self.y[-1:])
        self.splits = {**self.splits, "val": last, "test": last}


def main(num_classes: int) -> None:
    torch.manual_seed(0)
    data = OneTestRow(
        [[float(k)] for k in range(2 * num_classes)], [k % num_classes for k in range(2 * num_classes)]
    )
    model = Classifier(MLP(1, 1 if num_classes == 2 else num_classes), num_classes, torch.optim.Adam)
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, callbacks=[ClassificationReport()],
        default_root_dir=tempfile.mkdtemp(),
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    (metrics,) = trainer.test(model, datamodule=data, verbose=False)
    if trainer.is_global_zero:
        print("METRICS " + json.dumps(metrics))


if __name__ == "__main__":
    main(int(sys.argv[1]))
