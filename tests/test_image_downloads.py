"""Checked downloads of the image data sets: MNIST's mirrors, CIFAR-10's tarball and its safe extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from litlab.data import CIFAR10DataModule, MNISTDataModule
from litlab.data.readers import cifar_files, mnist_files
from litlab.data.readers.cifar_files import (
    CIFAR10_CLASSES,
    download_cifar10,
    read_cifar10_classes,
    read_cifar10_split,
    safe_extract,
)
from litlab.data.readers.mnist_files import download_mnist, read_mnist_split, write_idx

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
    """Hex md5 of a file's bytes."""
    return hashlib.md5(path.read_bytes()).hexdigest()


# MNIST


def mnist_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, md5s: dict[str, str] | None = None) -> Path:
    """Serve a tiny MNIST from a file:// mirror, after a first mirror that does not exist."""
    MNISTDataModule.write_example_files(tmp_path / "mirror", n_train=20, n_test=10, gz=True)
    mirror = tmp_path / "mirror" / MNISTDataModule.RAW
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


@pytest.fixture
def cifar_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A good cifar-10-python.tar.gz served from a file:// URL (module constants patched)."""
    CIFAR10DataModule.write_example_files(tmp_path / "src", n=4)
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
    assert read_cifar10_classes(data_dir / "cifar-10-batches-py") == list(CIFAR10_CLASSES)
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
