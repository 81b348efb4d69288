"""What a supervised LightningModule does whatever its loss: steps, epoch metrics, optimizer partials."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class SupervisedModule(L.LightningModule):
    """Trains `net` on `(inputs, targets)` batches; a subclass supplies `loss_and_outputs` and metrics.

    The loss and the metrics are logged once per epoch under `train/`, `val/` and `test/`;
    `train_metrics` may be a cheaper set than `metrics` (the one of val/ and test/).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        monitor: str,
        metrics: MetricCollection,
        train_metrics: MetricCollection | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.monitor = monitor
        self.check_optimizer()
        self.train_metrics = (train_metrics or metrics).clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        # Detached (loss, outputs, targets) of each step, fed to the metrics once per epoch.
        self.epoch_outputs: dict[str, list[tuple[torch.Tensor, ...]]] = {"train": [], "val": [], "test": []}

    def check_optimizer(self) -> None:
        """Build the optimizer once now, so a bad setting fails before any training starts."""
        try:
            self.optimizer_factory(params=self.net.parameters())
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"model.optimizer is invalid: {err}. Fix the value, for example "
                "model.optimizer.lr=0.001 (must be > 0), or pick another: "
                "model/optimizer=adam|adamw|sgd|rmsprop"
            ) from err

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss_and_outputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's loss and the outputs its metrics are computed from."""
        raise NotImplementedError

    def shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> tuple[torch.Tensor, ...]:
        """Loss and outputs of a batch, kept for the stage's epoch-end metrics."""
        x, y = batch
        loss, outputs = self.loss_and_outputs(x, y)
        # Only a list append per step: a torchmetrics update (or a self.log) per step costs more
        # than the step itself for the lectures' small nets, and nothing here waits for the device.
        self.epoch_outputs[stage].append((loss.detach(), outputs.detach(), y))
        return loss, outputs

    def log_epoch(self, stage: str) -> None:
        """Log the epoch's mean loss and metrics under `stage/`, then start afresh."""
        outputs = self.epoch_outputs[stage]
        if not outputs:
            return
        losses, predictions, targets = zip(*outputs, strict=True)
        outputs.clear()
        metrics, loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        sizes = torch.tensor([len(t) for t in targets], dtype=torch.float32, device=losses[0].device)
        loss.update(torch.stack(losses), weight=sizes)
        metrics.update(torch.cat(predictions), torch.cat(targets))
        # compute() gathers every rank's states under DDP, so all ranks log the same values; sync_dist
        # only tells Lightning so (a mean of equal numbers).
        distributed = self.trainer.world_size > 1
        self.log(f"{stage}/loss", loss.compute(), prog_bar=True, sync_dist=distributed)
        self.log_dict(metrics.compute(), sync_dist=distributed)
        metrics.reset()
        loss.reset()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.shared_step(batch, "train")[0]

    def validation_step(self, batch, batch_idx: int) -> None:
        self.shared_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Returns the outputs, for callbacks such as the classification report."""
        return self.shared_step(batch, "test")[1]

    def on_train_epoch_end(self) -> None:
        self.log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self.log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.log_epoch("test")

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch"},
        }
