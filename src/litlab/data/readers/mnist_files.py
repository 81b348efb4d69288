"""The original MNIST IDX files in torchvision's layout (`<data_dir>/MNIST/raw/`), plain or gzipped."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from litlab.data.readers.download import download

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_GZ_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
# stem -> (URLs of `<stem>.gz`, tried in order; md5 of `<stem>.gz`), as torchvision has them.
MNIST_RESOURCES: dict[str, tuple[tuple[str, ...], str]] = {
    stem: (tuple(f"{mirror}{stem}.gz" for mirror in MNIST_MIRRORS), md5) for stem, md5 in _GZ_MD5.items()
}
IDX_UBYTE = 0x08
IMAGE_SIZE = (28, 28)
NUM_CLASSES = 10
_HINT = "or point LITLAB_DATA_DIR (paths.data_dir) at a folder that has MNIST/raw/ with them"


def mnist_stems(train: bool) -> tuple[str, str]:
    """The (images, labels) file stems of one split."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def find_idx(raw_dir: Path, stem: str) -> Path | None:
    """The uncompressed file `raw_dir/stem` if present, else `raw_dir/stem.gz`, else None."""
    for path in (Path(raw_dir) / stem, Path(raw_dir) / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def download_mnist(raw_dir: Path) -> None:
    """Fetch each of the four `.gz` files that is missing (neither plain nor gzipped) from the mirrors."""
    raw_dir = Path(raw_dir)
    for stem, (urls, md5) in MNIST_RESOURCES.items():
        if find_idx(raw_dir, stem) is not None:
            continue
        failures = []
        for url in urls:
            try:
                download(url, raw_dir / f"{stem}.gz", md5=md5)
                break
            except (FileNotFoundError, ValueError) as err:  # unreachable or corrupt mirror: try the next
                failures.append(f"  {url}: {err.__cause__ or err}")
        else:
            raise FileNotFoundError(
                f"{raw_dir / stem}.gz is missing and no mirror gave a good copy (md5 {md5}):\n"
                + "\n".join(failures)
                + f"\nDownload {stem}.gz on a machine with network access and place it (or its gunzipped "
                f"{stem}) in {raw_dir}, {_HINT}."
            )


def _read_bytes(path: Path) -> bytearray:
    # A bytearray, not bytes: the arrays built on it are writable, so torch.from_numpy takes them silently.
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return bytearray(f.read())
        return bytearray(path.read_bytes())
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(
            f"{path}: cannot be decompressed ({err}); the download is truncated or corrupt: "
            "delete it and download it again"
        ) from err


def read_idx(path: Path, *, ndim: int | None = None) -> np.ndarray:
    """Parse an unsigned-byte IDX file (gzipped if named .gz) into a uint8 array shaped by its header."""
    path = Path(path)
    data = _read_bytes(path)
    expected = f"0x{IDX_UBYTE << 8 | ndim:08x}" if ndim else "0x00000801 (labels) or 0x00000803 (images)"
    magic = f"0x{data[:4].hex()}" if data else "missing (the file is empty)"
    if len(data) < 4 or data[:3] != bytes([0, 0, IDX_UBYTE]) or data[3] == 0 or ndim not in (None, data[3]):
        raise ValueError(
            f"{path}: the magic number is {magic}, expected {expected} (unsigned-byte IDX data): "
            "this is not an MNIST IDX file of that kind; replace it with the original file"
        )
    header = 4 + 4 * data[3]
    if len(data) < header:
        raise ValueError(
            f"{path}: holds {len(data)} bytes, too few for its {header}-byte header: the file is "
            "truncated; delete it and download it again"
        )
    dims = struct.unpack(f">{data[3]}I", data[4:header])
    expected = header + math.prod(dims)
    if len(data) != expected:
        what = "decompressed bytes" if path.suffix == ".gz" else "bytes"
        raise ValueError(
            f"{path}: holds {len(data)} {what}, but its header (dimensions {list(dims)}) needs "
            f"{expected}: the file is {'truncated' if len(data) < expected else 'over-long'} or corrupt; "
            "delete it and download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: Path, array: np.ndarray, type_code: int = IDX_UBYTE) -> Path:
    """An IDX file: magic (0, 0, type, ndim), big-endian uint32 dims, then the bytes; gzipped if `.gz`.

    `type_code` other than unsigned byte only makes files that `read_idx` must refuse."""
    array = np.asarray(array)
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same arrays give the same bytes (and checksum) every time.
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def write_mnist_split(
    raw_dir: Path, images: np.ndarray, labels: np.ndarray, train: bool, gz: bool = False
) -> None:
    """One split's images (n, 28, 28) and labels (n,) under torchvision's file names in `raw_dir`."""
    for stem, array in zip(mnist_stems(train), (images, labels), strict=True):
        write_idx(Path(raw_dir) / (f"{stem}.gz" if gz else stem), array)


def read_mnist_split(raw_dir: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) int64 in 0..9 of the train or the test (t10k) split."""
    raw_dir = Path(raw_dir)
    stems = mnist_stems(train)
    paths = [find_idx(raw_dir, stem) for stem in stems]
    missing = [stem for stem, path in zip(stems, paths, strict=True) if path is None]
    if missing:
        raise FileNotFoundError(
            f"MNIST {'train' if train else 'test'} files missing: {', '.join(missing)} (plain or .gz) not in "
            f"{raw_dir}. Place the original IDX files there (torchvision's layout <data_dir>/MNIST/raw/), "
            f"let litlab download them, {_HINT}."
        )
    images_path, labels_path = paths
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != IMAGE_SIZE:
        raise ValueError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28; this is not "
            "MNIST: replace it with the original file"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"MNIST {'train' if train else 'test'} split: {len(images)} images in {images_path} but "
            f"{len(labels)} labels in {labels_path}; the two files must come from the same release: "
            "delete both and download them again"
        )
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise ValueError(
            f"{labels_path}: label {labels[bad[0]]} at index {bad[0]} lies outside 0..9 "
            f"({bad.size} such labels); the file is corrupt: delete it and download it again"
        )
    return images, labels.astype(np.int64)
