"""The checkpoint: written atomically, what it carries besides weights, identity checks, rebuilding."""

from litlab.checkpoints.callbacks import BestCheckpoint, LastCheckpoint, best_checkpoint
from litlab.checkpoints.io import AtomicCheckpointIO, load_checkpoint

__all__ = ["AtomicCheckpointIO", "BestCheckpoint", "LastCheckpoint", "best_checkpoint", "load_checkpoint"]
