"""Class counts and class names read from the labels themselves: no class count is typed in a config."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def count_classes(labels: torch.Tensor, class_names: Sequence[str], source: str, hint: str = "") -> int:
    """The number of classes K: `len(class_names)` when the data set names its classes, else the largest
    label + 1. The labels must be exactly 0..K-1, every class present (each split needs every class)."""
    seen = [int(v) for v in torch.unique(labels).tolist()]
    if not seen:
        raise ValueError(f"{source}: there are no labels; the data set is empty")
    k = len(class_names) or seen[-1] + 1
    if seen != list(range(k)):
        named = f" (one per class name {list(class_names)})" if class_names else ""
        shown = seen if len(seen) <= 20 else [*seen[:10], "...", *seen[-10:]]
        raise ValueError(
            f"{source}: class labels must be the integers 0..{k - 1}{named}, every class present, but the "
            f"labels seen are {shown}. Renumber the labels 0..K-1 in the data{hint}"
        )
    if k < 2:
        raise ValueError(f"{source}: every label is {seen[0]}; a classifier needs at least two classes")
    return k


def names_of_classes(num_classes: int, class_names: Sequence[str]) -> tuple[str, ...]:
    """The data set's own class names, or "0".."K-1" when it has none."""
    return tuple(class_names) if class_names else tuple(str(k) for k in range(num_classes))
