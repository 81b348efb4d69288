"""Checked, atomic downloads: a file appears at its path only whole and with the right checksum."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from litlab.runtime.files import atomic_open

CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file's bytes."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, path: Path, *, sha256: str | None = None, md5: str | None = None) -> Path:
    """Fetch `url` to `path` through a temporary file, verify its checksum, then rename it into place."""
    path = Path(path)
    algorithm, expected = ("sha256", sha256) if sha256 else ("md5", md5)
    try:
        digest = hashlib.new(algorithm)
        with atomic_open(path, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
            if expected and digest.hexdigest() != expected.lower():
                raise ValueError(
                    f"checksum mismatch for {url}: {algorithm} is {digest.hexdigest()}, expected "
                    f"{expected}. The download is corrupt or the file changed upstream; nothing was "
                    f"written to {path}. Place a verified copy there yourself."
                )
    except (urllib.error.URLError, OSError) as err:
        raise FileNotFoundError(
            f"{path} is missing and could not be downloaded from {url} ({err}). "
            f"Download it on a machine with network access and place it at {path}, "
            "or point LITLAB_DATA_DIR (paths.data_dir) at a folder that has it."
        ) from err
    return path
