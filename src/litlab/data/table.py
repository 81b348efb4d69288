"""A lecture's literal table, such as hours studied -> points, or hours -> pass/fail."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from litlab.data.in_memory import InMemoryDataModule


class TableDataModule(InMemoryDataModule):
    """Rows written in the config; trains, validates and tests on the same rows, as the lectures do.

    With three or four rows there is nothing to hold out: val = test = train, so the metrics say how
    well the model fits the table, not how it generalises. `num_classes: null` makes the targets float
    `(n, 1)` for regression; an integer makes them class labels 0..num_classes-1.
    """

    def __init__(
        self,
        inputs: Sequence[Sequence[float]],
        targets: Sequence[float],
        num_features: int,
        num_classes: int | None = None,
        class_names: Sequence[str] = (),
        batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        self.num_features = num_features
        self.num_classes = num_classes
        self.class_names = tuple(class_names)
        self.x = torch.tensor(inputs, dtype=torch.float32)
        if self.x.ndim != 2 or self.x.shape[1] != num_features or len(targets) != len(self.x):
            raise ValueError(
                f"data.inputs must be {len(targets)} rows (one per target) of data.num_features="
                f"{num_features} values, e.g. [[1.0], [2.0], [3.0]]; got shape {tuple(self.x.shape)}"
            )
        if num_classes is None:
            self.y = torch.tensor(targets, dtype=torch.float32)[:, None]
        else:
            labels = [int(t) for t in targets]
            if labels != list(targets) or not all(0 <= label < num_classes for label in labels):
                raise ValueError(
                    f"data.targets {list(targets)} must be class labels 0..{num_classes - 1} "
                    f"(data.num_classes={num_classes}); set data.num_classes=null for regression targets"
                )
            self.y = torch.tensor(labels)

    def setup(self, stage: str | None = None) -> None:
        rows = (self.x, self.y)
        self.splits = {"train": rows, "val": rows, "test": rows}
