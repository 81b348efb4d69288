"""One LightningModule for binary (sigmoid + BCE) and multi-class (log_softmax + NLL) classification."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import AUROC, Accuracy, F1Score, MetricCollection, Precision, Recall

from litlab.models.supervised import OptimizerFactory, SchedulerFactory, SupervisedModule


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


class Classifier(SupervisedModule):
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
        if compile:
            net.compile()  # in place: the state_dict keeps its keys, so checkpoints stay portable
        # No AUROC while training: it sorts every prediction of the epoch, per class, for a number
        # about a model that changed during the epoch; val/ and test/ have it.
        super().__init__(
            net, optimizer, scheduler, monitor, metrics=classification_metrics(num_classes),
            train_metrics=classification_metrics(num_classes, auroc=False),
        )  # fmt: skip
        # Plain values only, so checkpoints load with weights_only=True; the net is in the state_dict
        # and the logger gets the resolved config instead.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.num_classes = num_classes
        self.binary = num_classes == 2

    def loss_and_outputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss on the logits (numerically stable forms) and the class probabilities for the metrics;
        `test_step` returns the probabilities, for callbacks such as the classification report."""
        out = self.net(x)
        if self.binary:
            logits = out.squeeze(-1)
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype)), torch.sigmoid(logits)
        log_probs = F.log_softmax(out, dim=-1)
        return F.nll_loss(log_probs, y), log_probs.exp()

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Class probabilities: P(class 1) per sample when binary, a (n, num_classes) softmax otherwise."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.probabilities(self.net(x))

    def probabilities(self, out: torch.Tensor) -> torch.Tensor:
        """P(class 1) per sample when binary, a softmax over classes otherwise."""
        return torch.sigmoid(out.squeeze(-1)) if self.binary else F.softmax(out, dim=-1)
