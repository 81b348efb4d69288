"""What a finished run leaves in its directory: metrics.json and the resolved config."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def publish(tmp: str | Path, path: Path) -> None:
    """Rename a finished temporary file into place with the permissions a plain open() would give it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files: others could not read shared logs/data
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        publish(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_run_files(run_dir: Path, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """`metrics.json` (final train/val/test metrics) and `config.yaml` (the resolved config)."""
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
