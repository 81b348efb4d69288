"""Per-member classification metrics for a population of K models, in a few batched tensor ops.

A population trains K small nets (one per CV fold) as one, their parameters stacked along dim 0. Each
epoch needs every member's accuracy, precision, recall, F1 and AUROC; a torchmetrics collection per
member per epoch would cost more than the training of these nets. `member_metrics` computes all members
at once and reproduces, to float rounding, what `litlab.models.classifier.classification_metrics` gives
on each member's valid rows alone (torchmetrics 1.x conventions; the scores' formulas are
`litlab.models.confusion`'s):

- AUROC is the exact (unbinned) ROC area, which equals the Mann-Whitney statistic with ties counted
  one half; multiclass is one-vs-rest, averaged over all classes. A class with no positive or no
  negative rows gets 0, as torchmetrics gives (with a warning), and still counts in the macro mean.
- a member with no valid rows gets 0 everywhere (torchmetrics would raise on its AUROC).
"""

from __future__ import annotations

import torch
from torch import Tensor

from litlab.models.confusion import confusion_scores, predicted_classes, safe_divide


def _confusion(predicted: Tensor, targets: Tensor, valid: Tensor, num_classes: int) -> Tensor:
    """(K, C, C) confusion counts [member, target, prediction] over valid rows, by one bincount."""
    k_count, c = predicted.shape[0], num_classes
    member = torch.arange(k_count, device=predicted.device).unsqueeze(1)
    index = member * c * c + targets * c + predicted
    # Padding goes to one extra bin that is dropped: its targets may be out of range.
    index = torch.where(valid, index, torch.full_like(index, k_count * c * c))
    counts = torch.bincount(index.flatten(), minlength=k_count * c * c + 1)[:-1]
    return counts.view(k_count, c, c)  # integer counts; confusion_scores takes them to float32


def _auroc(scores: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
    """(..., n) scores and bool masks -> (...) Mann-Whitney AUROC, ties one half; 0 without both classes."""
    # All (..., n, n) pairs at once: fine at n <= a few hundred rows a member.
    left, right = scores.unsqueeze(-1), scores.unsqueeze(-2)
    wins = (left > right).to(torch.float32) + 0.5 * (left == right).to(torch.float32)
    # Only (positive, negative) pairs of valid rows count; padding, NaN included, sits in masked pairs.
    pairs = positive.unsqueeze(-1) & negative.unsqueeze(-2)
    wins = torch.where(pairs, wins, torch.zeros_like(wins)).sum((-2, -1))
    return safe_divide(wins, pairs.sum((-2, -1)).to(torch.float32))


def member_metrics(
    probabilities: Tensor, targets: Tensor, valid: Tensor, num_classes: int, auroc: bool = True
) -> dict[str, Tensor]:
    """(K, n, C) probabilities, (K, n) targets and valid mask -> {"acc", "precision", ...}: (K,) float32."""
    if probabilities.shape[-1] != num_classes or probabilities.shape[:2] != targets.shape:
        raise ValueError(
            f"expected probabilities (K, n, {num_classes}) and targets (K, n), got "
            f"{tuple(probabilities.shape)} and {tuple(targets.shape)}"
        )
    valid = valid.bool()
    targets = torch.where(valid, targets.long(), torch.zeros_like(targets, dtype=torch.long))
    scores = probabilities[..., 1] if num_classes == 2 else probabilities
    out = confusion_scores(_confusion(predicted_classes(scores, num_classes), targets, valid, num_classes))
    if auroc:
        is_class = targets.unsqueeze(1) == torch.arange(num_classes, device=targets.device).view(1, -1, 1)
        positive, negative = is_class & valid.unsqueeze(1), ~is_class & valid.unsqueeze(1)  # (K, C, n)
        if num_classes == 2:
            out["auroc"] = _auroc(scores, positive[:, 1], negative[:, 1])
        else:
            # One-vs-rest per class, plain mean over all C (an absent class counts as 0).
            out["auroc"] = _auroc(probabilities.transpose(1, 2), positive, negative).mean(-1)
    return out
