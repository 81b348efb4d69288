"""Base class for data sets small enough to live in memory as tensors."""

from __future__ import annotations

import numpy as np
import torch

from litlab.data.in_memory import InMemoryDataModule
from litlab.data.splits import check_fractions, stratified_split


class TensorDataModule(InMemoryDataModule):
    """In-memory classification data: seeded stratified split, train-only standardisation, index-cut batches.

    Subclasses implement `load()` (and `prepare_data()` when a file must be fetched). `num_features` and
    `num_classes` are typed once in the data config, sized the net from there, and are checked against
    the data at `setup`.
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        batch_size: int | None = 32,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        check_fractions(val_fraction=val_fraction, test_fraction=test_fraction)
        self.num_features = num_features
        self.num_classes = num_classes
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.standardize = standardize
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples: raw features (n, num_features) as in the files, integer labels in 0..num_classes-1."""
        raise NotImplementedError

    def transform(self, features: np.ndarray) -> np.ndarray:
        """A fixed (not fitted) transform of raw features, such as log2(x + 1); none by default."""
        return features

    def preprocess(self, raw: np.ndarray) -> torch.Tensor:
        """Raw feature rows -> the net's input, as the splits were made: transform, then standardise
        with the training statistics (restored from a checkpoint by `load_state_dict`)."""
        x = super().preprocess(self.transform(np.asarray(raw, dtype=np.float64)))
        if self.standardize:
            if self.mean is None or self.std is None:
                raise RuntimeError(
                    "standardisation statistics are unknown: call setup() or load_state_dict()"
                )
            x = (x - self.mean) / self.std
        return x

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The fitted preprocessing, saved in checkpoints so raw rows can be predicted without the data."""
        return {"mean": self.mean, "std": self.std} if self.mean is not None else {}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.mean, self.std = state_dict.get("mean"), state_dict.get("std")

    def setup(self, stage: str | None = None) -> None:
        if self.splits:  # fit, validate and test share one split
            return
        features, labels = self.load()
        x = torch.as_tensor(np.ascontiguousarray(self.transform(features)), dtype=torch.float32)
        y = torch.as_tensor(labels, dtype=torch.long)
        self.check(x, y)
        generator = torch.Generator().manual_seed(self.seed)
        train, val, test = stratified_split(y, self.val_fraction, self.test_fraction, generator)
        if self.standardize:
            # Statistics of the training split only, so nothing leaks from val/test.
            self.mean = x[train].mean(dim=0)
            std = x[train].std(dim=0)
            # A feature constant in training (a gene never expressed there) is only centred: dividing
            # by a tiny std would blow its val/test values up to ~1e9.
            self.std = torch.where(std < 1e-6, torch.ones_like(std), std)
            x = (x - self.mean) / self.std
        self.splits = {
            "train": (x[train], y[train]),
            "val": (x[val], y[val]),
            "test": (x[test], y[test]),
        }

    def check(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The data agrees with the configured sizes."""
        name = type(self).__name__
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: the data has features of shape {tuple(x.shape[1:])}, but data.num_features is "
                f"{self.num_features}; set data.num_features to match the data"
            )
        if len(x) != len(y):
            raise ValueError(f"{name}: {len(x)} feature rows but {len(y)} labels")
        unexpected = sorted(set(torch.unique(y).tolist()) - set(range(self.num_classes)))
        if unexpected:
            raise ValueError(
                f"{name}: labels {unexpected} lie outside 0..{self.num_classes - 1} "
                f"(data.num_classes={self.num_classes}); fix the labels or set data.num_classes"
            )
