"""Cross-validation folds of in-memory rows, and the data modules that can be cut into them.

The folds are scikit-learn's: StratifiedKFold / RepeatedStratifiedKFold for classification, KFold /
RepeatedKFold for regression, seeded from the data's `seed`, so `cv.folds=5` gives the rows that
`StratifiedKFold(5, shuffle=True, random_state=seed)` gives. Each fold's validation part is carved,
stratified, from its training part by the same rule as the single split (`splits.stratified_parts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from litlab.data.in_memory import InMemoryDataModule
from litlab.data.splits import check_fractions, stratified_parts


@dataclass(frozen=True)
class Fold:
    """One fold of one repeat: row indices (into all rows, as load() gave them) of its three parts."""

    repeat: int
    index: int
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    @property
    def name(self) -> str:
        """Its folder's name under the run folder: fold_<repeat>_<index>."""
        return f"fold_{self.repeat}_{self.index}"


def check_cv(folds: Any, repeats: Any) -> None:
    """The cv section's values themselves, before any data is read."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(
            f"cv.folds={folds!r}: cross-validation needs an integer number of folds of at least 2; give "
            "e.g. cv.folds=5, or cv.folds=null for the single train/val/test split"
        )
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(
            f"cv.repeats={repeats!r}: give a whole number of repeats of at least 1 (cv.repeats=1 is plain "
            "k-fold; cv.repeats=5 reshuffles the folds 5 times)"
        )


def fold_plan(
    strata: torch.Tensor | None,
    n_rows: int,
    folds: int,
    repeats: int,
    seed: int,
    val_fraction: float,
    class_names: Sequence[str] = (),
) -> list[Fold]:
    """Every fold of every repeat. `strata`: class labels to stratify by (None: a regression, plain
    KFold); `class_names`: what errors call them."""
    from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold

    check_cv(folds, repeats)
    if strata is not None:
        counts = torch.bincount(strata)
        smallest = int(counts.argmin())
        if counts[smallest] < folds:
            name = repr(class_names[smallest]) if smallest < len(class_names) else smallest
            raise ValueError(
                f"cv.folds={folds}, but class {name} has only {int(counts[smallest])} rows: every fold's "
                f"test part needs every class. Give cv.folds={int(counts[smallest])} or fewer"
            )
    elif n_rows < folds:
        raise ValueError(f"cv.folds={folds}, but the data has {n_rows} rows; give cv.folds={n_rows} or fewer")
    # The plain splitters for one repeat, so cv.folds=K alone gives scikit-learn's own K-fold rows.
    stratified = strata is not None
    if repeats == 1:
        splitter = (StratifiedKFold if stratified else KFold)(folds, shuffle=True, random_state=seed)
    else:
        repeated = RepeatedStratifiedKFold if stratified else RepeatedKFold
        splitter = repeated(n_splits=folds, n_repeats=repeats, random_state=seed)
    labels = strata if stratified else torch.zeros(n_rows, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    plan = []
    for n, (train_val, test) in enumerate(splitter.split(np.zeros((n_rows, 1)), labels.numpy())):
        train_val = torch.as_tensor(train_val)
        # Stratified like the single split; it names data.val_fraction when a class is too small for it.
        parts = stratified_parts(labels[train_val], {"val": val_fraction}, generator)
        train, val = train_val[parts["train"]], train_val[parts["val"]]
        plan.append(Fold(n // folds, n % folds, train, val, torch.as_tensor(test)))
    return plan


class FoldableDataModule(InMemoryDataModule):
    """In-memory rows (features, targets) kept whole after `setup`, served cut by index into train, val
    and test: the seeded split of `setup`, or a cross-validation fold (`use_fold`). What a subclass fits
    (`fit_preprocessing`) is fitted on the training part only, for the split and for every fold."""

    def __init__(
        self, batch_size: int | None, val_fraction: float, test_fraction: float, seed: int | None
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        check_fractions(val_fraction=val_fraction, test_fraction=test_fraction)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        # Every row, before any fitted preprocessing: what the split or a fold is cut from.
        self.rows: tuple[torch.Tensor, torch.Tensor] | None = None

    def strata(self) -> torch.Tensor | None:
        """Labels to stratify folds by; None (the default): not stratified, as for a regression."""
        return None

    def fit_preprocessing(self, x_train: torch.Tensor) -> None:
        """Fit statistics (such as standardisation) on the training rows; nothing by default."""

    def apply_preprocessing(self, x: torch.Tensor) -> torch.Tensor:
        """Apply what `fit_preprocessing` fitted; the identity by default."""
        return x

    def use_split(self, train: torch.Tensor, val: torch.Tensor, test: torch.Tensor) -> None:
        """Serve these rows as the train, val and test splits, preprocessing fitted on `train` alone."""
        if self.rows is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before cutting its rows into splits")
        x, y = self.rows
        self.fit_preprocessing(x[train])
        x = self.apply_preprocessing(x)
        self.splits = {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": (x[test], y[test])}

    def folds(self, folds: int, repeats: int = 1) -> list[Fold]:
        """The cross-validation plan of these rows, seeded from `seed` (see `fold_plan`)."""
        if self.rows is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for folds")
        names = self.describe()["class_names"]
        return fold_plan(
            self.strata(), len(self.rows[1]), folds, repeats, self.seed, self.val_fraction, names
        )

    def use_fold(self, fold: Fold) -> None:
        """Serve one fold: its training part (preprocessing fitted there), validation and test parts."""
        self.use_split(fold.train, fold.val, fold.test)


def check_can_fold(datamodule: Any, folds: Any, repeats: Any) -> None:
    """Refuse cv for a data module whose rows cannot be cut into folds (images, a lecture's literal rows)."""
    check_cv(folds, repeats)
    if not isinstance(datamodule, FoldableDataModule):
        name = type(datamodule).__name__
        raise ValueError(
            f"cv.folds={folds}: {name} cannot be cross-validated. CV works on in-memory tables (data "
            "modules based on ClassificationDataModule or RegressionDataModule); image data sets keep their "
            "official test split, and a lecture's literal rows (RowsDataModule) test on the rows they train "
            "on. Run "
            f"{name} without cv (cv.folds=null), e.g. over seeds: python train.py -m seed=1,2,3"
        )
