"""CIFAR-10 from the python version of its batches (no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litlab.data.image_datamodule import ImageDataModule
from litlab.data.readers.cifar_files import (
    CIFAR10_CLASSES,
    CIFAR10_FOLDER,
    CIFAR10_TEST,
    CIFAR10_TRAIN,
    download_cifar10,
    read_cifar10_classes,
    read_cifar10_split,
    write_cifar10_meta,
    write_cifar_batch,
)


class CIFAR10DataModule(ImageDataModule):
    """`<data_dir>/cifar-10-batches-py/`: 50000 + 10000 colour images of 32x32 in 10 classes."""

    # Known without reading a file, so checkpoints always name the classes; `load` checks the files agree.
    class_names = CIFAR10_CLASSES

    # CIFAR-10's own defaults: 5000 of the 50000 training images for validation, and random crop + flip
    # of the training batches, as CIFAR-10 is usually trained.
    def __init__(self, data_dir: str, val_fraction: float = 0.1, augment: bool = True, **kwargs) -> None:
        super().__init__(data_dir=data_dir, val_fraction=val_fraction, augment=augment, **kwargs)
        self.folder = Path(data_dir) / CIFAR10_FOLDER

    @classmethod
    def write_example_files(cls, data_dir: Path, seed: int = 0, n: int = 24) -> None:
        """Small files in the real format, for tests and demos: `cifar-10-batches-py/` with the five
        training batches and the test batch, `n` random 32x32 images each (labels cycling 0..9), and
        batches.meta."""
        folder = Path(data_dir) / CIFAR10_FOLDER
        for i, name in enumerate((*CIFAR10_TRAIN, *CIFAR10_TEST)):
            images = np.random.default_rng(seed + i).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
            write_cifar_batch(folder / name, images, [k % 10 for k in range(n)])
        write_cifar10_meta(folder, per_batch=n)

    def prepare_data(self) -> None:
        download_cifar10(Path(self.data_dir))

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.prepare_data()
        listed = tuple(read_cifar10_classes(self.folder))
        if listed != self.class_names:
            raise ValueError(
                f"{self.folder / 'batches.meta'} lists the classes {list(listed)}, but CIFAR-10's are "
                f"{list(self.class_names)} in this order; this is not CIFAR-10's python version: delete "
                f"{self.folder} and download it again"
            )
        return (*read_cifar10_split(self.folder, train=True), *read_cifar10_split(self.folder, train=False))
