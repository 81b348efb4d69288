"""Batches cut from in-memory tensors by index: no per-sample dataset access, no collation."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch


class TensorBatches:
    """Iterable of batches `(t[idx] for t in tensors)` of this process's share of the samples.

    Shuffled orders are drawn from (`seed`, epoch), as torch's DistributedSampler does: the order of an
    epoch does not depend on how many epochs ran before in this process, so a resumed run sees the
    batches an uninterrupted one would. The epoch is read from `epoch_source` (the trainer's
    current epoch) at the start of each pass, or set with `set_epoch`.

    Under several processes (`world_size` > 1) each `rank` gets a disjoint share. Shuffled (training)
    shares are padded by wrapping around to equal length, so every rank takes the same number of
    optimizer steps (DDP would hang otherwise); unshuffled (evaluation) shares are contiguous blocks,
    unpadded, so metrics count every sample exactly once. A rank whose evaluation share is empty (fewer
    samples than ranks) still gets one batch, of zero rows: Lightning would skip the stage on that rank
    alone, and the others would wait for it forever in the epoch-end metric sync.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int | None,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch_source: Callable[[], int] | None = None,
    ) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError(
                f"TensorBatches needs tensors of equal length, got lengths {[len(t) for t in tensors]}: "
                "give one input row per target"
            )
        if batch_size is not None and batch_size < 1:
            raise ValueError(
                f"batch_size must be a positive integer or null (one full batch), got {batch_size}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1} (world_size {world_size})")
        self.tensors = tensors
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.epoch_source = epoch_source
        total = len(tensors[0])
        if shuffle:
            self.size = math.ceil(total / world_size)
        else:
            self.start, self.stop = rank * total // world_size, (rank + 1) * total // world_size
            self.size = self.stop - self.start
        self.batch_size = batch_size or max(self.size, 1)

    def set_epoch(self, epoch: int) -> None:
        """Use that epoch's shuffled order."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.empty_share():
            return 1
        return math.ceil(self.size / self.batch_size)

    def empty_share(self) -> bool:
        """This rank has no evaluation samples while others have some."""
        return not self.shuffle and self.size == 0 and len(self.tensors[0]) > 0

    def order(self) -> torch.Tensor:
        """This rank's sample indices for the current epoch, shuffled."""
        total = len(self.tensors[0])
        # Distinct for every (seed, epoch) pair: seed + epoch would give seed 2's first epoch the order
        # of seed 1's second, correlating the runs of a seed sweep.
        generator = torch.Generator().manual_seed((self.seed << 20) + self.epoch)
        order = torch.randperm(total, generator=generator)
        if self.world_size > 1:
            padded = self.size * self.world_size
            order = order.repeat(math.ceil(padded / total))[:padded]
            order = order[self.rank :: self.world_size]
        return order

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self.shuffle:
            if self.epoch_source is not None:
                self.epoch = self.epoch_source()
            order = self.order()
            for start in range(0, self.size, self.batch_size):
                idx = order[start : start + self.batch_size]
                # index_select, not t[idx]: for image batches it is ten times faster.
                yield tuple(t.index_select(0, idx) for t in self.tensors)
        else:
            if self.empty_share():
                yield tuple(t[:0] for t in self.tensors)
            # Contiguous slices are views: no copy at all for validation and test.
            for start in range(self.start, self.stop, self.batch_size):
                stop = min(start + self.batch_size, self.stop)
                yield tuple(t[start:stop] for t in self.tensors)
