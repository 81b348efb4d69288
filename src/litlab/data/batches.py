"""Batches cut from in-memory tensors by index: no per-sample dataset access, no collation."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch


class TensorBatches:
    """Iterable of batches `(t[idx] for t in tensors)`, reshuffled each epoch by its own generator."""

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int | None,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorBatches needs tensors of equal length")
        if batch_size is not None and batch_size < 1:
            raise ValueError(
                f"batch_size must be a positive integer or null (one full batch), got {batch_size}"
            )
        self.tensors = tensors
        self.size = len(tensors[0])
        self.batch_size = batch_size or self.size
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self.shuffle:
            order = torch.randperm(self.size, generator=self.generator)
            for start in range(0, self.size, self.batch_size):
                idx = order[start : start + self.batch_size]
                # index_select, not t[idx]: for image batches it is ten times faster.
                yield tuple(t.index_select(0, idx) for t in self.tensors)
        else:
            # Contiguous slices are views: no copy at all for validation and test.
            for start in range(0, self.size, self.batch_size):
                yield tuple(t[start : start + self.batch_size] for t in self.tensors)
