"""Pima diabetes, the scaled copy of the PyTorchZeroToAll lectures: 8 features and a 0/1 label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litlab.data.classification import ClassificationDataModule
from litlab.data.readers.csv_table import read_csv_table, write_csv_table
from litlab.data.readers.download import download


class DiabetesDataModule(ClassificationDataModule):
    """`<data_dir>/diabetes/diabetes.csv.gz`: no header, 8 scaled features then the 0/1 label; label 0
    is named "diabetes" and 1 "no diabetes", an inference from the class sizes, not the source's word."""

    # The source never says what its labels mean. Its 263 zeros and 496 ones are the original Pima
    # data's 268 positive and 500 negative rows less the 9 rows this copy lacks (5 and 4), and no other
    # reading fits, so 0 is most likely "diabetes" and 1 "no diabetes": the opposite of UCI's Outcome
    # column (the reference copy's PROVENANCE.md). No feature names: the file has no header.
    class_names = ("diabetes", "no diabetes")

    URL = "https://raw.githubusercontent.com/hunkim/PyTorchZeroToAll/master/data/diabetes.csv.gz"
    SHA256 = "398214d0f6b7f4a722f598d8e424f28bc078abbd16ebdeea0f8e264492325aa4"

    def __init__(self, data_dir: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = self.file(data_dir)

    @staticmethod
    def file(data_dir: str | Path) -> Path:
        """Where the table lives under `data_dir`."""
        return Path(data_dir) / "diabetes" / "diabetes.csv.gz"

    @classmethod
    def write_example_files(cls, data_dir: Path, seed: int = 0, rows: int = 120) -> None:
        """Small files in the real format, for tests and demos: `rows` lines of 8 features in [-1, 1]
        (no header) and a 0/1 label that follows the first three features."""
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, size=(rows, 8))
        y = (x[:, :3].sum(axis=1) + 0.3 * rng.standard_normal(rows) > 0).astype(int)
        lines = ([*(f"{v:g}" for v in row), label] for row, label in zip(x, y.tolist(), strict=True))
        write_csv_table(cls.file(data_dir), lines)

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
