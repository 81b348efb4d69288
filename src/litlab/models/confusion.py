"""Accuracy, precision, recall and F1 from confusion counts: the one owner of those formulas.

A classifier's epoch metrics need only the (C, C) confusion counts of its predictions; four torchmetrics
metrics (Accuracy, Precision, Recall, F1Score) keep four copies of them and pay four updates, computes
and resets an epoch, which cost more than an epoch of the lectures' small nets at full batch.
`ConfusionScores` keeps the counts once, as one torchmetrics state (so it syncs under DDP and sits in a
MetricCollection beside AUROC); `confusion_scores` turns counts into the scores, for one model or for a
population's (K, C, C) counts (litlab.population.metrics). Both follow torchmetrics 1.x exactly:

- binary (2 classes): the positive prediction is P(class 1) > 0.5, strictly; precision, recall and F1
  are those of class 1, and 0 where their denominator is 0.
- more classes: the prediction is the argmax (first of tied maxima); accuracy is micro (correct / n);
  precision, recall and F1 are per class (0 on 0 / 0), then averaged over the classes that occur in the
  targets or the predictions (torchmetrics weights a class with tp + fp + fn == 0 by 0).
- no rows at all: 0 everywhere.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

SCORES = ("acc", "precision", "recall", "f1")


def safe_divide(num: Tensor, denom: Tensor) -> Tensor:
    """num / denom, 0 where denom is 0 (torchmetrics' default zero_division)."""
    nonzero = denom != 0
    quotient = num / torch.where(nonzero, denom, torch.ones_like(denom))  # no inf/NaN even transiently
    return torch.where(nonzero, quotient, torch.zeros_like(num))


def predicted_classes(scores: Tensor, num_classes: int) -> Tensor:
    """What torchmetrics predicts: P(class 1) (...,) > 0.5 for 2 classes, else the argmax of (..., C)."""
    return (scores > 0.5).long() if num_classes == 2 else scores.argmax(dim=-1)


def confusion_scores(confusion: Tensor) -> dict[str, Tensor]:
    """(..., C, C) counts [target, prediction] -> {"acc", "precision", "recall", "f1"}: (...)."""
    confusion = confusion.to(torch.float32)  # exact up to 2**24 rows; every device has float32
    tp = confusion.diagonal(dim1=-2, dim2=-1)  # (..., C)
    fp = confusion.sum(-2) - tp  # predicted c, target not c
    fn = confusion.sum(-1) - tp  # target c, predicted not c
    acc = safe_divide(tp.sum(-1), confusion.sum((-2, -1)))
    precision = safe_divide(tp, tp + fp)
    recall = safe_divide(tp, tp + fn)
    f1 = safe_divide(2 * tp, 2 * tp + fp + fn)
    if confusion.shape[-1] == 2:
        # Binary task: the scores of the positive class alone.
        precision, recall, f1 = precision[..., 1], recall[..., 1], f1[..., 1]
    else:
        # Macro over the classes seen in targets or predictions: torchmetrics' weights, and its order of
        # operations (each class's share, then their sum), so the floats agree to the bit.
        seen = ((tp + fp + fn) > 0).to(torch.float32)
        share = seen.sum(-1, keepdim=True)
        precision, recall, f1 = (safe_divide(s * seen, share).sum(-1) for s in (precision, recall, f1))
    return dict(zip(SCORES, (acc, precision, recall, f1), strict=True))


class ConfusionScores(Metric):
    """Accuracy, precision, recall and F1 of a classifier from one (C, C) count state.

    `update` takes what torchmetrics' classification metrics take: P(class 1) (n,) for 2 classes, (n, C)
    probabilities otherwise, and (n,) integer targets. `compute` returns the four scores as a dict, which
    a MetricCollection flattens under its prefix (`train/acc`, ...), in the order of `SCORES`.
    """

    full_state_update = False
    is_differentiable = False
    names = SCORES  # the keys of compute(): what SupervisedModule.metric_names lists

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"ConfusionScores needs num_classes >= 2, got {num_classes}")
        self.num_classes = num_classes
        # Integer counts, as torchmetrics keeps them: exact at any size, and left as they are when a
        # module is cast to a half precision (Module.to casts floating-point tensors only).
        self.add_state(
            "confusion", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum"
        )

    def update(self, scores: Tensor, targets: Tensor) -> None:
        c = self.num_classes
        targets = targets.long()
        if targets.numel():
            low, high = (int(v) for v in torch.aminmax(targets))  # one reduction, one device sync
            if low < 0 or high >= c:
                raise ValueError(
                    f"a target is outside the {c} classes 0..{c - 1}: min {low}, max {high}; the labels "
                    f"must be 0..{c - 1} (num_classes={c})"
                )
        counts = torch.bincount(targets * c + predicted_classes(scores, c), minlength=c * c)
        self.confusion += counts.view(c, c)

    def compute(self) -> dict[str, Tensor]:
        return confusion_scores(self.confusion)
