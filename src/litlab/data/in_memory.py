"""What every in-memory DataModule shares: named splits of tensors served as index-cut batches."""

from __future__ import annotations

import lightning as L
import torch

from litlab.data.batches import TensorBatches


class InMemoryDataModule(L.LightningDataModule):
    """Serves `self.splits` ({"train", "val", "test"} -> (inputs, labels)), filled by a subclass's `setup`."""

    def __init__(self, batch_size: int | None, seed: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seed = seed
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def batches(self, split: str, shuffle: bool = False) -> TensorBatches:
        """Batches of one split; the training split is reshuffled every epoch from `seed`."""
        if not self.splits:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before asking for batches")
        x, y = self.splits[split]
        return TensorBatches(x, y, batch_size=self.batch_size, shuffle=shuffle, seed=self.seed)

    def train_dataloader(self) -> TensorBatches:
        return self.batches("train", shuffle=True)

    def val_dataloader(self) -> TensorBatches:
        return self.batches("val")

    def test_dataloader(self) -> TensorBatches:
        return self.batches("test")

    def predict_dataloader(self) -> TensorBatches:
        return self.batches("test")
