"""Base class for image classification data held in memory as uint8 tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from litlab.data.augment import random_crop_flip
from litlab.data.in_memory import InMemoryDataModule
from litlab.data.labels import count_classes, names_of_classes
from litlab.data.splits import check_fractions, stratified_parts


class ImageDataModule(InMemoryDataModule):
    """uint8 images in memory, a seeded stratified validation split carved from the training set.

    Batches stay uint8 until they are on their device; there `on_after_batch_transfer` augments
    training batches (random crop + flip, if `augment`) and normalises with the training split's
    per-channel mean and std, fitted at `setup` (or restored by `load_state_dict`). The image shape and
    the number of classes are read from the files. Subclasses implement `load()` and `prepare_data()`,
    name their classes (`class_names`), and declare the defaults that are their data set's own (its
    validation share, whether to augment) in their own signature.
    """

    def __init__(
        self,
        data_dir: str,
        batch_size: int = 128,
        val_fraction: float = 0.1,
        augment: bool = False,
        crop_padding: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        check_fractions(val_fraction=val_fraction)
        self.data_dir = data_dir
        self.val_fraction = val_fraction
        self.augment = augment
        self.crop_padding = crop_padding
        # None until fitted: normalising with made-up statistics would train on the wrong inputs silently.
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self.generators: dict[torch.device, tuple[int, torch.Generator]] = {}
        self.affine: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Train images (n, C, H, W) uint8, train labels, test images, test labels."""
        raise NotImplementedError

    def fitted_names(self) -> tuple[str, ...]:
        return ("mean", "std")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.affine = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train_x, train_y, test_x, test_y = (torch.from_numpy(np.ascontiguousarray(a)) for a in self.load())
        self.check(train_x, test_x)
        name = type(self).__name__
        num_classes = count_classes(train_y, self.class_names, f"{name} (training labels)")
        outside = sorted(set(torch.unique(test_y).tolist()) - set(range(num_classes)))
        if outside:
            raise ValueError(
                f"{name}: test labels {outside} are not among the training set's classes "
                f"0..{num_classes - 1}; take both splits from the same release of the data set"
            )
        generator = torch.Generator().manual_seed(self.seed)
        parts = stratified_parts(train_y, {"val": self.val_fraction}, generator)
        train, val = parts["train"], parts["val"]
        self.mean, self.std = channel_statistics(train_x[train])
        self.affine = {}
        self.splits = {
            "train": (train_x[train], train_y[train].long()),
            "val": (train_x[val], train_y[val].long()),
            "test": (test_x, test_y.long()),
        }
        names = names_of_classes(num_classes, self.class_names)
        self.record_description(train_x.shape[1:], num_classes=num_classes, class_names=names)

    def check(self, train: torch.Tensor, test: torch.Tensor) -> None:
        """Training and test images are uint8 (n, C, H, W) of one shape."""
        for split, images in (("training", train), ("test", test)):
            if images.dtype != torch.uint8 or images.ndim != 4:
                raise ValueError(
                    f"{type(self).__name__}: {split} images are {images.dtype} of shape "
                    f"{tuple(images.shape)}, expected uint8 (n, channels, height, width); the files are "
                    "not raw 0-255 images"
                )
        if train.shape[1:] != test.shape[1:]:
            raise ValueError(
                f"{type(self).__name__}: training images are {tuple(train.shape[1:])} but test images are "
                f"{tuple(test.shape[1:])}; take both splits from the same release of the data set"
            )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        if self.augment and self.trainer is not None and self.trainer.training:
            images = random_crop_flip(images, self.crop_padding, self.generator(images.device))
        return self.normalize(images), labels

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (n, C, H, W) -> float32, standardised per channel with the training statistics."""
        # (x / 255 - mean) / std as x * scale + shift, in place, with the constants prepared once per
        # device: per-batch arithmetic on them would cost as much as the batch (torch.addcmul is
        # slower still on CPU for this broadcast).
        if images.device not in self.affine:
            if self.mean is None or self.std is None:
                raise RuntimeError(
                    f"{type(self).__name__}: the channel statistics are not fitted yet, so images cannot be "
                    "normalised; call setup() (fits them on the training split) or load_state_dict() with "
                    "the state of a checkpoint first"
                )
            scale = 1 / (255 * self.std)
            shift = -self.mean / self.std
            self.affine[images.device] = (
                scale[:, None, None].to(images.device),
                shift[:, None, None].to(images.device),
            )
        scale, shift = self.affine[images.device]
        return images.float().mul_(scale).add_(shift)

    def generator(self, device: torch.device) -> torch.Generator:
        """The augmentation generator for a device, seeded from `seed` and the epoch: epochs differ, runs
        repeat, and a resumed run augments as an uninterrupted one would."""
        epoch = getattr(self.trainer, "current_epoch", 0)
        if self.generators.get(device, (None, None))[0] != epoch:
            generator = torch.Generator(device=device).manual_seed((self.seed << 20) + epoch)
            self.generators[device] = (epoch, generator)
        return self.generators[device][1]

    def preprocess(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Raw uint8 images (n, *input_shape) -> the net's input, normalised with the training statistics."""
        shape = tuple(self.describe()["input_shape"])
        images = torch.as_tensor(np.ascontiguousarray(images))
        if images.ndim == len(shape) and shape[0] == 1:  # (n, H, W) grey, as in IDX
            images = images.unsqueeze(1)
        if images.ndim == len(shape):  # one image
            images = images.unsqueeze(0)
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != shape:
            raise ValueError(
                f"{type(self).__name__}: expected uint8 images of shape {shape}, got "
                f"{images.dtype} of shape {tuple(images.shape[1:])}; give raw 0-255 pixels (as in the files)"
            )
        return self.normalize(images)


def channel_statistics(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images in the [0, 1] scale, exact, from 256-bin histograms.

    A histogram needs no float copy of the images (a float64 copy of MNIST's training set is 345 MB).
    """
    levels = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).double()
        mean = (counts * levels).sum() / counts.sum()
        var = (counts * (levels - mean) ** 2).sum() / (counts.sum() - 1)
        means.append(mean)
        stds.append(var.sqrt())
    return torch.stack(means).float(), torch.stack(stds).float()
