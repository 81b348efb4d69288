"""Breast cancer Wisconsin (diagnostic), scikit-learn's bundled copy: 569 x 30, 0 malignant / 1 benign."""

from __future__ import annotations

import numpy as np

from litlab.data.classification import ClassificationDataModule


class BreastCancerDataModule(ClassificationDataModule):
    """scikit-learn's `load_breast_cancer()`; works offline, no file needed."""

    class_names = ("malignant", "benign")

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_breast_cancer  # deferred: importing sklearn takes a second

        bunch = load_breast_cancer()
        self.feature_names = tuple(str(name) for name in bunch.feature_names)
        return bunch.data, bunch.target.astype(np.int64)
