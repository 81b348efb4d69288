"""litlab.population.metrics.member_metrics against litlab's torchmetrics collection, member by member."""

from __future__ import annotations

import warnings

import pytest
import torch

from litlab.models.classifier import classification_metrics
from litlab.population.metrics import member_metrics

NAMES = ("acc", "precision", "recall", "f1", "auroc")


def reference(probabilities, targets, valid, num_classes, auroc=True) -> dict[str, torch.Tensor]:
    """What classification_metrics gives on each member's valid rows alone, stacked to (K,)."""
    template = classification_metrics(num_classes, auroc)
    values: dict[str, list[torch.Tensor]] = {}
    for k in range(probabilities.shape[0]):
        rows = valid[k]
        inputs = probabilities[k, rows, 1] if num_classes == 2 else probabilities[k, rows]
        metrics = template.clone()
        metrics.update(inputs, targets[k, rows])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate members: torchmetrics warns, gives 0 for AUROC
            for name, value in metrics.compute().items():
                values.setdefault(name, []).append(value.float())
    return {name: torch.stack(v) for name, v in values.items()}


def population(k_count, n, num_classes, seed, ties=False):
    """Random (K, n, C) probabilities, (K, n) targets, ragged interleaved valid mask, garbage padding."""
    g = torch.Generator().manual_seed(seed)
    if num_classes == 2:
        p = torch.rand(k_count, n, generator=g)
        p = p.round(decimals=1) if ties else p  # ties, and p == 0.5 exactly
        probabilities = torch.stack([1 - p, p], dim=-1)
    else:
        probabilities = torch.softmax(2 * torch.randn(k_count, n, num_classes, generator=g), dim=-1)
        probabilities = probabilities.round(decimals=1) if ties else probabilities  # tied maxima too
    targets = torch.randint(0, num_classes, (k_count, n), generator=g)
    lengths = torch.randint(n // 3, n + 1, (k_count,), generator=g)
    valid = torch.stack([torch.randperm(n, generator=g) < length for length in lengths])
    return probabilities, targets, valid


def with_garbage(probabilities, targets, valid, fill: float, label: int):
    """The same population with padding rows overwritten by out-of-range values."""
    probabilities = torch.where(valid.unsqueeze(-1), probabilities, torch.full_like(probabilities, fill))
    return probabilities, torch.where(valid, targets, torch.full_like(targets, label)), valid


def assert_matches(probabilities, targets, valid, num_classes, auroc=True) -> dict[str, torch.Tensor]:
    """member_metrics equals the reference for every member and metric, to 1e-6; returns its values."""
    ours = member_metrics(probabilities, targets, valid, num_classes, auroc)
    expected = reference(probabilities, targets, valid, num_classes, auroc)
    assert set(ours) == set(expected)
    for name, value in ours.items():
        assert value.shape == (probabilities.shape[0],) and value.dtype == torch.float32, name
        torch.testing.assert_close(value, expected[name], atol=1e-6, rtol=0, msg=name)
    return ours


@pytest.mark.parametrize("num_classes", [2, 4])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("fill, label", [(float("nan"), -1), (7.0, 99), (-3.0, 2)])
def test_random_ragged_members(num_classes: int, ties: bool, fill: float, label: int) -> None:
    probabilities, targets, valid = population(6, 80, num_classes, seed=num_classes + 10 * ties, ties=ties)
    ours = assert_matches(*with_garbage(probabilities, targets, valid, fill, label), num_classes)
    for name in NAMES:  # the members really differ, so a mix-up of members would fail
        assert ours[name].unique().numel() > 1, name


@pytest.mark.parametrize("num_classes", [2, 4])
def test_padding_changes_nothing(num_classes: int) -> None:
    probabilities, targets, valid = population(5, 50, num_classes, seed=3, ties=True)
    a = member_metrics(*with_garbage(probabilities, targets, valid, float("nan"), -1), num_classes)
    b = member_metrics(*with_garbage(probabilities, targets, valid, 0.5, 1), num_classes)
    for name in NAMES:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("num_classes", [2, 4])
def test_single_member_and_no_auroc(num_classes: int) -> None:
    probabilities, targets, valid = population(1, 120, num_classes, seed=5)
    assert_matches(probabilities, targets, valid, num_classes)
    assert set(assert_matches(probabilities, targets, valid, num_classes, auroc=False)) == set(NAMES[:4])


def test_binary_threshold_is_strict() -> None:
    """p == 0.5 is a negative prediction, as torchmetrics thresholds with `>`."""
    p = torch.tensor([[0.5, 0.5, 0.9, 0.1]])
    probabilities, targets = torch.stack([1 - p, p], -1), torch.tensor([[1, 1, 1, 0]])
    ours = assert_matches(probabilities, targets, torch.ones_like(targets, dtype=torch.bool), 2)
    assert ours["recall"].item() == pytest.approx(1 / 3) and ours["precision"].item() == 1.0


def test_binary_degenerate_members() -> None:
    """All-negative and all-positive predictions; members whose valid targets are all one class."""
    n = 40
    g = torch.Generator().manual_seed(7)
    p = torch.rand(4, n, generator=g)
    p[0] *= 0.5  # member 0 predicts no positive: precision 0 (0 / 0), recall 0, f1 0
    p[1] = 0.5 + 0.5 * p[1].clamp(min=0.01)  # member 1 predicts all positive
    targets = torch.randint(0, 2, (4, n), generator=g)
    targets[2] = 0  # member 2: no positive target: recall 0 / 0 -> 0
    targets[3] = 1  # member 3: no negative target
    valid = torch.rand(4, n, generator=g) > 0.25
    probabilities, targets, valid = with_garbage(torch.stack([1 - p, p], -1), targets, valid, 0.9, 1)
    ours = assert_matches(probabilities, targets, valid, 2)
    assert ours["precision"][0] == 0 and ours["recall"][1] == 1 and ours["recall"][2] == 0
    # Members 2 and 3 have one target class: AUROC is undefined; torchmetrics warns and gives 0, so do we.
    assert ours["auroc"][2] == 0 and ours["auroc"][3] == 0


def test_multiclass_degenerate_members() -> None:
    """All one predicted class; all one target class; classes absent from targets and predictions."""
    n, c = 60, 4
    probabilities, targets, valid = population(4, n, c, seed=11)
    probabilities[0] = torch.tensor([0.1, 0.1, 0.7, 0.1])  # member 0 predicts class 2 only
    targets[1] = 3  # member 1: every target is class 3
    # Member 2: targets and predictions in {0, 1}: classes 2 and 3 have tp + fp + fn == 0 and drop
    # out of the macro mean; their one-vs-rest AUROC is 0 (torchmetrics warns) and stays in its mean.
    targets[2] = targets[2] % 2
    probabilities[2, :, 2:] = 0.0
    ours = assert_matches(*with_garbage(probabilities, targets, valid, float("nan"), 17), c)
    rows = valid[2]
    predicted, truth = probabilities[2, rows].argmax(-1), targets[2, rows]
    recalls = [((predicted == j) & (truth == j)).sum() / (truth == j).sum() for j in (0, 1)]
    assert ours["recall"][2].item() == pytest.approx(sum(recalls).item() / 2, abs=1e-6)  # over 2 classes
    assert ours["auroc"][2] <= 0.5 + 1e-6  # classes 2, 3 count 0: at most (1 + 1 + 0 + 0) / 4


def test_member_without_valid_rows_is_zero() -> None:
    """torchmetrics raises on an empty AUROC; a member with no valid row gets 0 for everything."""
    probabilities, targets, valid = population(3, 30, 4, seed=13)
    valid[1] = False
    ours = member_metrics(probabilities, targets, valid, 4)
    assert all(ours[name][1] == 0 for name in NAMES)
    keep = torch.tensor([0, 2])
    expected = reference(probabilities[keep], targets[keep], valid[keep], 4)
    for name in NAMES:
        torch.testing.assert_close(ours[name][keep], expected[name], atol=1e-6, rtol=0)
