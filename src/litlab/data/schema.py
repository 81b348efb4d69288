"""The fitted schema of a user's table: which columns are what, and how a row becomes the net's input.

Its layout (the target and its class names, numeric and categorical feature columns, each categorical
column's categories, the columns with a missing-indicator) is read from the whole file, so every CV
fold's model has the same width. What is fitted (medians, means and standard deviations, the most
frequent category, which categories are known) comes from a training split or fold only (`fit`): a
category its training part lacks is "unknown" there, as an unseen one is at prediction time.

Rows go through two steps: `raw` turns a pyarrow table into a float32 matrix (numbers, NaN where
missing; categories as their index in the layout, -1 when unseen), `encode` imputes, standardises and
one-hot encodes it. One-hot rather than embeddings: the nets are plain MLPs taking a feature vector,
every model and report of litlab works unchanged, and tabular categories are mostly few. Written by
hand (not scikit-learn's ColumnTransformer) so the state is plain values a checkpoint loads with
`weights_only`, and the standardisation is bit for bit that of `ClassificationDataModule`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

log = logging.getLogger(__name__)

UNKNOWN = "<unknown>"


def kind_of(data_type: pa.DataType) -> str | None:
    """number, bool, text or null (every cell missing); None for a type litlab does not read."""
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "number"
    if pa.types.is_boolean(data_type):
        return "bool"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "text"
    if pa.types.is_dictionary(data_type):
        return "text" if kind_of(data_type.value_type) == "text" else kind_of(data_type.value_type)
    if pa.types.is_null(data_type):
        return "null"
    return None


def as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column's values as strings, as categories are named (1.0 -> "1", True -> "true")."""
    return (
        column
        if kind_of(column.type) == "text" and not pa.types.is_dictionary(column.type)
        else (pc.cast(column, pa.string()))
    )


def as_float(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric or boolean column as float64, NaN where missing."""
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return pc.cast(column, pa.float64()).to_numpy()


@dataclass
class TableSchema:
    """What training learnt of a table's columns; `state()` is plain values for the checkpoint."""

    target: str
    task: str  # "classification" or "regression"
    class_names: list[str]
    numeric: list[str]
    categories: dict[str, list[str]]  # categorical feature -> its categories, sorted
    with_missing: list[str]  # features that get a missing-indicator column
    kinds: dict[str, str]  # every feature's kind in training: number, bool or text
    id: str | None = None
    # Fitted on a training part (`fit`):
    median: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    most_frequent: dict[str, int] = field(default_factory=dict)
    known: dict[str, list[bool]] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categories]

    def layout(self) -> dict[str, Any]:
        """The schema without what is fitted: two files with the same layout give models of one shape."""
        fitted = {"median", "mean", "std", "most_frequent", "known"}
        return {k: v for k, v in asdict(self).items() if k not in fitted}

    def feature_names(self) -> list[str]:
        """The encoded columns: numbers, missing-indicators, then each category and its unknown slot."""
        names = [*self.numeric, *(f"{c}_missing" for c in self.with_missing)]
        for column, values in self.categories.items():
            names += [*(f"{column}={v}" for v in values), f"{column}={UNKNOWN}"]
        return names

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableSchema:
        return cls(**state)

    def raw(self, table: pa.Table) -> tuple[torch.Tensor, dict[str, int]]:
        """(rows, numeric then categorical features) as float32, NaN where missing, categories as their
        index (-1: not a category of the layout); and how many cells of each column were such."""
        out = np.empty((table.num_rows, len(self.features)), dtype=np.float32)
        for j, name in enumerate(self.numeric):
            out[:, j] = as_float(table.column(name))
        unseen = {}
        for j, (name, values) in enumerate(self.categories.items(), start=len(self.numeric)):
            text = as_text(table.column(name))
            codes = pc.index_in(text, value_set=pa.array(values, pa.string()))
            missing = pc.is_null(text).to_numpy(zero_copy_only=False)
            codes = pc.fill_null(codes, -1).to_numpy().astype(np.float32)
            if count := int(((codes < 0) & ~missing).sum()):
                unseen[name] = count
            codes[missing] = np.nan
            out[:, j] = codes
        return torch.from_numpy(out), unseen

    def targets(self, table: pa.Table) -> torch.Tensor:
        """Class indices into `class_names` (int64), or float32 targets (n, 1) for a regression."""
        column = table.column(self.target)
        if self.task == "regression":
            return torch.from_numpy(as_float(column).astype(np.float32)).reshape(-1, 1)
        codes = pc.index_in(target_text(column), value_set=pa.array(self.class_names, pa.string()))
        return torch.from_numpy(pc.fill_null(codes, -1).to_numpy().astype(np.int64))

    def fit(self, raw_train: torch.Tensor) -> None:
        """Imputation, standardisation and the known categories, from training rows (`raw`) only."""
        n = len(self.numeric)
        numbers = raw_train[:, :n]
        nan = torch.isnan(numbers)
        median = torch.zeros(n)
        if nan.any():  # the median of each column's observed values (0 for a column missing throughout)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                observed = np.nanmedian(numbers.numpy(), axis=0) if len(numbers) else np.zeros(n)
            median = torch.as_tensor(np.nan_to_num(observed, nan=0.0), dtype=torch.float32)
            numbers = torch.where(nan, median, numbers)
        std = numbers.std(dim=0)
        # A feature constant in this training part is only centred: dividing by ~0 would blow it up.
        std = torch.where(std < 1e-6, torch.ones_like(std), std)
        self.median, self.mean, self.std = median.tolist(), numbers.mean(dim=0).tolist(), std.tolist()
        self.most_frequent, self.known = {}, {}
        for j, (name, values) in enumerate(self.categories.items(), start=n):
            codes = raw_train[:, j]
            codes = codes[codes >= 0].long()  # NaN (missing) compares false
            counts = torch.bincount(codes, minlength=len(values))
            self.known[name] = (counts > 0).tolist()
            self.most_frequent[name] = int(counts.argmax()) if len(codes) else -1

    def encode(self, raw: torch.Tensor) -> torch.Tensor:
        """`raw` rows -> the net's input, with what `fit` fitted."""
        if len(self.mean) != len(self.numeric) or len(self.known) != len(self.categories):
            raise RuntimeError("the table's preprocessing is not fitted: call setup() or load_state_dict()")
        n, rows = len(self.numeric), len(raw)
        out = torch.zeros(rows, len(self.feature_names()))
        median, mean, std = (torch.tensor(v, dtype=torch.float32) for v in (self.median, self.mean, self.std))
        nan = torch.isnan(raw)
        numbers = raw[:, :n]
        if nan[:, :n].any():
            numbers = torch.where(nan[:, :n], median, numbers)
        out[:, :n] = (numbers - mean) / std
        column = {name: j for j, name in enumerate(self.features)}
        for k, name in enumerate(self.with_missing, start=n):
            out[:, k] = nan[:, column[name]]
        start = n + len(self.with_missing)
        for name, values in self.categories.items():
            codes, missing = raw[:, column[name]], nan[:, column[name]]
            unknown = len(values)
            # Slot of each layout category in this fold: itself if known, else unknown; an unseen
            # category (-1) is unknown, a missing one the most frequent.
            known = self.known[name]
            slots = torch.tensor([*(i if seen else unknown for i, seen in enumerate(known)), unknown])
            slot = slots[torch.where(missing | (codes < 0), -1, codes).long()]
            frequent = self.most_frequent[name]
            slot[missing] = frequent if frequent >= 0 else unknown
            out[torch.arange(rows), start + slot] = 1.0
            start += unknown + 1
        return out


def target_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A class target's values as class names: integral numbers without a decimal point (1.0 -> "1")."""
    if kind_of(column.type) == "number" and not pa.types.is_integer(column.type):
        values = as_float(column)
        if np.all(np.isnan(values) | (values == np.round(values))):
            return pc.cast(pc.cast(column, pa.int64()), pa.string())
    return as_text(column)
