"""Writers of small data files in the real on-disk formats, for hermetic tests."""

from __future__ import annotations

import csv
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_diabetes(data_dir: Path, rows: int = 120, seed: int = 0) -> Path:
    """A diabetes.csv.gz like the course's: no header, 8 features in [-1, 1], then a 0/1 label."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(rows, 8))
    y = (x[:, :3].sum(axis=1) + 0.3 * rng.standard_normal(rows) > 0).astype(int)
    path = data_dir / "diabetes" / "diabetes.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(f"{v:g}" for v in row) + f",{label}" for row, label in zip(x, y, strict=True)]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_caf(data_dir: Path, cells: int = 80, genes: int = 557, seed: int = 0) -> Path:
    """The CAF pair: cells x genes RPKM (id column, gene header) and the Cells/cluster table."""
    rng = np.random.default_rng(seed)
    folder = data_dir / "caf"
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"SS2_15_00{48 + i % 2}_{chr(65 + i % 16)}{i}" for i in range(cells)]
    clusters = np.arange(cells) % 4 + 1
    rpkm = rng.exponential(5.0, size=(cells, genes)) * (rng.random((cells, genes)) > 0.8)
    rpkm[:, :4] += 50.0 * (clusters[:, None] == np.arange(1, 5))  # a marker gene per cluster
    with open(folder / "CAF_RPKM_716x557.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", *[f"Gene{g}" for g in range(genes)]])
        writer.writerows([cell, *map(repr, row.tolist())] for cell, row in zip(ids, rpkm, strict=True))
    order = rng.permutation(cells)  # the label file lists cells in another order: join by id
    with open(folder / "CAF_cluster.csv", "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(["", "Cells", "cluster"])
        writer.writerows([str(n + 1), ids[i], int(clusters[i])] for n, i in enumerate(order))
    return folder


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> Path:
    """An IDX file: magic (0, 0, type, ndim), big-endian uint32 dims, then the bytes; gzipped if `.gz`."""
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_mnist(
    raw_dir: Path, gz: bool = False, seed: int = 0, n_train: int = 20, n_test: int = 10
) -> dict[str, np.ndarray]:
    """Tiny MNIST: 28x28 images with labels cycling 0..9, in torchvision's file names."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = (np.arange(n) % 10).astype(np.uint8)
    for stem, array in arrays.items():
        write_idx(raw_dir / (f"{stem}.gz" if gz else stem), array)
    return arrays


def write_cifar_batch(path: Path, n: int = 4, seed: int = 0, labels: list[int] | None = None) -> np.ndarray:
    """A batch as the CIFAR-10 python version has it: protocol-2 pickle of a dict with bytes keys."""
    images = np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    batch = {
        b"batch_label": b"testing batch",
        b"labels": labels if labels is not None else [i % 10 for i in range(n)],
        b"data": images.reshape(n, 3072),  # channel-major rows: R plane, G plane, B plane
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return images


def write_cifar(data_dir: Path, n: int = 4) -> Path:
    """`data_dir/cifar-10-batches-py/` with five train batches, the test batch and batches.meta."""
    folder = data_dir / "cifar-10-batches-py"
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        write_cifar_batch(folder / name, n=n, seed=i)
    meta = {b"num_cases_per_batch": n, b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder
