"""Every member's rows, padded to one tensor per split, and every member's training batches of an epoch.

A member is one fold of a CV run. Its rows are its fold's, preprocessed by what was fitted on its own
training part (the data module's `use_fold`), so members hold different copies of the same rows. Its
batches are cut by index, in the order its sequential run would see them: the order of an epoch comes
from the data module's own `TensorBatches` (seeded by the data's seed and the epoch), so the shuffle
policy has one owner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from litlab.data.batches import TensorBatches


@dataclass(frozen=True)
class MemberSplit:
    """One split of K members: inputs (K, L, ...), targets (K, L), `valid` (K, L) False on padding."""

    x: torch.Tensor
    y: torch.Tensor
    valid: torch.Tensor

    @property
    def counts(self) -> torch.Tensor:
        """Each member's number of rows (K,)."""
        return self.valid.sum(1)

    def to(self, device: torch.device) -> MemberSplit:
        """The same rows on `device`."""
        return MemberSplit(self.x.to(device), self.y.to(device), self.valid.to(device))

    def member(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Member k's rows alone (inputs, targets), in their fold's order."""
        n = int(self.valid[k].sum())
        return self.x[k, :n], self.y[k, :n]


def pad_members(parts: list[tuple[torch.Tensor, torch.Tensor]]) -> MemberSplit:
    """(inputs, targets) of every member -> one padded MemberSplit (padding repeats row 0: finite)."""
    longest = max(len(y) for _, y in parts)
    x0, y0 = parts[0]
    x = x0.new_zeros((len(parts), longest, *x0.shape[1:]))
    y = y0.new_zeros((len(parts), longest))
    valid = torch.zeros(len(parts), longest, dtype=torch.bool)
    for k, (xk, yk) in enumerate(parts):
        x[k, : len(yk)], y[k, : len(yk)], valid[k, : len(yk)] = xk, yk, True
        x[k, len(yk) :] = xk[:1]
    return MemberSplit(x, y, valid)


def member_splits(datamodule: Any, folds: list[Any]) -> tuple[dict[str, MemberSplit], list[dict[str, Any]]]:
    """The train, val and test splits of every fold as MemberSplits, and each fold's data module state
    (its fitted preprocessing) as its checkpoint carries it: under the data module's class name."""
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"train": [], "val": [], "test": []}
    states = []
    for fold in folds:
        datamodule.use_fold(fold)
        for split, rows in parts.items():
            rows.append(datamodule.splits[split])
        states.append({type(datamodule).__qualname__: datamodule.state_dict()})
    return {split: pad_members(rows) for split, rows in parts.items()}, states


class MemberBatches:
    """Each member's training batches of an epoch as indices into its rows: (K, steps, batch), padded.

    Member k takes ceil(n_k / batch) steps; at the steps beyond, its batch is all padding and the
    optimizer leaves it as it is. `batch_size` None: every member's whole training part in one step.
    """

    def __init__(self, counts: torch.Tensor, batch_size: int | None, seed: int) -> None:
        # Tensors of the right length only: TensorBatches' order() reads no values.
        self.orders = [
            TensorBatches(torch.empty(int(n), 0), batch_size=batch_size, shuffle=True, seed=seed)
            for n in counts
        ]
        self.sizes = [batches.batch_size for batches in self.orders]
        self.member_steps = torch.tensor([len(batches) for batches in self.orders])
        self.steps = int(self.member_steps.max())
        self.batch = max(self.sizes)

    def epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(index, valid), each (K, steps, batch), of that epoch's batches."""
        members = len(self.orders)
        index = torch.zeros(members, self.steps, self.batch, dtype=torch.long)
        valid = torch.zeros(members, self.steps, self.batch, dtype=torch.bool)
        orders: dict[int, torch.Tensor] = {}  # members with as many rows get the same order: drawn once
        for k, (batches, size) in enumerate(zip(self.orders, self.sizes, strict=True)):
            if batches.size not in orders:
                batches.set_epoch(epoch)
                orders[batches.size] = batches.order()
            order = orders[batches.size]
            steps = math.ceil(len(order) / size)
            padded = torch.zeros(steps * size, dtype=torch.long)
            padded[: len(order)] = order
            index[k, :steps, :size] = padded.view(steps, size)
            valid[k, :steps, :size] = (torch.arange(steps * size) < len(order)).view(steps, size)
        return index, valid
