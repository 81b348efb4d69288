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
# Multiply-adds of one member's step below which stopped members compute too (`computes_all`).
SMALL_STEP = 2**16


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

    def row_losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-row losses (K, n), as Classifier computes them."""
        if self.binary:
            logit = logits[..., 0]
            return F.binary_cross_entropy_with_logits(logit, y.to(logit.dtype), reduction="none")
        return -F.log_softmax(logits, dim=-1).gather(-1, y[..., None])[..., 0]

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities (K, n, classes), as Classifier computes them."""
        if self.binary:
            p = torch.sigmoid(logits[..., 0].float())
            return torch.stack([1 - p, p], dim=-1)
        return F.log_softmax(logits, dim=-1).exp()

    def on_fit_start(self) -> None:
        self.splits = {name: split.to(self.device) for name, split in self.splits.items()}

    def training_step(self, batch: int, batch_idx: int) -> None:
        """Every optimizer step of this epoch: each member still training on its own batch (a member
        whose fold has fewer rows has none at the last step: it is left as it is there)."""
        members = self.net.members
        training = self.stopping.active.nonzero()[:, 0]
        # Who computes: a stopped member's rows cost as much as a training member's, so only those still
        # training, unless the nets are so small that picking them out costs more than computing all.
        computed = torch.arange(members, device=self.device) if self.computes_all(training) else training
        everyone = len(computed) == members
        # The epoch's batches of those members, cut at once: (steps, members, batch, ...), each step
        # contiguous.
        index, valid = (
            t.to(self.device)[computed].transpose(0, 1) for t in self.batches.epoch(self.current_epoch)
        )
        rows = self.splits["train"]
        x, y = rows.x[computed[None, :, None], index].contiguous(), rows.y[computed[None, :, None], index]
        sizes = valid.sum(2)
        divisors = sizes.clamp(min=1)
        full = valid.all(2).all(1).tolist()  # the steps where every batch is whole (no padding to mask)
        stepping = torch.zeros(len(index), members, dtype=torch.bool, device=self.device)
        stepping[:, computed] = sizes > 0
        stepping &= self.stopping.active  # (steps, K): who steps at each step
        # Lightning's optimizer (its step counts trainer.global_step) only for the epoch's last step, the
        # PopulationAdam itself for the others: Lightning's wrapper and its hooks (the precision plugin's
        # closure, torch's profiler and step hooks) cost as much as a step of these nets, and no callback
        # of a population reads them. So global_step counts the population's epochs (what its last.ckpt
        # is keyed by), each member its own optimizer steps (`stepped`); run.py refuses trainer.max_steps.
        lightning_optimizer = self.optimizers()
        last = len(index) - 1
        losses, logits_seen = [], []
        for step in range(len(index)):
            logits = self.net(x[step], None if everyone else computed)  # their gradients reach flat.grad
            row_losses = self.row_losses(logits, y[step])
            row_losses = row_losses if full[step] else row_losses * valid[step]
            loss = row_losses.sum(1) / divisors[step]  # each member's batch mean
            if everyone:  # in place: backward adds into the flat gradient the optimizer reads
                self.net.zero_grad()  # (some members' forward writes their rows of it whole instead)
            # Members share no weight: each gets its own gradient. loss.backward() itself, not
            # manual_backward: Lightning's backward hooks cost as much as the step (the fit's precision
            # needs no gradient scaler: run.py refuses 16-bit), and no callback of a population reads them.
            loss.sum().backward()
            if step < last:
                lightning_optimizer.optimizer.update(stepping[step])
            else:
                lightning_optimizer.step(active=stepping[step])
            losses.append(loss.detach())
            logits_seen.append(logits.detach())
        self.stepped += stepping.sum(0)
        probabilities = self.probabilities(torch.cat(logits_seen, 1))  # once for the epoch, not per step
        self.outputs = [computed, torch.stack(losses, 1), sizes.t(), probabilities,
                        y.transpose(0, 1).flatten(1), valid.transpose(0, 1).flatten(1)]  # fmt: skip
        # The epoch's end here, in its one batch: the callbacks' epoch-end hooks (last.ckpt) then see
        # whether the fit stops after this epoch.
        self.end_epoch()

    def computes_all(self, training: torch.Tensor) -> bool:
        """Whether every member computes this epoch, the stopped ones too (their gradients unused, their
        weights and Adam state untouched): when all train, or when the steps are small
        (`steps_are_small`), where picking the training members' weights out at every step costs more
        than computing the others."""
        return len(training) == self.net.members or self.steps_are_small()

    def steps_are_small(self) -> bool:
        """Whether a member's step takes fewer than SMALL_STEP multiply-adds (its weights times its
        batch): Python and torch's per-operation costs then outweigh the arithmetic (diabetes' 8-6-4-1
        net: 2,800; CAF's 557-300-100-20-4: 6.4 million)."""
        return self.net.flat.shape[1] * self.batches.batch < SMALL_STEP

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
        computed, losses, sizes, probabilities, targets, weights = self.outputs
        self.outputs = []
        loss = (losses * sizes).sum(1) / sizes.sum(1).clamp(min=1)
        metrics = member_metrics(probabilities, targets, weights, self.num_classes, auroc=False)
        values = {"train/loss": loss, **{f"train/{name}": value for name, value in metrics.items()}}
        return {name: spread(value, computed, self.net.members) for name, value in values.items()}

    @torch.no_grad()
    def validate(self, members: torch.Tensor) -> dict[str, torch.Tensor]:
        """The val/ loss and metrics of `members` (those still training: a stopped member's validation
        would be thrown away), in one forward of their validation rows; NaN for the others."""
        rows = self.splits["val"]
        everyone = len(members) == self.net.members
        x, y, valid = (t if everyone else t[members] for t in (rows.x, rows.y, rows.valid))
        self.net.eval()
        logits = self.net(x, None if everyone else members)
        self.net.train()
        losses, probabilities = self.row_losses(logits, y), self.probabilities(logits)
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
        for logger in (logger for loggers in self.member_loggers for logger in loggers):
            logger.save()  # the curves so far on disk with the checkpoint: a resumed run leaves no gap

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        history = checkpoint.get(HISTORY_KEY, [])
        self.history = [{int(epoch): dict(values) for epoch, values in member.items()} for member in history]
