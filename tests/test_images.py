"""Image pipeline: uint8 batches, on-device normalisation, batch-wise augmentation, the report callback."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litlab.data import CIFAR10DataModule, MNISTDataModule
from litlab.data.augment import random_crop_flip
from litlab.data.image_datamodule import channel_statistics
from litlab.runtime.hparams import FINAL
from litlab.train import train


def mnist(data_dir, **kwargs) -> MNISTDataModule:
    dm = MNISTDataModule(data_dir=str(data_dir), val_fraction=0.1, batch_size=16, **kwargs)
    dm.setup()
    return dm


def test_mnist_batches_stay_uint8_until_transfer(data_dir):
    dm = mnist(data_dir)
    assert {k: len(v[1]) for k, v in dm.splits.items()} == {"train": 110, "val": 10, "test": 30}
    assert (torch.bincount(dm.splits["val"][1]) == 1).all()  # stratified: one of each digit
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (16, 1, 28, 28) and labels.dtype == torch.long
    dm.trainer = SimpleNamespace(training=True)
    normalised, same_labels = dm.on_after_batch_transfer((images, labels), 0)
    assert normalised.dtype == torch.float32 and torch.equal(same_labels, labels)
    expected = (images.float() / 255 - dm.mean[0]) / dm.std[0]
    assert torch.allclose(normalised, expected, atol=1e-6)


def test_normalisation_statistics_are_exact_and_from_the_training_split(data_dir):
    dm = mnist(data_dir)
    pixels = dm.splits["train"][0].double() / 255
    assert torch.allclose(dm.mean, pixels.mean().float().reshape(1), atol=1e-6)
    assert torch.allclose(dm.std, pixels.std().float().reshape(1), atol=1e-6)
    colour = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_statistics(colour)
    per_channel = colour.transpose(0, 1).reshape(3, -1).double() / 255
    assert torch.allclose(mean, per_channel.mean(1).float()) and torch.allclose(
        std, per_channel.std(1).float()
    )


def test_augmentation_keeps_shape_dtype_and_range_and_differs_between_calls():
    images = torch.randint(1, 256, (64, 3, 32, 32), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    first = random_crop_flip(images, 4, generator)
    second = random_crop_flip(images, 4, generator)
    assert first.shape == images.shape and first.dtype == torch.uint8
    assert not torch.equal(first, second) and not torch.equal(first, images)
    assert (first == 0).any()  # the zero padding shows at shifted borders
    assert set(torch.unique(first).tolist()) <= set(range(256))
    # Every output pixel is a pixel of the padded input: crops, flips, nothing invented.
    unshifted = random_crop_flip(images, 0, torch.Generator().manual_seed(1))
    flipped = unshifted.flip(3)
    assert all(
        torch.equal(u, i) or torch.equal(f, i) for u, f, i in zip(unshifted, flipped, images, strict=True)
    )


def test_augmentation_applies_to_training_batches_only(data_dir):
    dm = CIFAR10DataModule(data_dir=str(data_dir), augment=True, batch_size=8)
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    dm.trainer = SimpleNamespace(training=False)
    plain = dm.on_after_batch_transfer(batch, 0)[0]
    assert torch.allclose(plain, dm.normalize(batch[0]))
    dm.trainer = SimpleNamespace(training=True)
    epoch1 = dm.on_after_batch_transfer(batch, 0)[0]
    epoch2 = dm.on_after_batch_transfer(batch, 0)[0]
    assert epoch1.shape == plain.shape and not torch.equal(epoch1, plain) and not torch.equal(epoch1, epoch2)
    assert dm.class_names[:2] == ("airplane", "automobile")


def test_image_shapes_and_labels_are_checked(data_dir):
    dm = MNISTDataModule(data_dir=str(data_dir), val_fraction=0.1)
    train_x, train_y, test_x, test_y = dm.load()
    dm.load = lambda: (train_x, train_y, test_x[:, :, :27], test_y)
    with pytest.raises(
        ValueError, match=r"training images are \(1, 28, 28\) but test images are \(1, 27, 28\)"
    ):
        dm.setup()
    dm.load = lambda: (train_x, train_y, test_x, test_y + 5)
    with pytest.raises(ValueError, match=r"test labels \[10, 11, 12, 13, 14\] are not among .* 0..9"):
        dm.setup()
    dm.load = lambda: (train_x, train_y % 5 * 2, test_x, test_y)
    with pytest.raises(ValueError, match=r"labels must be the integers 0..9 .*seen are \[0, 2, 4, 6, 8\]"):
        dm.setup()
    with pytest.raises(ValueError, match=r"data.val_fraction must lie between 0 and 1, got 1.5"):
        MNISTDataModule(data_dir=str(data_dir), val_fraction=1.5)


def test_images_describe_themselves_and_predict_from_the_saved_state(data_dir):
    dm = mnist(data_dir)
    assert dm.describe() == {
        "input_shape": [1, 28, 28], "num_features": 784, "num_classes": 10,
        "class_names": [str(d) for d in range(10)], "feature_names": [], "num_targets": None,
    }  # fmt: skip
    cifar = CIFAR10DataModule(data_dir=str(data_dir))
    cifar.setup()
    assert cifar.describe()["input_shape"] == [3, 32, 32]
    assert cifar.describe()["class_names"][:2] == ["airplane", "automobile"]
    fresh = MNISTDataModule(data_dir=str(data_dir / "nowhere"))
    images = dm.splits["test"][0][:3]
    with pytest.raises(
        RuntimeError, match=r"channel statistics are not fitted yet.*setup\(\).*load_state_dict"
    ):
        fresh.normalize(images)
    fresh.load_state_dict(dm.state_dict())
    assert fresh.describe() == dm.describe()
    assert torch.equal(fresh.preprocess(images.numpy()[:, 0]), dm.normalize(images))
    with pytest.raises(ValueError, match=r"lacks the data module's fitted state .*no mean, std"):
        MNISTDataModule(data_dir=str(data_dir)).load_state_dict({k: v for k, v in dm.state_dict().items()
                                                                  if k not in ("mean", "std")})  # fmt: skip


def test_cifar_class_names_are_known_before_loading_and_checked_on_load(data_dir):
    import pickle

    dm = CIFAR10DataModule(data_dir=str(data_dir))
    assert dm.class_names == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                              "ship", "truck")  # fmt: skip
    meta = data_dir / "cifar-10-batches-py" / "batches.meta"
    names = [b"automobile", b"airplane", *(n.encode() for n in dm.class_names[2:])]
    meta.write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    with pytest.raises(ValueError, match=r"lists the classes \['automobile', 'airplane'.*download it again"):
        dm.setup()


def test_multiclass_test_run_writes_the_confusion_matrix_and_report(compose_config, tmp_path):
    cfg = compose_config("experiment=mnist", "trainer.max_epochs=1", "trainer.accelerator=cpu")
    train(cfg)
    run = tmp_path / "run"
    assert (run / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (run / "classification_report.md").read_text()
    assert "| 9 |" in report and "Failed to classify" in report and "of 30" in report
    rows = (run / "confusion_matrix.csv").read_text().splitlines()
    assert len(rows) == 11 and sum(int(v) for row in rows[1:] for v in row.split(",")[1:]) == 30
    events = EventAccumulator(str(run), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert f"{FINAL}test/confusion_matrix" in events.Tags()["images"]
    assert any(tag.startswith(f"{FINAL}test/classification_report") for tag in events.Tags()["tensors"])


def test_binary_runs_report_both_classes_by_name(compose_config, tmp_path):
    train(compose_config("experiment=breast_cancer", "trainer.max_epochs=1"))
    report = (tmp_path / "run" / "classification_report.md").read_text()
    assert "| malignant |" in report and "| benign |" in report
    rows = [line for line in report.splitlines() if line.startswith(("| malignant", "| benign"))]
    supports = [int(line.split("|")[5]) for line in rows]
    assert f"of {sum(supports)} (" in report and sum(supports) > 100
