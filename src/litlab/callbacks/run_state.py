"""What a checkpoint needs beyond Lightning's own state: the run's config and its random state."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

# Config entries that define what was trained; a checkpoint resumes only into the same ones.
IDENTITY_KEYS = ("task_name", "data._target_", "model._target_", "model.net")


def lookup(config: dict[str, Any], dotted: str) -> Any:
    """config["a"]["b"] for "a.b"; None where a key is missing."""
    value: Any = config
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


class RunState(Callback):
    """Stores the resolved config and torch's random state in every checkpoint; on resume restores the
    random state, so dropout masks continue as if the run had never stopped. `eval.py` and
    `predict.py` rebuild the data and model from the stored config.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.random_state: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["litlab_config"] = self.config
        checkpoint["litlab_random_state"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["litlab_random_state"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.random_state = checkpoint.get("litlab_random_state")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Restored here, not at load: the sanity check and anything else before training may draw numbers.
        if self.random_state is not None:
            torch.set_rng_state(self.random_state["torch"])
            if "cuda" in self.random_state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(self.random_state["cuda"])
            self.random_state = None


def check_same_experiment(saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Raise when a checkpoint was trained by another experiment than the current config describes."""
    if saved is None:
        return  # a checkpoint from outside litlab: Lightning still checks the weights' shapes
    differ = [key for key in IDENTITY_KEYS if lookup(saved, key) != lookup(current, key)]
    if differ:
        details = "; ".join(
            f"{key}: checkpoint {lookup(saved, key)!r}, this run {lookup(current, key)!r}" for key in differ
        )
        raise ValueError(
            f"the checkpoint belongs to another experiment ({details}). Resume it with the experiment that "
            f"wrote it (experiment={lookup(saved, 'task_name')}), or pick a checkpoint of this one"
        )
