"""MNIST IDX and CIFAR-10 python files: tiny copies in the real formats load; damaged or hostile ones fail."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from data_files import CIFAR_CLASSES as CLASSES
from data_files import write_cifar, write_cifar_batch, write_idx, write_mnist

from litlab.data import cifar_files, mnist_files
from litlab.data.cifar_files import (
    download_cifar10,
    read_cifar10_classes,
    read_cifar10_split,
    read_cifar_batch,
    safe_extract,
)
from litlab.data.mnist_files import download_mnist, find_idx, read_idx, read_mnist_split

STEMS = list(mnist_files.MNIST_RESOURCES)


def make_tarball(tar_path: Path, members: dict[str, bytes]) -> Path:
    """A .tar.gz holding `members` (name -> content) exactly as named, however hostile the name."""
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return tar_path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# MNIST


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_idx_files_load(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    assert find_idx(tmp_path, STEMS[0]).name == STEMS[0] + (".gz" if gz else "")
    for train, n in ((True, 20), (False, 10)):
        images, labels = read_mnist_split(tmp_path, train=train)
        prefix = "train" if train else "t10k"
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8 and images.flags.writeable
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert (images == arrays[f"{prefix}-images-idx3-ubyte"]).all()
        assert (labels == arrays[f"{prefix}-labels-idx1-ubyte"]).all()


def test_find_idx_prefers_the_uncompressed_file(tmp_path):
    write_mnist(tmp_path, gz=True)
    write_mnist(tmp_path, gz=False)
    assert find_idx(tmp_path, STEMS[0]) == tmp_path / STEMS[0]
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
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels, type_code=type_code)
    with pytest.raises(ValueError, match=match + r".*not an MNIST IDX file"):
        read_mnist_split(tmp_path, train=True)
    (tmp_path / "junk").write_bytes(b"PK\x03\x04zip")
    with pytest.raises(ValueError, match=r"magic number is 0x504b0304, expected 0x00000801 \(labels\) or"):
        read_idx(tmp_path / "junk")


def test_image_and_label_counts_must_agree(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(19))
    with pytest.raises(ValueError, match=r"20 images in .*train-images-idx3-ubyte but 19 labels in .*labels"):
        read_mnist_split(tmp_path, train=True)


def test_mnist_labels_outside_0_to_9(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 10, 4, 5, 6, 7, 8, 9]))
    with pytest.raises(ValueError, match=r"label 10 at index 3 lies outside 0..9"):
        read_mnist_split(tmp_path, train=False)


def test_missing_mnist_files_say_what_to_place_where(tmp_path):
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(10))
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte \(plain or .gz\) not in") as err:
        read_mnist_split(tmp_path, train=False)
    assert str(tmp_path) in str(err.value) and "LITLAB_DATA_DIR" in str(err.value)


def mnist_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, md5s: dict[str, str] | None = None) -> Path:
    """Serve a tiny MNIST from a file:// mirror, after a first mirror that does not exist."""
    mirror = tmp_path / "mirror"
    write_mnist(mirror, gz=True)
    resources = {
        stem: (
            ((tmp_path / "down" / f"{stem}.gz").as_uri(), (mirror / f"{stem}.gz").as_uri()),
            (md5s or {}).get(stem, md5(mirror / f"{stem}.gz")),
        )
        for stem in STEMS
    }
    monkeypatch.setattr(mnist_files, "MNIST_RESOURCES", resources)
    return mirror


def test_mnist_download_falls_back_to_the_next_mirror(tmp_path, monkeypatch):
    mirror = mnist_mirror(tmp_path, monkeypatch)
    raw = tmp_path / "data" / "MNIST" / "raw"
    write_idx(raw / STEMS[0], np.zeros((20, 28, 28)))  # present already: kept, not fetched
    download_mnist(raw)
    assert sorted(p.name for p in raw.iterdir()) == sorted([STEMS[0], *(f"{s}.gz" for s in STEMS[1:])])
    assert (raw / f"{STEMS[1]}.gz").read_bytes() == (mirror / f"{STEMS[1]}.gz").read_bytes()
    images, labels = read_mnist_split(raw, train=False)
    assert images.shape == (10, 28, 28) and labels.tolist() == list(range(10))


def test_mnist_download_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    mnist_mirror(tmp_path, monkeypatch, md5s={stem: "0" * 32 for stem in STEMS})
    raw = tmp_path / "data" / "MNIST" / "raw"
    with pytest.raises(FileNotFoundError, match=r"no mirror gave a good copy") as err:
        download_mnist(raw)
    message = str(err.value)
    assert "checksum mismatch" in message and "expected 0000" in message and "down/" in message
    assert f"place it (or its gunzipped {STEMS[0]}) in {raw}" in message
    assert list(raw.iterdir()) == []


# CIFAR-10


def test_cifar_batch_loads_channel_major(tmp_path):
    images = write_cifar_batch(tmp_path / "data_batch_1", n=6)
    x, y = read_cifar_batch(tmp_path / "data_batch_1")
    assert x.shape == (6, 3, 32, 32) and x.dtype == np.uint8 and (x == images).all()
    assert y.dtype == np.int64 and y.tolist() == list(range(6))
    # Pixel (row 1, col 2) of the green plane sits at 1024 + 32 + 2 in the raw row.
    raw = pickle.loads((tmp_path / "data_batch_1").read_bytes())[b"data"]
    assert x[0, 1, 1, 2] == raw[0, 1024 + 32 + 2]


def test_cifar_pickles_naming_numpy_core_still_load(tmp_path):
    path = tmp_path / "test_batch"
    images = write_cifar_batch(path)
    # Pickles written by numpy 1 (and Python 2) name numpy.core.multiarray; numpy 2 renamed it.
    path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, _ = read_cifar_batch(path)
    assert (x == images).all()


def test_cifar_labels_outside_0_to_9(tmp_path):
    write_cifar_batch(tmp_path / "data_batch_1", n=4, labels=[0, 1, -1, 3])
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


@pytest.fixture
def cifar_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A good cifar-10-python.tar.gz served from a file:// URL (module constants patched)."""
    write_cifar(tmp_path / "src")
    tar_path = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    tar_path.parent.mkdir()
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(cifar_files, "CIFAR10_URL", tar_path.as_uri())
    monkeypatch.setattr(cifar_files, "CIFAR10_MD5", md5(tar_path))
    return tar_path


def test_cifar_download_extracts_and_reads(tmp_path, cifar_tarball):
    data_dir = tmp_path / "data"
    download_cifar10(data_dir)
    assert [p.name for p in data_dir.iterdir()] == ["cifar-10-batches-py"]  # tarball and temp folder gone
    x, y = read_cifar10_split(data_dir / "cifar-10-batches-py", train=True)
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,)
    assert read_cifar10_classes(data_dir / "cifar-10-batches-py") == CLASSES
    download_cifar10(data_dir)  # everything there: a no-op, even with the URL gone
    cifar_tarball.unlink()
    download_cifar10(data_dir)


def test_cifar_download_checksum_mismatch_leaves_nothing(tmp_path, cifar_tarball, monkeypatch):
    monkeypatch.setattr(cifar_files, "CIFAR10_MD5", "0" * 32)
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError, match=r"checksum mismatch.*expected 0{32}"):
        download_cifar10(data_dir)
    assert list(data_dir.iterdir()) == []


def test_cifar_tarball_placed_by_hand_is_used(tmp_path, cifar_tarball, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cifar-10-python.tar.gz").write_bytes(cifar_tarball.read_bytes())
    monkeypatch.setattr(cifar_files, "CIFAR10_URL", (tmp_path / "offline.tar.gz").as_uri())
    download_cifar10(data_dir)
    assert read_cifar10_split(data_dir / "cifar-10-batches-py", train=False)[1].shape == (4,)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("cifar-10-batches-py/../../evil.txt", r"'cifar-10-batches-py/../../evil.txt' has a '..' component"),
        ("/tmp/litlab-evil.txt", r"'/tmp/litlab-evil.txt' has an absolute path"),
    ],
    ids=["dotdot", "absolute"],
)
def test_hostile_tar_members_are_refused_before_anything_is_extracted(tmp_path, name, match):
    good = {"cifar-10-batches-py/batches.meta": b"fine"}
    tar_path = make_tarball(tmp_path / "evil.tar.gz", {**good, name: b"evil"})
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ValueError, match=match + r"; refusing to extract anything"):
        safe_extract(tar_path, target)
    assert list(target.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_tar_links_are_refused(tmp_path):
    tar_path = tmp_path / "links.tar"
    with tarfile.open(tar_path, "w") as tar:
        link = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ValueError, match=r"'cifar-10-batches-py/data_batch_1' is a link, device"):
        safe_extract(tar_path, tmp_path / "target")
    assert not (tmp_path / "target").exists()
