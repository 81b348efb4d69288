"""Breast cancer Wisconsin (diagnostic), scikit-learn's bundled copy: 569 x 30, 0 malignant / 1 benign."""

from __future__ import annotations

import numpy as np

from litlab.data.tensor_datamodule import TensorDataModule


class BreastCancerDataModule(TensorDataModule):
    """scikit-learn's `load_breast_cancer()`; works offline, no file needed."""

    class_names = ("malignant", "benign")

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import (
            load_breast_cancer,
        )  # deferred: importing sklearn takes a second

        features, labels = load_breast_cancer(return_X_y=True)
        return features, labels.astype(np.int64)
