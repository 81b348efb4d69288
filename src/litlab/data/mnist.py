"""MNIST handwritten digits from the original IDX files (torchvision's layout, no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litlab.data.image_datamodule import ImageDataModule
from litlab.data.mnist_files import download_mnist, read_mnist_split


class MNISTDataModule(ImageDataModule):
    """`<data_dir>/MNIST/raw/{train,t10k}-*-ubyte[.gz]`: 60000 + 10000 images of 28x28, digits 0..9."""

    class_names = tuple(str(digit) for digit in range(10))

    def __init__(self, data_dir: str, image_shape=(1, 28, 28), num_classes: int = 10, **kwargs) -> None:
        super().__init__(data_dir=data_dir, image_shape=image_shape, num_classes=num_classes, **kwargs)
        self.raw_dir = Path(data_dir) / "MNIST" / "raw"

    def prepare_data(self) -> None:
        download_mnist(self.raw_dir)

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.prepare_data()
        train_x, train_y = read_mnist_split(self.raw_dir, train=True)
        test_x, test_y = read_mnist_split(self.raw_dir, train=False)
        return train_x[:, None], train_y, test_x[:, None], test_y  # add the channel axis
