"""CAF single-cell RNA-seq (Bartoschek et al. 2018): RPKM of 557 genes for 716 cells, 4 clusters."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from litlab.data.classification import ClassificationDataModule
from litlab.data.readers.csv_table import read_csv_table, write_csv_table


class CAFDataModule(ClassificationDataModule):
    """Cells x genes RPKM joined to cluster labels by cell id; features log2(x + 1), labels 0..3."""

    # Clusters 1..4 in the paper's nomenclature: vascular, matrix, cycling, developmental CAFs.
    class_names = ("vCAF", "mCAF", "cCAF", "dCAF")
    MATRIX = "CAF_RPKM_716x557.csv"
    CLUSTERS = "CAF_cluster.csv"

    def __init__(self, data_dir: str, log_transform: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.folder = Path(data_dir) / "caf"
        self.log_transform = log_transform

    @classmethod
    def write_example_files(cls, data_dir: Path, seed: int = 0, cells: int = 80, genes: int = 557) -> None:
        """Small files in the real format, for tests and demos: the RPKM table (cell ids, a header of gene
        names) and the cluster table, listing the cells in another order. Cluster c has a large marker in
        gene c-1, so the classes can be learned."""
        rng = np.random.default_rng(seed)
        folder = Path(data_dir) / "caf"
        ids = [f"SS2_15_00{48 + i % 2}_{chr(65 + i % 16)}{i}" for i in range(cells)]
        clusters = np.arange(cells) % 4 + 1
        rpkm = rng.exponential(5.0, size=(cells, genes)) * (rng.random((cells, genes)) > 0.8)
        rpkm[:, :4] += 50.0 * (clusters[:, None] == np.arange(1, 5))
        rows = ([cell, *map(repr, row.tolist())] for cell, row in zip(ids, rpkm, strict=True))
        write_csv_table(folder / cls.MATRIX, rows, header=["cell", *(f"Gene{g}" for g in range(genes))])
        order = rng.permutation(cells)  # the real label file is in another order: labels join by id
        labels = ([str(n + 1), ids[i], int(clusters[i])] for n, i in enumerate(order))
        write_csv_table(folder / cls.CLUSTERS, labels, header=["", "Cells", "cluster"], quote_text=True)

    def prepare_data(self) -> None:
        missing = [
            self.folder / name for name in (self.MATRIX, self.CLUSTERS) if not (self.folder / name).exists()
        ]
        if missing:
            raise FileNotFoundError(
                f"CAF data missing: {', '.join(map(str, missing))}. There is no public URL for this pair; "
                f"place {self.MATRIX} (cells x genes RPKM, first column the cell id, header of gene names) "
                f"and {self.CLUSTERS} (columns Cells, cluster 1..4) in {self.folder}, or point "
                "LITLAB_DATA_DIR at a folder with caf/ in it. Source: GEO GSE111229 and the authors' "
                "repository KPLab/SCS_CAF (see the CAF PROVENANCE.md of the reference data sets)."
            )

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        self.prepare_data()
        matrix_path = self.folder / self.MATRIX
        matrix = read_csv_table(matrix_path, header=True, index_column=True)
        clusters = self.read_clusters(self.folder / self.CLUSTERS)
        cells = matrix.index
        if len(set(cells)) != len(cells):
            raise ValueError(f"{matrix_path}: cell ids repeat; each row must be a distinct cell")
        unlabelled = [c for c in cells if c not in clusters]
        unused = sorted(set(clusters) - set(cells))
        if unlabelled or unused:
            raise ValueError(
                f"CAF cell ids do not match between the two files: {len(unlabelled)} cells of {matrix_path} "
                f"have no cluster (e.g. {unlabelled[:3]}), {len(unused)} cells of "
                f"{self.folder / self.CLUSTERS} have no expression row (e.g. {unused[:3]}). "
                "Both files must describe the same cells; take them from the same release"
            )
        labels = np.array([clusters[c] for c in cells], dtype=np.int64) - 1  # clusters 1..4 -> 0..3
        k = len(self.class_names)
        outside = sorted({c + 1 for c in labels.tolist() if not 0 <= c < k})
        if outside:
            raise ValueError(
                f"{self.folder / self.CLUSTERS}: clusters {outside} lie outside 1..{k} "
                f"({', '.join(self.class_names)}); fix the file, or take both files from the same release"
            )
        features = matrix.values
        self.feature_names = tuple(matrix.header[1:])  # the gene names; the first cell heads the ids
        if (features < 0).any():
            raise ValueError(f"{matrix_path}: RPKM values must be >= 0, found {features.min():g}")
        return features, labels

    def transform(self, features: np.ndarray) -> np.ndarray:
        """log2(RPKM + 1): expression spans five orders of magnitude."""
        return np.log2(features + 1.0) if self.log_transform else features

    @staticmethod
    def read_clusters(path: Path) -> dict[str, int]:
        """Cell id -> cluster number, from the columns named `Cells` and `cluster`."""
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        header = rows[0] if rows else []
        if "Cells" not in header or "cluster" not in header:
            raise ValueError(f"{path}: needs a header with columns 'Cells' and 'cluster', found {header}")
        cell_col, cluster_col = header.index("Cells"), header.index("cluster")
        clusters: dict[str, int] = {}
        for n, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}: line {n} has {len(row)} cells, expected {len(header)}")
            try:
                clusters[row[cell_col]] = int(row[cluster_col])
            except ValueError:
                raise ValueError(
                    f"{path}: line {n}: cluster {row[cluster_col]!r} is not an integer 1..4"
                ) from None
        return clusters
