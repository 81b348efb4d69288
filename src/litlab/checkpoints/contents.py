"""What a checkpoint needs beyond Lightning's own state: the run's config and its random state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

# Where the run's resolved config and random state sit in a checkpoint, beside Lightning's own keys.
CONFIG_KEY = "litlab_config"
RANDOM_STATE_KEY = "litlab_random_state"


class RunState(Callback):
    """Stores the resolved config and torch's random state in every checkpoint; on resume restores the
    random state, so dropout masks continue as if the run had never stopped, and points the checkpoint
    callbacks' memory of the best checkpoints at this run's folder (the run may have been moved).
    `eval.py` and `predict.py` rebuild the data and model from the stored config.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.random_state: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.config
        checkpoint[RANDOM_STATE_KEY] = {"torch": torch.get_rng_state()}
        if pl_module.device.type == "cuda":  # this rank's own generator
            checkpoint[RANDOM_STATE_KEY]["cuda"] = torch.cuda.get_rng_state(pl_module.device)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.random_state = checkpoint.get(RANDOM_STATE_KEY)
        for callback in trainer.callbacks:
            state = checkpoint.get("callbacks", {}).get(getattr(callback, "state_key", None))
            if isinstance(callback, ModelCheckpoint) and state and callback.dirpath:
                relocate(state, callback.dirpath)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Restored here, not at load: the sanity check and anything else before training may draw numbers.
        if self.random_state is not None:
            torch.set_rng_state(self.random_state["torch"])
            if "cuda" in self.random_state and pl_module.device.type == "cuda":
                torch.cuda.set_rng_state(self.random_state["cuda"], pl_module.device)
            self.random_state = None


def relocate(state: dict[str, Any], dirpath: str) -> None:
    """Rewrite a ModelCheckpoint state saved in another folder to this one. Lightning forgets the best
    checkpoints (and then tests a worse one) when the stored dirpath differs from the current one."""
    old = state.get("dirpath")
    if not old or Path(old) == Path(dirpath):
        return

    def moved(path: str) -> str:
        return str(Path(dirpath) / Path(path).name) if path else path

    state["dirpath"] = dirpath
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            state[key] = moved(state[key])
    if "best_k_models" in state:
        state["best_k_models"] = {moved(path): score for path, score in state["best_k_models"].items()}


def stored_config(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The resolved run config that train.py stored in a checkpoint; None for a checkpoint from elsewhere."""
    return checkpoint.get(CONFIG_KEY)
