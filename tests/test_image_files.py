"""MNIST IDX and CIFAR-10 python files: tiny copies in the real formats load; damaged or hostile ones fail."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from litlab.data import CIFAR10DataModule, MNISTDataModule
from litlab.data.readers import cifar_files, mnist_files
from litlab.data.readers.cifar_files import (
    read_cifar10_split,
    read_cifar_batch,
    write_cifar_batch,
)
from litlab.data.readers.mnist_files import (
    find_idx,
    read_idx,
    read_mnist_split,
    write_idx,
    write_mnist_split,
)

STEMS = list(mnist_files.MNIST_RESOURCES)


def write_mnist(data_dir: Path, gz: bool = False) -> Path:
    """The data module's example MNIST, 20 training and 10 test images, under `data_dir`; its raw folder."""
    MNISTDataModule.write_example_files(data_dir, n_train=20, n_test=10, gz=gz)
    return data_dir / MNISTDataModule.RAW


def write_cifar(data_dir: Path) -> Path:
    """The data module's example CIFAR-10, 4 images a batch, under `data_dir`; its folder."""
    CIFAR10DataModule.write_example_files(data_dir, n=4)
    return data_dir / cifar_files.CIFAR10_FOLDER


def write_batch(path: Path, n: int = 4, labels: list[int] | None = None) -> np.ndarray:
    """A CIFAR-10 batch file of `n` random images (labels 0, 1, ... unless given); the images."""
    images = np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    write_cifar_batch(path, images, labels if labels is not None else list(range(n)))
    return images


# MNIST


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_idx_files_load(tmp_path, gz):
    rng = np.random.default_rng(0)
    written = {
        train: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
        for train, n in ((True, 20), (False, 10))
    }
    for train, (images, labels) in written.items():
        write_mnist_split(tmp_path, images, labels, train=train, gz=gz)
    assert find_idx(tmp_path, STEMS[0]).name == STEMS[0] + (".gz" if gz else "")
    for train, n in ((True, 20), (False, 10)):
        images, labels = read_mnist_split(tmp_path, train=train)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8 and images.flags.writeable
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert (images == written[train][0]).all() and (labels == written[train][1]).all()


def test_find_idx_prefers_the_uncompressed_file(tmp_path):
    write_mnist(tmp_path, gz=True)
    raw = write_mnist(tmp_path, gz=False)
    assert find_idx(raw, STEMS[0]) == raw / STEMS[0]
    assert find_idx(tmp_path / "nowhere", STEMS[0]) is None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda b: b[:-5], r"holds 15691 bytes, but its header \(dimensions \[20, 28, 28\]\) needs 15696"),
        (lambda b: b + b"\0", r"holds 15697 bytes.*needs 15696: the file is over-long"),
        (lambda b: b[:10], r"holds 10 bytes, too few for its 16-byte header"),
    ],
    ids=["truncated", "over-long", "header-cut"],
)
def test_idx_of_the_wrong_size_is_refused(tmp_path, change, match):
    path = write_idx(tmp_path / STEMS[0], np.zeros((20, 28, 28), np.uint8))
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(ValueError, match=match + r".*delete it and download it again"):
        read_idx(path)


def test_truncated_gzip_is_refused(tmp_path):
    path = write_idx(tmp_path / f"{STEMS[0]}.gz", np.zeros((20, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"cannot be decompressed.*truncated or corrupt.*delete it"):
        read_idx(path)


@pytest.mark.parametrize(
    ("labels", "type_code", "match"),
    [
        (np.zeros(20), 0x0D, r"magic number is 0x00000d01, expected 0x00000801"),  # float32 type code
        (np.zeros((20, 28, 28)), 0x08, r"magic number is 0x00000803, expected 0x00000801"),  # images file
    ],
    ids=["float-type", "images-as-labels"],
)
def test_wrong_magic_number_is_refused(tmp_path, labels, type_code, match):
    raw = write_mnist(tmp_path)
    write_idx(raw / "train-labels-idx1-ubyte", labels, type_code=type_code)
    with pytest.raises(ValueError, match=match + r".*not an MNIST IDX file"):
        read_mnist_split(raw, train=True)
    (tmp_path / "junk").write_bytes(b"PK\x03\x04zip")
    with pytest.raises(ValueError, match=r"magic number is 0x504b0304, expected 0x00000801 \(labels\) or"):
        read_idx(tmp_path / "junk")


def test_image_and_label_counts_must_agree(tmp_path):
    raw = write_mnist(tmp_path)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(19))
    with pytest.raises(ValueError, match=r"20 images in .*train-images-idx3-ubyte but 19 labels in .*labels"):
        read_mnist_split(raw, train=True)


def test_mnist_labels_outside_0_to_9(tmp_path):
    raw = write_mnist(tmp_path)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 10, 4, 5, 6, 7, 8, 9]))
    with pytest.raises(ValueError, match=r"label 10 at index 3 lies outside 0..9"):
        read_mnist_split(raw, train=False)


def test_missing_mnist_files_say_what_to_place_where(tmp_path):
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(10))
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte \(plain or .gz\) not in") as err:
        read_mnist_split(tmp_path, train=False)
    assert str(tmp_path) in str(err.value) and "LITLAB_DATA_DIR" in str(err.value)


# CIFAR-10


def test_cifar_batch_loads_channel_major(tmp_path):
    images = write_batch(tmp_path / "data_batch_1", n=6)
    x, y = read_cifar_batch(tmp_path / "data_batch_1")
    assert x.shape == (6, 3, 32, 32) and x.dtype == np.uint8 and (x == images).all()
    assert y.dtype == np.int64 and y.tolist() == list(range(6))
    # Pixel (row 1, col 2) of the green plane sits at 1024 + 32 + 2 in the raw row.
    raw = pickle.loads((tmp_path / "data_batch_1").read_bytes())[b"data"]
    assert x[0, 1, 1, 2] == raw[0, 1024 + 32 + 2]


def test_cifar_pickles_naming_numpy_core_still_load(tmp_path):
    path = tmp_path / "test_batch"
    images = write_batch(path)
    # Pickles written by numpy 1 (and Python 2) name numpy.core.multiarray; numpy 2 renamed it.
    path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, _ = read_cifar_batch(path)
    assert (x == images).all()


def test_cifar_labels_outside_0_to_9(tmp_path):
    write_batch(tmp_path / "data_batch_1", labels=[0, 1, -1, 3])
    with pytest.raises(ValueError, match=r"label -1 at index 2 lies outside 0..9.*delete"):
        read_cifar_batch(tmp_path / "data_batch_1")


def test_cifar_wrong_content_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((4, 1024), np.uint8), b"labels": [0] * 4}, protocol=2))
    with pytest.raises(ValueError, match=r"b'data' is a uint8 array of shape \(4, 1024\), expected"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps({"data": 1}, protocol=2))
    with pytest.raises(ValueError, match=r"holds a dict \(keys \['data'\]\), expected a dict with"):
        read_cifar_batch(path)


def test_corrupt_cifar_pickle_is_refused(tmp_path):
    folder = write_cifar(tmp_path)
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"data_batch_3: cannot be unpickled.*truncated or corrupt") as err:
        read_cifar10_split(folder, train=True)
    assert f"delete {folder} and download CIFAR-10 again" in str(err.value)


class Exploit:
    """Pickles to a call of os.system, the classic hostile pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_with_a_forbidden_global_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Exploit(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match=r"refers to (posix|nt|os)\.system.*refused without loading it"):
        read_cifar_batch(path)
    assert not marker.exists()


def test_missing_cifar_files_say_what_to_place_where(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_4 not in .*Place the python version there"):
        read_cifar10_split(folder, train=True)
    assert read_cifar10_split(folder, train=False)[0].shape == (4, 3, 32, 32)
