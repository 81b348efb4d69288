"""The classifier's scores from one confusion count equal torchmetrics' four metrics, to the bit."""

import pytest
import torch
from torchmetrics import Accuracy, F1Score, MetricCollection, Precision, Recall

from litlab.models.classifier import classification_metrics


def torchmetrics_scores(num_classes: int) -> MetricCollection:
    """What classification_metrics was before the confusion count: four torchmetrics metrics."""
    if num_classes == 2:
        kwargs: dict = {"task": "binary"}
        accuracy = kwargs
    else:
        kwargs = {"task": "multiclass", "num_classes": num_classes, "average": "macro"}
        accuracy = {**kwargs, "average": "micro"}
    return MetricCollection(
        {"acc": Accuracy(**accuracy), "precision": Precision(**kwargs), "recall": Recall(**kwargs),
         "f1": F1Score(**kwargs)}
    )  # fmt: skip


@pytest.mark.parametrize("num_classes", [2, 3, 10])
def test_confusion_scores_equal_torchmetrics_bit_for_bit(num_classes):
    g = torch.Generator().manual_seed(num_classes)
    for trial in range(40):
        reference, ours = torchmetrics_scores(num_classes), classification_metrics(num_classes, auroc=False)
        for _ in range(3):  # several updates: the counts accumulate
            n = int(torch.randint(1, 50, (1,), generator=g))
            p = torch.softmax(3 * torch.randn(n, num_classes, generator=g), dim=1)
            if trial % 5 == 0:
                p = torch.full((n, num_classes), 1 / num_classes)  # ties: 0.5 is negative, argmax the first
            # Some trials have one class only, so classes absent from targets and predictions occur.
            y = torch.randint(0, num_classes if trial % 4 else 1, (n,), generator=g)
            scores = p[:, 1] if num_classes == 2 else p
            reference.update(scores, y)
            ours.update(scores, y)
        expected, got = reference.compute(), ours.compute()
        assert set(got) == {"acc", "precision", "recall", "f1"}
        for name, value in expected.items():
            assert torch.equal(got[name], value.float()), (trial, name, got[name], value)


def test_a_target_outside_the_classes_is_refused():
    metrics = classification_metrics(3, auroc=False)
    with pytest.raises(ValueError, match="outside the 3 classes"):
        metrics.update(torch.softmax(torch.randn(4, 3), 1), torch.tensor([0, 1, 2, 5]))
    with pytest.raises(ValueError, match="outside the 3 classes.*min -1"):
        metrics.update(torch.softmax(torch.randn(2, 3), 1), torch.tensor([-1, 1]))


def test_counts_stay_exact_when_the_module_is_cast_to_half_precision():
    """trainer.precision=bf16-true casts the module with .to(dtype): integer counts are left as they are
    (bf16 counts would stop at 256 in a cell)."""
    metrics = classification_metrics(2, auroc=False).to(dtype=torch.bfloat16)
    metrics.update(torch.full((257,), 0.9), torch.ones(257, dtype=torch.long))
    metrics.update(torch.full((3,), 0.1), torch.ones(3, dtype=torch.long))
    assert metrics.compute()["recall"] == torch.tensor(257 / 260)
