"""One LightningModule for binary (sigmoid + BCE) and multi-class (log_softmax + NLL) classification."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import AUROC, Accuracy, F1Score, MeanMetric, MetricCollection, Precision, Recall

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def classification_metrics(num_classes: int, auroc: bool = True) -> MetricCollection:
    """Accuracy, precision, recall, F1 and AUROC; macro-averaged over classes when there are more than 2."""
    if num_classes == 2:
        kwargs: dict = {"task": "binary"}
    else:
        kwargs = {"task": "multiclass", "num_classes": num_classes, "average": "macro"}
    accuracy_kwargs = {**kwargs, "average": "micro"} if num_classes > 2 else kwargs
    return MetricCollection(
        {
            "acc": Accuracy(**accuracy_kwargs),
            "precision": Precision(**kwargs),
            "recall": Recall(**kwargs),
            "f1": F1Score(**kwargs),
            **({"auroc": AUROC(**kwargs)} if auroc else {}),
        }
    )


class Classifier(L.LightningModule):
    """Trains any net that outputs logits: one logit for 2 classes, `num_classes` logits otherwise."""

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        monitor: str = "val/loss",
        compile: bool = False,
    ) -> None:
        super().__init__()
        # Plain values only, so checkpoints load with weights_only=True; the net is in the state_dict
        # and the logger gets the resolved config instead.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        if compile:
            net.compile()  # in place: the state_dict keeps its keys, so checkpoints stay portable
        self.net = net
        self.num_classes = num_classes
        self.binary = num_classes == 2
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.monitor = monitor
        self.check_optimizer()
        metrics = classification_metrics(num_classes)
        # No AUROC while training: it sorts every prediction of the epoch per class (a tenth of an MNIST
        # epoch) for a number of a model that changed during the epoch; val/ and test/ have it.
        self.train_metrics = classification_metrics(num_classes, auroc=False).clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        # Detached (loss, probabilities, targets) of each step, fed to the metrics once per epoch.
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

    def loss_and_probabilities(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss on the logits (numerically stable forms) and the class probabilities for the metrics."""
        out = self.net(x)
        if self.binary:
            logits = out.squeeze(-1)
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype)), torch.sigmoid(logits)
        log_probs = F.log_softmax(out, dim=-1)
        return F.nll_loss(log_probs, y), log_probs.exp()

    def shared_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], stage: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and probabilities of a batch, kept for the stage's epoch-end metrics."""
        x, y = batch
        loss, probs = self.loss_and_probabilities(x, y)
        # Only a list append per step: a torchmetrics update (or a self.log) per step costs more
        # than the step itself for the lectures' small nets, and nothing here waits for the device.
        self.epoch_outputs[stage].append((loss.detach(), probs.detach(), y))
        return loss, probs

    def log_epoch(self, stage: str) -> None:
        """Log the epoch's mean loss and metrics under `stage/`, then start afresh."""
        outputs = self.epoch_outputs[stage]
        if not outputs:
            return
        losses, probs, targets = zip(*outputs, strict=True)
        outputs.clear()
        metrics, loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        sizes = torch.tensor([len(t) for t in targets], dtype=torch.float32, device=losses[0].device)
        loss.update(torch.stack(losses), weight=sizes)
        metrics.update(torch.cat(probs), torch.cat(targets))
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
        """Returns the class probabilities, for callbacks such as the classification report."""
        return self.shared_step(batch, "test")[1]

    def on_train_epoch_end(self) -> None:
        self.log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self.log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.log_epoch("test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Class probabilities: P(class 1) per sample when binary, a (n, num_classes) softmax otherwise."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.probabilities(self.net(x))

    def probabilities(self, out: torch.Tensor) -> torch.Tensor:
        """P(class 1) per sample when binary, a softmax over classes otherwise."""
        return torch.sigmoid(out.squeeze(-1)) if self.binary else F.softmax(out, dim=-1)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch"},
        }
