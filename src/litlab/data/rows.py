"""A lecture's literal rows, written in the config: hours studied -> points, or hours -> pass/fail."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from litlab.data.in_memory import InMemoryDataModule
from litlab.data.labels import count_classes, names_of_classes


class RowsDataModule(InMemoryDataModule):
    """Rows written in the config (a file is `data=table`); trains, validates and tests on the same
    rows, as the lectures do.

    With three or four rows there is nothing to hold out: val = test = train, so the metrics say how
    well the model fits the table, not how it generalises. Integer targets (YAML `[0, 0, 1]`) are class
    labels 0..K-1, named by `class_names` if given; float targets (`[2.0, 4.0, 6.0]`) make a regression
    with targets `(n, 1)`.
    """

    def __init__(
        self,
        inputs: Sequence[Sequence[float]],
        targets: Sequence[float],
        class_names: Sequence[str] = (),
        batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        self.class_names = tuple(class_names)
        targets = list(targets)
        self.x = torch.tensor([list(row) for row in inputs], dtype=torch.float32)
        if self.x.ndim != 2 or len(targets) != len(self.x):
            raise ValueError(
                f"data.inputs must be {len(targets)} rows (one per target) of equal length, e.g. "
                f"[[1.0], [2.0], [3.0]]; got shape {tuple(self.x.shape)}"
            )
        # YAML ints are labels; anything else (floats) is a regression target. bool is an int in Python.
        self.classification = all(isinstance(t, int) and not isinstance(t, bool) for t in targets)
        if self.classification:
            self.y = torch.tensor(targets, dtype=torch.long)
            hint = "; for regression write the targets as floats, e.g. [2.0, 4.0, 6.0]"
            self.num_classes = count_classes(self.y, self.class_names, "data.targets", hint)
        else:
            if self.class_names:
                raise ValueError(
                    f"data.targets {targets} are not all integers, so they are regression targets, but "
                    f"data.class_names is {list(self.class_names)}: write class labels as integers "
                    "0..K-1 (e.g. [0, 0, 1]), or set data.class_names=[] for a regression"
                )
            self.y = torch.tensor(targets, dtype=torch.float32)[:, None]

    def setup(self, stage: str | None = None) -> None:
        rows = (self.x, self.y)
        self.splits = {"train": rows, "val": rows, "test": rows}
        if self.classification:
            names = names_of_classes(self.num_classes, self.class_names)
            self.record_description(self.x.shape[1:], num_classes=self.num_classes, class_names=names)
        else:
            self.record_description(self.x.shape[1:], num_targets=1)
