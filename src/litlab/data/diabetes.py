"""Pima diabetes, the scaled copy of the PyTorchZeroToAll lectures: 8 features and a 0/1 label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litlab.data.csv_table import read_csv_table
from litlab.data.download import download
from litlab.data.tensor_datamodule import TensorDataModule


class DiabetesDataModule(TensorDataModule):
    """`<data_dir>/diabetes/diabetes.csv.gz`: no header, 8 scaled features then the 0/1 label."""

    # No class names: this copy codes the larger class 1, most likely "no diabetes", the opposite of
    # the UCI Outcome column (see the data set's PROVENANCE.md); reports say 0 and 1.

    URL = "https://raw.githubusercontent.com/hunkim/PyTorchZeroToAll/master/data/diabetes.csv.gz"
    SHA256 = "398214d0f6b7f4a722f598d8e424f28bc078abbd16ebdeea0f8e264492325aa4"

    def __init__(self, data_dir: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = Path(data_dir) / "diabetes" / "diabetes.csv.gz"

    def prepare_data(self) -> None:
        if not self.path.exists():
            download(self.URL, self.path, sha256=self.SHA256)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.path.exists():
            self.prepare_data()
        table = read_csv_table(self.path).values
        labels = table[:, -1]
        bad = labels[(labels != 0) & (labels != 1)]
        if bad.size:
            row = int(np.flatnonzero((labels != 0) & (labels != 1))[0]) + 1
            raise ValueError(
                f"{self.path}: the label column (last) must be 0 or 1, but line {row} has {bad[0]:g}; "
                "fix the file or replace it with the course's copy"
            )
        return table[:, :-1], labels.astype(np.int64)
