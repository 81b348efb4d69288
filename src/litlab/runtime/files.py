"""Files that appear whole or not at all: written to a temporary name beside the target, then renamed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", fsync: bool = False) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; on success it is renamed onto `path`.

    The temporary file is created with mode 0o666 through the process umask, as a plain open() would
    (no umask juggling: that is process-wide and races other threads' file creation). A failure, or a
    kill before the rename, leaves `path` as it was and removes the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that readers never see half a file."""
    with atomic_open(path) as f:
        f.write(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (see atomic_open)."""
    with atomic_open(path, "wb") as f:
        f.write(data)
