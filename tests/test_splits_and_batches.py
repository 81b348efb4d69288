"""The in-memory pipeline: stratified seeded splits, train-only standardisation, index-cut batches."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from litlab.data import BreastCancerDataModule
from litlab.data.batches import TensorBatches
from litlab.data.splits import stratified_split


def labels_with_counts(*counts: int) -> torch.Tensor:
    return torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])


def split(labels, val=0.15, test=0.2, seed=0):
    return stratified_split(labels, val, test, torch.Generator().manual_seed(seed))


def test_split_is_a_stratified_partition():
    labels = labels_with_counts(200, 100)
    train, val, test = split(labels)
    together = torch.cat([train, val, test])
    assert len(together) == 300 and len(torch.unique(together)) == 300
    assert (torch.bincount(labels[val]) == torch.tensor([30, 15])).all()
    assert (torch.bincount(labels[test]) == torch.tensor([40, 20])).all()


def test_split_follows_the_seed():
    labels = labels_with_counts(50, 50)
    assert all(torch.equal(a, b) for a, b in zip(split(labels, seed=3), split(labels, seed=3), strict=True))
    assert not torch.equal(split(labels, seed=3)[1], split(labels, seed=4)[1])


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.5), (0.7, 0.4), (0.0, 0.2), (0.2, -0.1)])
def test_fractions_must_leave_a_training_split(val, test):
    with pytest.raises(ValueError, match=r"data\.(val_fraction|test_fraction)"):
        split(labels_with_counts(10, 10), val, test)


def test_a_class_too_small_for_every_split_is_refused():
    with pytest.raises(
        ValueError, match=r"class 1 has 3 samples.*every split needs every class.*data.val_fraction"
    ):
        split(labels_with_counts(100, 3), 0.1, 0.1)


def test_standardisation_uses_training_statistics_only():
    dm = BreastCancerDataModule(seed=1)
    raw, labels = dm.load()
    dm.setup()
    train_idx, _, _ = split(torch.as_tensor(labels), dm.val_fraction, dm.test_fraction, seed=1)
    raw_train = torch.as_tensor(raw, dtype=torch.float32)[train_idx]
    assert torch.allclose(dm.mean, raw_train.mean(0)) and torch.allclose(dm.std, raw_train.std(0))
    x_train, _ = dm.splits["train"]
    x_test, _ = dm.splits["test"]
    assert torch.allclose(x_train.mean(0), torch.zeros(30), atol=1e-4)
    assert torch.allclose(x_train.std(0), torch.ones(30), atol=1e-4)
    assert not torch.allclose(x_test.mean(0), torch.zeros(30), atol=1e-2)  # test is not re-fitted


def test_a_feature_constant_in_training_is_centred_not_blown_up():
    dm = BreastCancerDataModule(seed=1)
    x, y = dm.load()
    train_idx, _, _ = split(torch.as_tensor(y), dm.val_fraction, dm.test_fraction, seed=1)
    x[:, 0] = 5.0
    x[train_idx.numpy(), 0] = 0.0  # constant over the training split, like a gene never seen there
    dm.load = lambda: (x, y)
    dm.setup()
    assert dm.std[0] == 1 and dm.mean[0] == 0
    for name in ("train", "val", "test"):
        assert dm.splits[name][0].abs().max() < 1e3


def test_overfit_batches_serve_the_same_batches_every_epoch():
    dm = BreastCancerDataModule(seed=1)
    dm.setup()
    dm.trainer = SimpleNamespace(overfit_batches=3)
    first, second = list(dm.train_dataloader()), list(dm.train_dataloader())
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, second, strict=True))


def test_batches_cover_the_data_and_reshuffle_each_epoch():
    x, y = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    batches = TensorBatches(x, y, batch_size=4, shuffle=True, seed=0)
    first = list(batches)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, batches, strict=True))  # same epoch
    batches.set_epoch(1)
    second = list(batches)
    assert len(batches) == 3 and [len(b[1]) for b in first] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in first]).tolist()) == list(range(10))
    assert torch.equal(torch.cat([b[0] for b in first]).squeeze(1).long(), torch.cat([b[1] for b in first]))
    assert not torch.equal(torch.cat([b[1] for b in first]), torch.cat([b[1] for b in second]))


def test_unshuffled_batches_keep_order_and_full_batch_means_one():
    x = torch.arange(7)
    assert [b[0].tolist() for b in TensorBatches(x, batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(TensorBatches(x, batch_size=None)) == 1
    with pytest.raises(ValueError, match="batch_size must be a positive integer or null"):
        TensorBatches(x, batch_size=0)


def test_an_epochs_order_does_not_depend_on_the_epochs_before():
    """What makes a resumed run see the batches of an uninterrupted one."""
    y = torch.arange(50)
    run = TensorBatches(y, batch_size=8, shuffle=True, seed=3)
    for epoch in range(4):
        run.set_epoch(epoch)
        uninterrupted = [b[0] for b in run]
    resumed = TensorBatches(y, batch_size=8, shuffle=True, seed=3)
    resumed.set_epoch(3)
    assert all(torch.equal(a, b[0]) for a, b in zip(uninterrupted, resumed, strict=True))


@pytest.mark.parametrize("total", [10, 11, 13])
def test_ranks_get_disjoint_shares_training_padded_evaluation_exact(total):
    y = torch.arange(total)
    world = 3
    train = [
        TensorBatches(y, batch_size=2, shuffle=True, seed=1, rank=r, world_size=world) for r in range(world)
    ]
    assert len({len(t) for t in train}) == 1  # every rank takes the same number of steps
    seen = torch.cat([b[0] for t in train for b in t])
    assert set(seen.tolist()) == set(range(total)) and len(seen) == world * train[0].size
    evaluation = [TensorBatches(y, batch_size=2, rank=r, world_size=world) for r in range(world)]
    assert sorted(torch.cat([b[0] for t in evaluation for b in t]).tolist()) == list(range(total))
    with pytest.raises(ValueError, match="rank 3 is outside 0..2"):
        TensorBatches(y, batch_size=2, rank=3, world_size=3)


def test_a_rank_without_evaluation_samples_still_takes_one_empty_step():
    """Lightning skips a stage on a rank whose loader is empty; the others would then wait for it forever."""
    y = torch.arange(2)
    shares = [list(TensorBatches(y, batch_size=4, rank=r, world_size=3)) for r in range(3)]
    assert [[b[0].tolist() for b in share] for share in shares] == [[[]], [[0]], [[1]]]
    assert len(TensorBatches(y[:0], batch_size=4, rank=0, world_size=3)) == 0  # no data anywhere: skip
