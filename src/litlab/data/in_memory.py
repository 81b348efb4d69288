"""What every in-memory DataModule shares: named splits of tensors served as index-cut batches."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
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
        """This process's batches of one split; the training split is reshuffled every epoch from `seed`.

        `batch_size` is per process: under DDP each of the world_size processes takes its own share of
        the samples, so one optimizer step sees batch_size x devices x num_nodes samples.
        """
        if not self.splits:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before asking for batches")
        x, y = self.splits[split]
        rank, world_size = getattr(self.trainer, "global_rank", 0), getattr(self.trainer, "world_size", 1)
        return TensorBatches(
            x, y, batch_size=self.batch_size, shuffle=shuffle, seed=self.seed,
            rank=rank, world_size=world_size, epoch_source=lambda: getattr(self.trainer, "current_epoch", 0),
        )  # fmt: skip

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

    def preprocess(self, raw: np.ndarray) -> torch.Tensor:
        """Raw feature rows -> the net's input (predict.py). Nothing is fitted or transformed here, so this
        only checks the width; modules with fitted preprocessing (standardisation, image statistics)
        extend it."""
        x = torch.as_tensor(np.ascontiguousarray(raw), dtype=torch.float32)
        width = getattr(self, "num_features", None)
        if x.ndim != 2 or (width is not None and x.shape[1] != width):
            raise ValueError(
                f"{type(self).__name__}: expected rows of {width} features, got an array of shape "
                f"{tuple(x.shape)}; give one row per sample, features only (no label)"
            )
        return x
