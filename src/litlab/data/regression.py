"""Base class for in-memory regression data: float targets, a seeded random split, the lecture's units."""

from __future__ import annotations

import numpy as np
import torch

from litlab.data.folds import FoldableDataModule
from litlab.data.splits import stratified_split


class RegressionDataModule(FoldableDataModule):
    """Inputs `(n, features)` and float targets `(n, targets)`, split train/val/test at random from `seed`
    (cross-validation: plain KFold, `use_fold`).

    Subclasses implement `load()`. Nothing is standardised: the lectures fit and plot their toy
    regressions in the data's own units, and the figures read in those units too. The numbers of
    features and of target columns are read from the data.
    """

    def __init__(
        self,
        batch_size: int | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        seed: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
        )

    def load(self) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
        """All samples: inputs (n, features) and targets (n,) or (n, targets)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:  # fit, validate and test share one split
            return
        inputs, targets = self.load()
        x = torch.as_tensor(inputs, dtype=torch.float32)
        y = torch.as_tensor(targets, dtype=torch.float32).reshape(len(targets), -1)
        if x.ndim != 2 or len(x) != len(y):
            raise ValueError(
                f"{type(self).__name__}: load() gave inputs of shape {tuple(x.shape)} and {len(y)} targets; "
                "expected inputs (n, features), e.g. x[:, None] for a single feature, and one target per row"
            )
        self.rows = (x, y)
        generator = torch.Generator().manual_seed(self.seed)
        # One "class" for everyone: the stratified split is then a plain seeded random split.
        zeros = torch.zeros(len(y), dtype=torch.long)
        self.use_split(*stratified_split(zeros, self.val_fraction, self.test_fraction, generator))
        self.record_description(input_shape=x.shape[1:], num_targets=y.shape[1])
