"""Each member's early stopping and best epoch, by the rules of Lightning's callbacks, over all members.

The best epoch is ModelCheckpoint's (save_top_k=1): the first epoch, then every strictly better value (a
NaN counts as the worst); stopping is EarlyStopping's: a better value by more than `min_delta` resets
the wait, `patience` epochs without one stop the member, and so does a non-finite value, but not before
`trainer.min_epochs` (the fit loop's rule). A stopped
member is frozen: the population's optimizer skips it (population/optim.py), so nothing of it changes.
"""

from __future__ import annotations

import torch
from torch import nn


class MemberStopping(nn.Module):
    """Per-member best value, best epoch, wait count and whether still training; buffers, so a
    population checkpoint resumes them."""

    def __init__(
        self, members: int, mode: str, patience: float, min_delta: float = 0.0, min_epochs: int = 1
    ) -> None:
        super().__init__()
        self.min_epochs = min_epochs or 1  # the trainer's: no member stops before (Lightning's fit loop)
        if mode not in ("min", "max"):
            raise ValueError(f"monitor.mode={mode!r}: give min or max")
        self.sign = 1.0 if mode == "min" else -1.0  # scores are compared as losses: lower is better
        self.patience = patience
        self.min_delta = abs(min_delta)
        inf = torch.full((members,), float("inf"))
        self.register_buffer("active", torch.ones(members, dtype=torch.bool))
        self.register_buffer("best_score", inf.clone())  # the best checkpoint's (signed)
        self.register_buffer("stop_best", inf.clone())  # early stopping's reference (signed)
        self.register_buffer("wait", torch.zeros(members, dtype=torch.long))
        self.register_buffer("best_epoch", torch.full((members,), -1, dtype=torch.long))
        self.register_buffer("last_epoch", torch.full((members,), -1, dtype=torch.long))
        self.register_buffer("stopped_early", torch.zeros(members, dtype=torch.bool))

    def update(self, values: torch.Tensor, epoch: int) -> torch.Tensor:
        """One epoch's monitored values (K,); returns which members have a new best epoch. Members
        already stopped are left as they are."""
        active = self.active.clone()
        score = self.sign * values.float()
        finite = torch.isfinite(score)
        worst = torch.where(finite, score, torch.full_like(score, float("inf")))
        improved = active & ((self.best_epoch < 0) | (worst < self.best_score))
        self.best_score = torch.where(improved, worst, self.best_score)
        self.best_epoch = torch.where(improved, torch.full_like(self.best_epoch, epoch), self.best_epoch)
        better = finite & (score + self.min_delta < self.stop_best)
        self.stop_best = torch.where(active & better, score, self.stop_best)
        self.wait = torch.where(active, torch.where(better, 0, self.wait + 1), self.wait)
        # EarlyStopping counts patience only after an epoch without a better value (patience=0 included);
        # the fit loop lets no one stop before trainer.min_epochs.
        stops = active & (~finite | (~better & (self.wait >= self.patience))) & (epoch + 1 >= self.min_epochs)
        self.stopped_early |= stops
        self.active = active & ~stops
        self.last_epoch = torch.where(active, torch.full_like(self.last_epoch, epoch), self.last_epoch)
        return improved

    def best_values(self) -> torch.Tensor:
        """Each member's best monitored value, in the metric's own sign."""
        return self.sign * self.best_score
