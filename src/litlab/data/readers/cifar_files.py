"""CIFAR-10, python version: `<data_dir>/cifar-10-batches-py/`, read with a restricted unpickler."""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from litlab.data.readers.download import download, file_digest

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
CIFAR10_META = "batches.meta"
# The ten classes in label order, as batches.meta lists them.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NUM_CLASSES = len(CIFAR10_CLASSES)
_HINT = "or point LITLAB_DATA_DIR (paths.data_dir) at a folder that has cifar-10-batches-py/"

# All a batch needs to rebuild its uint8 array. `_codecs.encode` is how Python 3 writes bytes at protocol 2.
_ALLOWED_GLOBALS = {
    *((f"numpy.{c}.multiarray", name) for c in ("core", "_core") for name in ("_reconstruct", "scalar")),
    *(("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")),
}


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global outside the few that CIFAR-10 batches need; nothing was called."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise ForbiddenGlobalError(f"{module}.{name}")
        # numpy 2 renamed numpy.core to numpy._core; old pickles name numpy.core, a shim that may go.
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="bytes").load()
    except ForbiddenGlobalError as err:
        raise ValueError(
            f"{path}: the pickle refers to {err}, which a CIFAR-10 file never needs; refused without "
            f"loading it (nothing in it ran). Delete {path.parent} and download CIFAR-10 again"
        ) from None
    except OSError:
        raise
    except Exception as err:  # a damaged pickle can fail with almost any exception type
        raise ValueError(
            f"{path}: cannot be unpickled ({type(err).__name__}: {err}); the file is truncated or corrupt: "
            f"delete {path.parent} and download CIFAR-10 again"
        ) from err


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images (N, 3, 32, 32) uint8 and labels (N,) int64 in 0..9."""
    path = Path(path)
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch, key=repr) if isinstance(batch, dict) else None
        raise ValueError(
            f"{path}: holds a {type(batch).__name__} (keys {keys}), expected a dict with keys b'data' and "
            f"b'labels'; this is not a CIFAR-10 python batch: delete {path.parent} and download it again"
        )
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        seen = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise ValueError(
            f"{path}: b'data' is a {seen}, expected a uint8 array of shape (N, 3072); "
            f"delete {path.parent} and download CIFAR-10 again"
        )
    try:
        labels = np.asarray(batch[b"labels"])
    except (TypeError, ValueError, OverflowError):  # ragged or exotic content
        labels = np.asarray(None)
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: b'labels' is a {type(batch[b'labels']).__name__} of {labels.dtype} values, expected a "
            f"list of integers; delete {path.parent} and download CIFAR-10 again"
        )
    labels = labels.astype(np.int64)
    if labels.shape != (len(data),):
        raise ValueError(
            f"{path}: {len(data)} images but b'labels' has shape {labels.shape}, expected ({len(data)},); "
            f"delete {path.parent} and download CIFAR-10 again"
        )
    bad = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if bad.size:
        raise ValueError(
            f"{path}: label {labels[bad[0]]} at index {bad[0]} lies outside 0..9 ({bad.size} such labels); "
            f"the file is corrupt: delete {path.parent} and download CIFAR-10 again"
        )
    # Each row is channel-major: 1024 red, then 1024 green, then 1024 blue values, each row by row.
    return data.reshape(len(data), 3, 32, 32), labels


def _require(folder: Path, names: tuple[str, ...], what: str) -> None:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 {what} missing: {', '.join(missing)} not in {folder}. Place the python version there "
            f"(extract {CIFAR10_URL} into {folder.parent}), let litlab download it, {_HINT}."
        )


def read_cifar10_split(folder: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """The train (data_batch_1..5) or test (test_batch) split of `folder`, batches concatenated in order."""
    folder = Path(folder)
    names = CIFAR10_TRAIN if train else CIFAR10_TEST
    _require(folder, names, "train batches" if train else "test batch")
    batches = [read_cifar_batch(folder / name) for name in names]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def read_cifar10_classes(folder: Path) -> list[str]:
    """The ten class names, in label order, from `batches.meta`."""
    path = Path(folder) / CIFAR10_META
    _require(Path(folder), (CIFAR10_META,), "metadata")
    meta = _unpickle(path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    listed = isinstance(names, list) and len(names) == NUM_CLASSES
    if not listed or not all(isinstance(name, bytes) for name in names):
        raise ValueError(
            f"{path}: expected a dict whose b'label_names' lists {NUM_CLASSES} names, found {names!r}; "
            f"delete {path.parent} and download CIFAR-10 again"
        )
    return [name.decode("utf-8") for name in names]


def write_cifar_batch(path: Path, images: np.ndarray, labels: Sequence[int]) -> None:
    """A batch file as the python version has it: a protocol-2 pickle of a dict with bytes keys."""
    images = np.asarray(images, dtype=np.uint8)
    batch = {
        b"batch_label": Path(path).name.encode(),
        b"labels": [int(label) for label in labels],
        b"data": images.reshape(len(images), 3072),  # channel-major rows: R plane, G plane, B plane
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(pickle.dumps(batch, protocol=2))


def write_cifar10_meta(folder: Path, per_batch: int, class_names: Sequence[str] = CIFAR10_CLASSES) -> None:
    """`batches.meta`: the class names in label order, as the python version has it."""
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [c.encode() for c in class_names],
            b"num_vis": 3072}  # fmt: skip
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / CIFAR10_META).write_bytes(pickle.dumps(meta, protocol=2))


def download_cifar10(data_dir: Path) -> None:
    """Fetch and unpack the tarball into `<data_dir>/cifar-10-batches-py/` unless all files are there."""
    data_dir = Path(data_dir)
    folder = data_dir / CIFAR10_FOLDER
    if all((folder / name).is_file() for name in (*CIFAR10_TRAIN, *CIFAR10_TEST, CIFAR10_META)):
        return
    tar_path = data_dir / "cifar-10-python.tar.gz"
    if tar_path.is_file():  # placed by hand, as the download error says to do offline
        md5 = file_digest(tar_path, "md5")
        if md5 != CIFAR10_MD5:
            raise ValueError(
                f"{tar_path}: md5 is {md5}, expected {CIFAR10_MD5}; the file is corrupt or not the "
                f"CIFAR-10 python version: delete it and download {CIFAR10_URL} again"
            )
    else:
        try:
            download(CIFAR10_URL, tar_path, md5=CIFAR10_MD5)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err} Or extract it yourself into {data_dir}.") from err.__cause__
    safe_extract(tar_path, data_dir)
    tar_path.unlink()


def _refusal(member: tarfile.TarInfo, root: Path) -> str | None:
    name = member.name
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive:
        return "has an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "has a '..' component"
    if not (member.isreg() or member.isdir()):
        return "is a link, device or other special file, not a regular file or folder"
    # Lexical, as the names land in a fresh folder: a symlinked data folder of the user's is not an escape.
    if not Path(os.path.normpath(root / name)).is_relative_to(root):
        return f"resolves outside {root}"
    return None


def safe_extract(tar_path: Path, target: Path) -> None:
    """Extract `tar_path` into `target` only if every member is a regular file or folder landing inside it."""
    tar_path, target = Path(tar_path), Path(target)
    root = Path(os.path.abspath(target))
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                reason = _refusal(member, root)
                if reason:
                    raise ValueError(
                        f"{tar_path}: member {member.name!r} {reason}; refusing to extract anything from "
                        "this tarball. Delete it and fetch a good copy"
                    )
            target.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=target, prefix=".extract-"))
            try:
                # The 'data' filter (3.11.4+) re-checks what we checked and drops setuid and device bits.
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **extra)
                _move_tree(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise ValueError(
            f"{tar_path}: cannot be read as a tarball ({err}); it is truncated or corrupt: "
            "delete it and download it again"
        ) from err


def _move_tree(source: Path, target: Path) -> None:
    # Each file is renamed into place whole; files already in `target` under other names are kept.
    for folder, _, files in os.walk(source):
        destination = target / Path(folder).relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.replace(Path(folder) / name, destination / name)
