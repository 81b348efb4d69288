"""A user's own table: `python train.py data=table data.path=patients.csv data.target=Outcome`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from litlab.data.columns import infer_schema
from litlab.data.folds import FoldableDataModule
from litlab.data.readers.table_file import read_table
from litlab.data.schema import TableSchema, kind_of
from litlab.data.splits import stratified_split

log = logging.getLogger(__name__)


class TableDataModule(FoldableDataModule):
    """A CSV, TSV (plain or .gz) or Parquet file with a header row; columns chosen by name.

    The target decides the task: text, booleans or integers with at most 20 values are classes (their
    sorted values are the class names), other numbers a regression (`task` forces one). Features are
    every other column but `id` and `drop`, or those `features` lists; text columns and those listed in
    `categorical` are one-hot encoded with an unknown slot, numbers standardised; a missing value is
    imputed (median, most frequent category) and flagged in a missing-indicator column; a column with
    one value in every row is dropped with a warning. Everything is fitted on the training split, or
    each CV fold's training part, only (litlab.data.schema), and travels in the checkpoint, so
    predict.py needs nothing else: it matches its input's columns by name.
    """

    def __init__(
        self,
        path: str,
        target: str,
        features: Sequence[str] | None = None,
        id: str | None = None,
        drop: Sequence[str] = (),
        categorical: Sequence[str] = (),
        task: str | None = None,
        sep: str | None = None,
        decimal: str | None = None,
        batch_size: int | None = 32,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
        )
        from hydra.utils import to_absolute_path  # relative to where the command ran, under every launcher

        self.path = Path(to_absolute_path(str(path)))
        self.target, self.id, self.task, self.sep, self.decimal = target, id, task, sep, decimal
        self.features = None if features is None else list(features)
        self.drop, self.categorical = list(drop), list(categorical)
        self.schema: TableSchema | None = None

    def read(self) -> tuple[Any, TableSchema]:
        """The file as a pyarrow table and the layout of its columns."""
        table = read_table(self.path, self.sep, self.decimal)
        schema = infer_schema(
            table, self.path, self.target, self.features, self.id, self.drop, self.categorical, self.task
        )
        return table, schema

    def setup(self, stage: str | None = None) -> None:
        if self.splits:  # fit, validate and test share one split
            return
        table, schema = self.read()
        if self.schema is not None and self.schema.layout() != schema.layout():  # restored from a checkpoint
            raise ValueError(
                f"{self.path}: its columns are not those the checkpoint was trained on (the file changed "
                "since training): give the training file, or train again on this one"
            )
        self.schema = schema
        x, _ = schema.raw(table)
        y = schema.targets(table)
        # The raw rows hold what is needed: free the Arrow table, and hand its memory back from Arrow's
        # allocator (which keeps freed memory for itself) so the encoded splits can reuse it.
        del table
        pa.default_memory_pool().release_unused()
        self.rows = (x, y)
        classes = schema.task == "classification"
        strata = y if classes else torch.zeros(len(y), dtype=torch.long)
        generator = torch.Generator().manual_seed(self.seed)
        self.use_split(*stratified_split(strata, self.val_fraction, self.test_fraction, generator))
        names = schema.feature_names()
        if classes:
            self.record_description([len(names)], len(schema.class_names), schema.class_names, names)
        else:
            self.record_description([len(names)], feature_names=names, num_targets=1)

    def strata(self) -> torch.Tensor | None:
        return self.rows[1] if self.schema.task == "classification" else None

    def fit_preprocessing(self, x_train: torch.Tensor) -> None:
        self.schema.fit(x_train)

    def apply_preprocessing(self, x: torch.Tensor) -> torch.Tensor:
        return self.schema.encode(x)

    def use_split(self, train: torch.Tensor, val: torch.Tensor, test: torch.Tensor) -> None:
        """As the base class does, but encodes each part on its own: never all rows at once, so the
        memory holds the raw rows and one encoded copy."""
        if self.rows is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before cutting its rows into splits")
        x, y = self.rows
        self.fit_preprocessing(x[train])
        self.splits = {
            name: (self.apply_preprocessing(x[rows]), y[rows])
            for name, rows in (("train", train), ("val", val), ("test", test))
        }

    def state_dict(self) -> dict[str, Any]:
        # The file's absolute path: eval.py reads it where training did, whatever folder it runs in.
        state = super().state_dict()
        return {**state, "schema": self.schema.state(), "path": str(self.path)} if state else state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "schema" not in state_dict:
            raise ValueError(
                "the checkpoint lacks the table's schema (TableDataModule): it was written by an older "
                "litlab or another data module; train again with this version"
            )
        self.schema = TableSchema.from_state(state_dict["schema"])
        self.path = Path(state_dict.get("path", self.path))

    def read_input(self, path: str | Path, header: bool | None = None) -> tuple[torch.Tensor, dict | None]:
        """A table to predict, its columns matched by name (order free, extra ones ignored with a note);
        unseen categories become unknown, with a warning that counts them. Returns the raw rows for
        `preprocess` and the id column ({name: values}) when the training data had one."""
        schema = self.schema
        table = read_table(path, option="input")
        columns = table.column_names
        missing = [name for name in schema.features if name not in columns]
        if missing:
            raise ValueError(
                f"input {path}: lacks the feature columns {missing} the model was trained on (it has "
                f"{columns}); add them (empty cells are imputed) or give the table the model was made for"
            )
        for name in schema.features:
            kind, trained = kind_of(table.column(name).type), schema.kinds[name]
            if kind is None or (kind == "text" and trained != "text" and name not in schema.categories):
                raise ValueError(
                    f"input {path}: column {name!r} holds {table.column(name).type} values, but was "
                    f"{trained} in training; give it {trained} values as in the training file"
                )
        extra = [name for name in columns if name not in {*schema.features, schema.id, schema.target}]
        if extra:
            log.info("input %s: columns the model does not use, ignored: %s", path, extra)
        raw, unseen = schema.raw(table)
        for name, count in unseen.items():
            log.warning("input %s: %d values of %r unseen in training: taken as unknown", path, count, name)
        ids = None
        if schema.id is not None and schema.id in columns:
            ids = {schema.id: table.column(schema.id).to_pylist()}
        return raw, ids

    def preprocess(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw rows (`read_input`) -> the net's input, with the fitted imputation, scaling and categories."""
        return self.schema.encode(raw)
