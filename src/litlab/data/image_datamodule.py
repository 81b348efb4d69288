"""Base class for image classification data held in memory as uint8 tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from litlab.data.augment import random_crop_flip
from litlab.data.in_memory import InMemoryDataModule
from litlab.data.splits import check_fractions, stratified_parts


class ImageDataModule(InMemoryDataModule):
    """uint8 images in memory, a seeded stratified validation split carved from the training set.

    Batches stay uint8 until they are on their device; there `on_after_batch_transfer` augments
    training batches (random crop + flip, if `augment`) and normalises with the training split's
    per-channel mean and std. Subclasses implement `load()` and `prepare_data()`.
    """

    class_names: Sequence[str] = ()

    def __init__(
        self,
        data_dir: str,
        image_shape: Sequence[int],
        num_classes: int,
        batch_size: int = 128,
        val_fraction: float = 5000 / 60000,
        augment: bool = False,
        crop_padding: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        check_fractions(val_fraction=val_fraction)
        self.data_dir = data_dir
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.val_fraction = val_fraction
        self.augment = augment
        self.crop_padding = crop_padding
        self.mean = torch.zeros(self.image_shape[0])
        self.std = torch.ones(self.image_shape[0])
        self.generators: dict[torch.device, tuple[int, torch.Generator]] = {}
        self.affine: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Train images (n, C, H, W) uint8, train labels, test images, test labels."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train_x, train_y, test_x, test_y = (torch.from_numpy(np.ascontiguousarray(a)) for a in self.load())
        for name, images, labels in (("training", train_x, train_y), ("test", test_x, test_y)):
            self.check(name, images, labels)
        generator = torch.Generator().manual_seed(self.seed)
        parts = stratified_parts(train_y, {"val": self.val_fraction}, generator)
        train, val = parts["train"], parts["val"]
        self.mean, self.std = channel_statistics(train_x[train])
        self.affine: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self.splits = {
            "train": (train_x[train], train_y[train].long()),
            "val": (train_x[val], train_y[val].long()),
            "test": (test_x, test_y.long()),
        }

    def check(self, name: str, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Images are uint8 of the configured shape, labels lie in 0..num_classes-1."""
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{type(self).__name__}: {name} images are {images.dtype} {tuple(images.shape[1:])}, "
                f"expected uint8 {self.image_shape} (data.image_shape)"
            )
        if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < self.num_classes:
            raise ValueError(
                f"{type(self).__name__}: {name} labels span {int(labels.min())}..{int(labels.max())}, "
                f"expected 0..{self.num_classes - 1} (data.num_classes={self.num_classes})"
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
        """Raw uint8 images (n, *image_shape) -> the net's input, normalised with the training statistics."""
        images = torch.as_tensor(np.ascontiguousarray(images))
        if images.ndim == len(self.image_shape) and self.image_shape[0] == 1:  # (n, H, W) grey, as in IDX
            images = images.unsqueeze(1)
        if images.ndim == len(self.image_shape):  # one image
            images = images.unsqueeze(0)
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{type(self).__name__}: expected uint8 images of shape {self.image_shape}, got "
                f"{images.dtype} of shape {tuple(images.shape[1:])}; give raw 0-255 pixels (as in the files)"
            )
        return self.normalize(images)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The training split's channel statistics, saved in checkpoints for prediction without the data."""
        return {"mean": self.mean, "std": self.std}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.mean, self.std = state_dict["mean"], state_dict["std"]
        self.affine = {}


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
