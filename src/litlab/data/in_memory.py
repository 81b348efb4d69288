"""What every in-memory DataModule shares: named splits of tensors served as index-cut batches, and the
description of the data (shapes, classes, names) that sizes the model, saved in checkpoints."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from litlab.data.batches import TensorBatches

# What `describe()` needs, as saved by `state_dict()` (num_features is derived from input_shape).
DESCRIPTION_KEYS = ("input_shape", "num_classes", "class_names", "feature_names", "num_targets")


class InMemoryDataModule(L.LightningDataModule):
    """Serves `self.splits` ({"train", "val", "test"} -> (inputs, labels)), filled by a subclass's `setup`.

    `setup` also records what the data is (`describe()`); `state_dict()` carries that description and the
    fitted statistics a subclass names in `fitted_names()`, so a checkpoint alone can size the model and
    preprocess raw inputs.
    """

    # The data set's own class names, in label order, when it has them (a subclass or its config sets them).
    class_names: tuple[str, ...] = ()

    def __init__(self, batch_size: int | None, seed: int | None) -> None:
        super().__init__()
        self.batch_size = batch_size
        # seed: null means unseeded: draw one, so splits and shuffles still have a generator seed.
        self.seed = seed if seed is not None else random.randrange(2**32)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.description: dict[str, Any] | None = None

    def record_description(
        self,
        input_shape: Sequence[int],
        num_classes: int | None = None,
        class_names: Sequence[str] = (),
        feature_names: Sequence[str] = (),
        num_targets: int | None = None,
    ) -> None:
        """What `setup` found: a sample's shape, the classes (classification) or targets (regression)."""
        if feature_names and len(feature_names) != math.prod(input_shape):
            raise ValueError(
                f"{type(self).__name__}: {len(feature_names)} feature names for {math.prod(input_shape)} "
                "features; the data's header and its columns disagree"
            )
        self.description = {
            "input_shape": [int(v) for v in input_shape],
            "num_classes": None if num_classes is None else int(num_classes),
            "class_names": [str(name) for name in class_names],
            "feature_names": [str(name) for name in feature_names],
            "num_targets": None if num_targets is None else int(num_targets),
        }

    def describe(self) -> dict[str, Any]:
        """Plain values for the config's `from_data`: input_shape, num_features, num_classes (None for a
        regression), class_names, feature_names ([] when unknown), num_targets (None for a classification)."""
        if self.description is None:
            raise RuntimeError(
                f"{type(self).__name__}.describe(): the data is not described yet; call prepare_data() and "
                "setup() first, or load_state_dict() with the state saved in a checkpoint"
            )
        d = self.description
        return {
            "input_shape": list(d["input_shape"]),
            "num_features": math.prod(d["input_shape"]),
            "num_classes": d["num_classes"],
            "class_names": list(d["class_names"]),
            "feature_names": list(d["feature_names"]),
            "num_targets": d["num_targets"],
        }

    def fitted_names(self) -> tuple[str, ...]:
        """Attributes holding fitted statistics (such as "mean", "std"), saved with the description."""
        return ()

    def state_dict(self) -> dict[str, Any]:
        """The description and the fitted preprocessing, saved in checkpoints so raw inputs can be predicted
        without the data. Empty before `setup` (Lightning then saves nothing)."""
        if self.description is None:
            return {}
        return {**self.description, **{name: getattr(self, name) for name in self.fitted_names()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        missing = [key for key in (*DESCRIPTION_KEYS, *self.fitted_names()) if key not in state_dict]
        if missing:
            raise ValueError(
                f"the checkpoint lacks the data module's fitted state ({type(self).__name__}: no "
                f"{', '.join(missing)}): it was written by an older litlab or another data module. Train "
                "again with this version of litlab to get a checkpoint that predicts and evaluates on its own"
            )
        self.description = {key: state_dict[key] for key in DESCRIPTION_KEYS}
        for name in self.fitted_names():
            setattr(self, name, state_dict[name])

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

    def read_input(self, path: str | Path, header: bool | None = None) -> tuple[Any, dict[str, list] | None]:
        """Samples to predict from a file, as `preprocess` takes them (rows of raw features, or images),
        and the columns to copy into the predictions ({name: values}; none here)."""
        from litlab.data.readers.input_files import read_inputs

        return read_inputs(path, header=header), None

    def preprocess(self, raw: np.ndarray) -> torch.Tensor:
        """Raw feature rows -> the net's input (predict.py). Nothing is fitted or transformed here, so this
        only checks the width; modules with fitted preprocessing (standardisation, image statistics)
        extend it."""
        x = torch.as_tensor(np.ascontiguousarray(raw), dtype=torch.float32)
        width = self.describe()["num_features"]
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(
                f"{type(self).__name__}: expected rows of {width} features, got an array of shape "
                f"{tuple(x.shape)}; give one row per sample, features only (no label)"
            )
        return x
