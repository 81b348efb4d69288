"""One LightningModule for binary (sigmoid + BCE) and multi-class (log_softmax + NLL) classification."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import AUROC, MetricCollection

from litlab.models.confusion import ConfusionScores
from litlab.models.supervised import OptimizerFactory, SchedulerFactory, SupervisedModule


def classification_metrics(num_classes: int, auroc: bool = True) -> MetricCollection:
    """Accuracy, precision, recall, F1 and AUROC; macro-averaged over classes when there are more than 2.

    The first four come from one confusion count (litlab.models.confusion), AUROC from torchmetrics.
    """
    scores = {"scores": ConfusionScores(num_classes)}
    if not auroc:
        return MetricCollection(scores)
    multiclass = {"task": "multiclass", "num_classes": num_classes, "average": "macro"}
    task = {"task": "binary"} if num_classes == 2 else multiclass
    return MetricCollection({**scores, "auroc": AUROC(**task)})


class Classifier(SupervisedModule):
    """Trains any net that outputs logits: one logit for 2 classes, `num_classes` logits otherwise.

    Its task is "binary" (2 classes) or "multiclass". Whatever the net's width, `probabilities` gives
    (n, num_classes) class probabilities and `predicted_classes` the class of each row: what
    `predict_step` and `test_step` return, and what callbacks and predict.py read.
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        monitor: str = "val/loss",
        compile: bool = False,
        l2: float = 0.0,
    ) -> None:
        if num_classes is None or num_classes < 2:
            raise ValueError(
                f"Classifier needs at least 2 classes, got num_classes={num_classes}: the data is a "
                "regression (float targets) or has one class; use model=regressor, or fix the labels"
            )
        if compile:
            net.compile()  # in place: the state_dict keeps its keys, so checkpoints stay portable
        # No AUROC while training: it sorts every prediction of the epoch, per class, for a number
        # about a model that changed during the epoch; val/ and test/ have it.
        super().__init__(
            net, optimizer, scheduler, monitor, metrics=classification_metrics(num_classes),
            train_metrics=classification_metrics(num_classes, auroc=False), l2=l2,
        )  # fmt: skip
        # Plain values only, so checkpoints load with weights_only=True; the net is in the state_dict
        # and the logger gets the resolved config instead.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.num_classes = num_classes
        self.task = "binary" if num_classes == 2 else "multiclass"

    def loss_and_outputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss on the logits (numerically stable forms) and the (n, num_classes) class probabilities."""
        out = self.net(x)
        if self.task == "binary":
            probabilities = self.probabilities(out)  # first: it checks the net gives one logit per sample
            logits = out[:, 0]
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype)), probabilities
        log_probs = F.log_softmax(out, dim=-1)
        return F.nll_loss(log_probs, y), log_probs.exp()

    def probabilities(self, out: torch.Tensor) -> torch.Tensor:
        """Net outputs -> class probabilities (n, num_classes); binary: [1 - p, p] with p = sigmoid(logit)."""
        if self.task == "binary":
            if out.ndim != 2 or out.shape[1] != 1:
                raise ValueError(
                    f"a binary Classifier takes one logit per sample, but the net gives {tuple(out.shape)}; "
                    "size its last layer with ${num_outputs:${from_data.num_classes}} (1 for two classes)"
                )
            p = torch.sigmoid(out[:, 0].float())
            return torch.stack([1 - p, p], dim=1)
        return F.softmax(out.float(), dim=-1)

    def predicted_classes(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Class probabilities (n, num_classes) -> the most likely class of each row (n,).

        For binary rows [1 - p, p] this is p > 0.5, the threshold of the torchmetrics metrics: 1 - p is
        exact in floating point for p >= 0.5, and a tie (p = 0.5) goes to class 0 both ways.
        """
        return probabilities.argmax(dim=1)

    def metric_inputs(self, outputs: torch.Tensor) -> torch.Tensor:
        """What torchmetrics takes: P(class 1) (n,) for binary metrics, the probabilities otherwise."""
        return outputs[:, 1] if self.task == "binary" else outputs

    def empty_outputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero rows of probabilities (0, num_classes) and of labels, for a DDP rank without a batch."""
        probabilities = torch.empty(0, self.num_classes, device=self.device)
        return probabilities, torch.empty(0, dtype=torch.long, device=self.device)

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Class probabilities (n, num_classes) for a batch of inputs or of `(inputs, targets)`."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.probabilities(self.net(x))
