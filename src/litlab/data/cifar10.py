"""CIFAR-10 from the python version of its batches (no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litlab.data.cifar_files import CIFAR10_FOLDER, download_cifar10, read_cifar10_classes, read_cifar10_split
from litlab.data.image_datamodule import ImageDataModule


class CIFAR10DataModule(ImageDataModule):
    """`<data_dir>/cifar-10-batches-py/`: 50000 + 10000 colour images of 32x32 in 10 classes."""

    def __init__(self, data_dir: str, image_shape=(3, 32, 32), num_classes: int = 10, **kwargs) -> None:
        super().__init__(data_dir=data_dir, image_shape=image_shape, num_classes=num_classes, **kwargs)
        self.folder = Path(data_dir) / CIFAR10_FOLDER
        self.class_names: tuple[str, ...] = ()

    def prepare_data(self) -> None:
        download_cifar10(Path(self.data_dir))

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.prepare_data()
        self.class_names = tuple(read_cifar10_classes(self.folder))
        return (*read_cifar10_split(self.folder, train=True), *read_cifar10_split(self.folder, train=False))
