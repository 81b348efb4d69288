"""MNIST handwritten digits from the original IDX files (torchvision's layout, no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litlab.data.image_datamodule import ImageDataModule
from litlab.data.readers.mnist_files import download_mnist, read_mnist_split, write_mnist_split


class MNISTDataModule(ImageDataModule):
    """`<data_dir>/MNIST/raw/{train,t10k}-*-ubyte[.gz]`: 60000 + 10000 images of 28x28, digits 0..9."""

    class_names = tuple(str(digit) for digit in range(10))
    RAW = Path("MNIST") / "raw"

    # The usual 55000/5000 split of the 60000 training images (the test set is t10k).
    def __init__(self, data_dir: str, val_fraction: float = 5000 / 60000, **kwargs) -> None:
        super().__init__(data_dir=data_dir, val_fraction=val_fraction, **kwargs)
        self.raw_dir = Path(data_dir) / self.RAW

    @classmethod
    def write_example_files(
        cls, data_dir: Path, seed: int = 0, n_train: int = 120, n_test: int = 30, gz: bool = False
    ) -> None:
        """Small files in the real format, for tests and demos: random 28x28 images with labels cycling
        0..9, in `MNIST/raw/` under torchvision's names (gzipped if `gz`)."""
        rng = np.random.default_rng(seed)
        for train, n in ((True, n_train), (False, n_test)):
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            labels = (np.arange(n) % 10).astype(np.uint8)
            write_mnist_split(Path(data_dir) / cls.RAW, images, labels, train=train, gz=gz)

    def prepare_data(self) -> None:
        download_mnist(self.raw_dir)

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.prepare_data()
        train_x, train_y = read_mnist_split(self.raw_dir, train=True)
        test_x, test_y = read_mnist_split(self.raw_dir, train=False)
        return train_x[:, None], train_y, test_x[:, None], test_y  # add the channel axis
