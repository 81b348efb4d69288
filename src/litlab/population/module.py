"""The LightningModule of a population: K classifiers (one per CV fold) trained in one Lightning fit.

Lightning runs the loop (epochs, the progress bar, last.ckpt and its resume, SIGTERM at a batch
boundary, here an epoch's end: one Lightning batch is one epoch of the population); this module does per
member what the sequential fold's module and callbacks do: a step on
its own batch (manual optimization: one backward for all members, then an Adam step of the members that
had a batch and still train), its train/ metrics of the epoch, its validation at the epoch's end, its
best epoch and early stopping (population/stopping.py), its curves in its fold's own loggers, and its
best weights. Validation runs here, on in-memory tensors, not in Lightning's evaluation loop: one
forward of every member's validation rows at once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from litlab.population.members import MemberBatches, MemberSplit
from litlab.population.metrics import member_metrics
from litlab.population.nets import StackedMLP
from litlab.population.stopping import MemberStopping

HISTORY_KEY = "litlab_population_history"  # per member: epoch -> its train/ metrics


def spread(values: torch.Tensor, members: torch.Tensor, count: int) -> torch.Tensor:
    """Values of some `members` placed in a (count,) tensor, NaN for the others."""
    full = torch.full((count,), float("nan"), dtype=values.dtype, device=values.device)
    full[members] = values
    return full


def per_member(values: dict[str, torch.Tensor]) -> list[dict[str, float]]:
    """{name: (K,) values} -> each member's {name: value}."""
    columns = {name: value.tolist() for name, value in values.items()}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


class PopulationClassifier(L.LightningModule):
    """Trains the stacked nets of K classifiers on their own folds; see the module docstring."""

    def __init__(
        self,
        net: StackedMLP,
        num_classes: int,
        splits: dict[str, MemberSplit],
        batches: MemberBatches,
        optimizer: Callable[[Any], torch.optim.Optimizer],
        stopping: MemberStopping,
        monitor: str,
        loggers: list[list[Any]],
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = net
        self.best_net = copy.deepcopy(net).requires_grad_(False)  # each member's weights of its best epoch
        self.best_net.link()
        self.num_classes = num_classes
        self.binary = num_classes == 2
        self.splits = splits
        self.batches = batches
        self.optimizer_factory = optimizer
        self.stopping = stopping
        self.monitor = monitor
        self.member_loggers = loggers
        members = net.members
        self.register_buffer("stepped", torch.zeros(members, dtype=torch.long))  # optimizer steps per member
        self.history: list[dict[int, dict[str, float]]] = [{} for _ in range(members)]
        self.outputs: list[
            torch.Tensor
        ] = []  # the epoch's members, losses, sizes, probabilities, targets, weights

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.net.parameters())

    def train_dataloader(self) -> range:
        """One item per epoch: `training_step` takes the epoch's steps of every member itself (Lightning's
        per-batch hooks cost more than a population's optimizer step of these small nets)."""
        return range(1)

    def row_losses(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row losses (K, n) and class probabilities (K, n, classes), as Classifier computes them."""
        if self.binary:
            logit = logits[..., 0]
            losses = F.binary_cross_entropy_with_logits(logit, y.to(logit.dtype), reduction="none")
            p = torch.sigmoid(logit.float())
            return losses, torch.stack([1 - p, p], dim=-1)
        log_probs = F.log_softmax(logits, dim=-1)
        return -log_probs.gather(-1, y[..., None])[..., 0], log_probs.exp()

    def on_fit_start(self) -> None:
        self.splits = {name: split.to(self.device) for name, split in self.splits.items()}

    def training_step(self, batch: int, batch_idx: int) -> None:
        """Every optimizer step of this epoch: each member still training on its own batch (a member
        whose fold has fewer rows has none at the last step: it is left as it is there)."""
        # Only the members still training compute: a stopped member's batches would cost as much.
        training = self.stopping.active.nonzero()[:, 0]
        everyone = len(training) == self.net.members
        # The epoch's batches of those members, cut at once: (steps, members, batch, ...), each step
        # contiguous.
        index, valid = (
            t.to(self.device)[training].transpose(0, 1) for t in self.batches.epoch(self.current_epoch)
        )
        rows = self.splits["train"]
        members = training[None, :, None]
        x, y = rows.x[members, index].contiguous(), rows.y[members, index]
        sizes = valid.sum(2)
        stepping = torch.zeros(len(index), self.net.members, dtype=torch.bool, device=self.device)
        stepping[:, training] = sizes > 0  # (steps, K): who steps at each step
        optimizer = self.optimizers()  # Lightning counts its steps: global_step, and when last.ckpt is due
        losses, probabilities = [], []
        for step in range(len(index)):
            logits = self.net(x[step], None if everyone else training)  # their gradients reach flat.grad
            row_losses, step_probabilities = self.row_losses(logits, y[step])
            loss = (row_losses * valid[step]).sum(1) / sizes[step].clamp(min=1)  # each member's batch mean
            self.net.zero_grad()  # in place: backward writes into the flat gradient the optimizer reads
            # Members share no weight: each gets its own gradient. loss.backward() itself, not
            # manual_backward: Lightning's backward hooks cost as much as the step (the fit's precision
            # needs no gradient scaler: run.py refuses 16-bit), and no callback of a population reads them.
            loss.sum().backward()
            optimizer.step(active=stepping[step])
            losses.append(loss.detach())
            probabilities.append(step_probabilities.detach())
        self.stepped += stepping.sum(0)
        self.outputs = [training, torch.stack(losses, 1), sizes.t(), torch.cat(probabilities, 1),
                        y.transpose(0, 1).flatten(1), valid.transpose(0, 1).flatten(1)]  # fmt: skip
        # The epoch's end here, in its one batch: the callbacks' epoch-end hooks (last.ckpt) then see
        # whether the fit stops after this epoch.
        self.end_epoch()

    def end_epoch(self) -> None:
        """Each member's train/ metrics, validation, best epoch and early stopping; its curves logged."""
        epoch = self.current_epoch
        training = self.stopping.active.nonzero()[:, 0]  # before this epoch's stops
        train = self.train_epoch_metrics()
        val = self.validate(training)
        improved = self.stopping.update(val[self.monitor], epoch)
        self.best_net.flat.copy_(torch.where(improved[:, None], self.net.flat.detach(), self.best_net.flat))
        train, val = per_member(train), per_member(val)
        steps = self.stepped.tolist()
        for k in training.tolist():
            self.history[k][epoch] = train[k]
            # train/ and val/ at the epoch's last step, as Lightning logs them: one call (one event) for both
            self.log_member(k, {**train[k], **val[k]}, steps[k] - 1)
        active = int(self.stopping.active.sum())
        if self.trainer.progress_bar_callback is not None:  # the bar shows how many still train
            self.log("members", float(active), prog_bar=True)
        if not active:
            self.trainer.should_stop = True

    def train_epoch_metrics(self) -> dict[str, torch.Tensor]:
        """Every member's train/ loss (batch means weighted by batch size, as MeanMetric) and metrics."""
        training, losses, sizes, probabilities, targets, weights = self.outputs
        self.outputs = []
        loss = (losses * sizes).sum(1) / sizes.sum(1).clamp(min=1)
        metrics = member_metrics(probabilities, targets, weights, self.num_classes, auroc=False)
        values = {"train/loss": loss, **{f"train/{name}": value for name, value in metrics.items()}}
        return {name: spread(value, training, self.net.members) for name, value in values.items()}

    @torch.no_grad()
    def validate(self, members: torch.Tensor) -> dict[str, torch.Tensor]:
        """The val/ loss and metrics of `members` (those still training: a stopped member's validation
        would be thrown away), in one forward of their validation rows; NaN for the others."""
        rows = self.splits["val"]
        everyone = len(members) == self.net.members
        x, y, valid = (t if everyone else t[members] for t in (rows.x, rows.y, rows.valid))
        self.net.eval()
        losses, probabilities = self.row_losses(self.net(x, None if everyone else members), y)
        self.net.train()
        loss = (losses * valid).sum(1) / valid.sum(1).clamp(min=1)
        metrics = member_metrics(probabilities, y, valid, self.num_classes, auroc=True)
        values = {"val/loss": loss, **{f"val/{name}": value for name, value in metrics.items()}}
        return {name: spread(value, members, self.net.members) for name, value in values.items()}

    def log_member(self, k: int, values: dict[str, float], step: int) -> None:
        """Member k's epoch values to its fold's loggers, at the step its sequential run logs them."""
        scalars = {**values, "epoch": self.current_epoch}
        for logger in self.member_loggers[k]:
            logger.log_metrics(scalars, step=step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[HISTORY_KEY] = self.history

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        history = checkpoint.get(HISTORY_KEY, [])
        self.history = [{int(epoch): dict(values) for epoch, values in member.items()} for member in history]
