"""What every in-memory DataModule shares: named splits of tensors served as index-cut batches."""

from __future__ import annotations

import random

import lightning as L
import torch

from litlab.data.batches import TensorBatches


class InMemoryDataModule(L.LightningDataModule):
    """Serves `self.splits` ({"train", "val", "test"} -> (inputs, labels)), filled by a subclass's `setup`."""

    def __init__(self, batch_size: int | None, seed: int | None) -> None:
        super().__init__()
        self.batch_size = batch_size
        # seed: null means unseeded: draw one, so splits and shuffles still have a generator seed.
        self.seed = seed if seed is not None else random.randrange(2**32)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def batches(self, split: str, shuffle: bool = False) -> TensorBatches:
        """Batches of one split; the training split is reshuffled every epoch from `seed`."""
        if not self.splits:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before asking for batches")
        x, y = self.splits[split]
        return TensorBatches(x, y, batch_size=self.batch_size, shuffle=shuffle, seed=self.seed)

    def train_dataloader(self) -> TensorBatches:
        # overfit_batches must see the same batches every epoch; Lightning cannot unshuffle these.
        overfitting = bool(getattr(self.trainer, "overfit_batches", 0))
        return self.batches("train", shuffle=not overfitting)

    def val_dataloader(self) -> TensorBatches:
        return self.batches("val")

    def test_dataloader(self) -> TensorBatches:
        return self.batches("test")

    def predict_dataloader(self) -> TensorBatches:
        return self.batches("test")
