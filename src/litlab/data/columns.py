"""Which column of a user's table is what: the target and its task, the id, the features (numeric or
categorical); and the refusals, each naming the column, what was found and the option that fixes it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from litlab.data.schema import TableSchema, as_float, as_text, kind_of, target_text

log = logging.getLogger(__name__)

# An integer target with at most this many distinct values is a class label (more: a regression).
MAX_INTEGER_CLASSES = 20
TASKS = ("classification", "regression")


def infer_schema(
    table: pa.Table,
    path: str | Path,
    target: str,
    features: Sequence[str] | None = None,
    id: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    task: str | None = None,
) -> TableSchema:
    """The layout of `table` (nothing fitted yet): see `TableDataModule` for the rules."""
    columns = table.column_names
    listed = f"the file's columns are {columns}" if len(columns) <= 40 else f"{len(columns)} columns"
    if target not in columns:
        raise ValueError(f"data.target={target!r} is not a column of {path}: {listed}; give one of them")
    named = {"data.id": [id] if id else [], "data.drop": drop, "data.features": features or []}
    for option, names in named.items():
        unknown = [name for name in names if name not in columns]
        if unknown:
            raise ValueError(f"{option}: {unknown} not columns of {path}: {listed}")
    if id == target:
        raise ValueError(f"data.id={id!r} is the target too; give the target or the id another column")
    if features is None:
        features = [name for name in columns if name not in {target, id, *drop}]
    else:
        clash = [name for name in features if name in {target, id}]
        if clash:
            raise ValueError(f"data.features lists {clash}, the target or the id; leave them out of it")
    not_features = [name for name in categorical if name not in features]
    if not_features:
        raise ValueError(f"data.categorical: {not_features} are not feature columns ({list(features)})")
    if not features:
        raise ValueError(
            f"{path}: no feature columns are left beside the target {target!r} (data.drop, data.id); "
            "a model needs at least one input column"
        )
    task, class_names = target_task(table.column(target), target, task, path)
    numeric, categories, kinds, with_missing, constant = [], {}, {}, [], []
    for name in features:
        column = table.column(name)
        kind = kind_of(column.type)
        if kind is None:
            raise ValueError(
                f"{path}: column {name!r} has type {column.type}, which litlab does not read (numbers, "
                f"text and booleans); convert it in the file or leave it out: data.drop=[{name}]"
            )
        if kind == "null" or column.null_count == len(column):
            raise ValueError(
                f"{path}: feature column {name!r} is missing in every row; nothing can be learnt from it: "
                f"leave it out (data.drop=[{name}]) or fill it in"
            )
        text = kind == "text" or name in categorical
        values = pc.unique(as_text(column)).drop_null() if text else None
        if column.null_count == 0 and is_constant(column, values):
            constant.append(name)
            continue
        kinds[name] = kind
        if text:
            distinct = len(values)
            if kind == "text" and name not in categorical and distinct == len(column) > 1:
                raise ValueError(
                    f"{path}: text column {name!r} has a different value in every one of its {distinct} "
                    f"rows, so it looks like an identifier, not a feature. Give data.id={name} (kept for "
                    f"predictions), leave it out (data.drop=[{name}]), or declare it categorical "
                    f"(data.categorical=[{name}])"
                )
            categories[name] = sorted(values.to_pylist())
        else:
            numeric.append(name)
        if column.null_count:
            with_missing.append(name)
    if constant:
        log.warning("%s: constant columns dropped (one value in every row): %s", path, constant)
    if not kinds:
        raise ValueError(
            f"{path}: every feature column is constant ({constant}); nothing can be learnt from them. "
            "Give columns that vary (data.features=[...])"
        )
    return TableSchema(
        target=target, task=task, class_names=class_names, numeric=numeric, categories=categories,
        with_missing=with_missing, kinds=kinds, id=id,
    )  # fmt: skip


def is_constant(column: pa.ChunkedArray, values: pa.Array | None) -> bool:
    """One value in every row: one category, or a number whose minimum is its maximum (cheaper than
    counting distinct numbers)."""
    if values is not None:
        return len(values) == 1
    extremes = pc.min_max(column)
    return extremes["min"] == extremes["max"]


def target_task(
    column: pa.ChunkedArray, name: str, task: str | None, path: str | Path
) -> tuple[str, list[str]]:
    """(task, class names): text, booleans or few integers are classes; other numbers a regression."""
    if task is not None and task not in TASKS:
        raise ValueError(
            f"data.task={task!r}: give classification, regression, or null (read from the target)"
        )
    kind = kind_of(column.type)
    if kind not in ("number", "bool", "text"):
        raise ValueError(
            f"{path}: the target {name!r} has type {column.type}; give numbers, text or booleans"
        )
    if task is None:
        few = pa.types.is_integer(column.type) and pc.count_distinct(column).as_py() <= MAX_INTEGER_CLASSES
        task = "classification" if kind != "number" or few else "regression"
        if pa.types.is_integer(column.type) and not few:
            log.info("%s: integer target %r has many values: a regression (data.task changes it)", path, name)
    missing = column.null_count
    if task == "regression":
        if kind != "number":
            raise ValueError(
                f"data.task=regression, but the target {name!r} holds {kind} values; a regression needs "
                "numbers: give data.task=classification or null"
            )
        values = as_float(column)
        if missing or not np.isfinite(values).all():
            bad = np.flatnonzero(~np.isfinite(values))
            raise ValueError(
                f"{path}: the regression target {name!r} is missing or not finite in {len(bad)} rows (the "
                f"first: data row {bad[0] + 1}); a target cannot be imputed: fill or remove those rows"
            )
        return task, []
    if missing:
        first = int(np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0])
        raise ValueError(
            f"{path}: the target {name!r} is missing in {missing} rows (the first: data row {first + 1}); "
            "a target cannot be imputed: fill or remove those rows"
        )
    text = target_text(column)
    values = pc.unique(text).to_pylist()
    values = sorted(values, key=float) if kind == "number" else sorted(values)  # numbers: 2 before 10
    if len(values) < 2:
        raise ValueError(
            f"{path}: the target {name!r} has one class only ({values[0]!r} in every row); a classifier "
            "needs at least two. Give a target with two or more values (data.target=...)"
        )
    return task, [str(v) for v in values]
