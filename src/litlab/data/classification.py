"""Base class for classification data small enough to live in memory as tensors."""

from __future__ import annotations

import numpy as np
import torch

from litlab.data.folds import FoldableDataModule
from litlab.data.labels import count_classes, names_of_classes
from litlab.data.splits import stratified_split


class ClassificationDataModule(FoldableDataModule):
    """Feature rows and integer labels in memory: a seeded stratified split, train-only standardisation,
    index-cut batches; cross-validation folds stratified by class (`use_fold`).

    Subclasses implement `load()` (and `prepare_data()` when a file must be fetched), and may name their
    classes (`class_names`) and features (`feature_names`, filled by `load()`). Everything else is read
    from the data at `setup`: the number of features, and the number of classes (the labels must be
    0..K-1, every class present).
    """

    def __init__(
        self,
        batch_size: int | None = 32,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
        )
        self.standardize = standardize
        self.feature_names: tuple[str, ...] = ()
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples: raw features (n, features) as in the files, integer labels 0..K-1."""
        raise NotImplementedError

    def transform(self, features: np.ndarray) -> np.ndarray:
        """A fixed (not fitted) transform of raw features, such as log2(x + 1); none by default."""
        return features

    def fitted_names(self) -> tuple[str, ...]:
        return ("mean", "std") if self.standardize else ()

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

    def strata(self) -> torch.Tensor:
        return self.rows[1]

    def fit_preprocessing(self, x_train: torch.Tensor) -> None:
        if not self.standardize:
            return
        # Statistics of the training split (or fold) only, so nothing leaks from val/test.
        self.mean = x_train.mean(dim=0)
        std = x_train.std(dim=0)
        # A feature constant in training (a gene never expressed there) is only centred: dividing
        # by a tiny std would blow its val/test values up to ~1e9.
        self.std = torch.where(std < 1e-6, torch.ones_like(std), std)

    def apply_preprocessing(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.standardize else x

    def setup(self, stage: str | None = None) -> None:
        if self.splits:  # fit, validate and test share one split
            return
        features, labels = self.load()
        x = torch.as_tensor(np.ascontiguousarray(self.transform(features)), dtype=torch.float32)
        y = torch.as_tensor(labels, dtype=torch.long)
        name = type(self).__name__
        if x.ndim != 2 or len(x) != len(y):
            raise ValueError(
                f"{name}: load() gave features of shape {tuple(x.shape)} and {len(y)} labels; expected "
                "(n, features) and one label per row"
            )
        num_classes = count_classes(y, self.class_names, name)
        self.rows = (x, y)
        generator = torch.Generator().manual_seed(self.seed)
        self.use_split(*stratified_split(y, self.val_fraction, self.test_fraction, generator))
        self.record_description(
            input_shape=x.shape[1:],
            num_classes=num_classes,
            class_names=names_of_classes(num_classes, self.class_names),
            feature_names=self.feature_names,
        )
