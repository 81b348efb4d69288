"""Checkpoints written atomically and refused clearly when damaged."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from litlab.runtime.files import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves to a temporary file beside the target, flushed to disk, then renamed into place.

    A run killed mid-save (SIGKILL, node failure, time limit) leaves the previous `last.ckpt` intact.
    Lightning's own writer stages the file in the system temp folder and moves it, which becomes a
    non-atomic copy when that folder is on another file system.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        with atomic_open(path, "wb", fsync=True) as f:
            torch.save(checkpoint, f)

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location, weights_only=weights_only)


def load_checkpoint(
    path: str | Path, map_location: Any = "cpu", weights_only: bool | None = True, mmap: bool = False
) -> dict[str, Any]:
    """torch.load with errors that say which file is wrong and what to do (mmap: tensors stay on disk)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; give the path of a .ckpt file, such as a run's "
            "checkpoints/epoch_NNN.ckpt (its best) or checkpoints/last.ckpt (eval.py and predict.py also "
            "take a cross-validation run's folder)"
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=weights_only, mmap=mmap)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        raise ValueError(
            f"checkpoint {path} is truncated or not a checkpoint ({type(err).__name__}: {err}). "
            "It may have been cut short by a crash or a full disk; resume from another one "
            "(checkpoints/last.ckpt or the epoch_*.ckpt beside it) or start afresh"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(
            f"checkpoint {path} holds no model state_dict: it was not written by Lightning. Give a .ckpt "
            "from a run's checkpoints/ folder"
        )
    return checkpoint
