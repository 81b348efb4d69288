"""What a checkpoint needs beyond Lightning's own state: the run's config and its random state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

# Config sections that define what is trained; a resumed run must agree on every value in them (but
# where the data lives). Trainer, callbacks, loggers and paths may change: more epochs, another machine.
IDENTITY_SECTIONS = ("task_name", "seed", "monitor", "data", "model")
MAY_MOVE = {"data.data_dir"}


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{"a.b": value} for every leaf of a nested dict."""
    if not isinstance(config, dict):
        return {prefix: config}
    leaves: dict[str, Any] = {}
    for key, value in config.items():
        leaves.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


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
        checkpoint["litlab_config"] = self.config
        checkpoint["litlab_random_state"] = {"torch": torch.get_rng_state()}
        if pl_module.device.type == "cuda":  # this rank's own generator
            checkpoint["litlab_random_state"]["cuda"] = torch.cuda.get_rng_state(pl_module.device)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.random_state = checkpoint.get("litlab_random_state")
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


def check_same_experiment(saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Raise when a checkpoint was trained with other data, model, seed or monitor than the current config."""
    if saved is None:
        return  # a checkpoint from outside litlab: Lightning still checks the weights' shapes
    before, now = (
        {k: v for k, v in flatten({s: config.get(s) for s in IDENTITY_SECTIONS}).items() if k not in MAY_MOVE}
        for config in (saved, current)
    )
    differ = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
    if not differ:
        return
    shown = "; ".join(f"{k}: checkpoint {before.get(k)!r}, this run {now.get(k)!r}" for k in differ[:6])
    more = f" (and {len(differ) - 6} more)" if len(differ) > 6 else ""
    if saved.get("task_name") != current.get("task_name"):
        hint = f"resume it with experiment={saved.get('task_name')}, or pick a checkpoint of this experiment"
    else:
        fix = " ".join(f"{key}={before[key]}" for key in differ[:6] if key in before)
        hint = f"resume with the values it was trained with ({fix}), or start a new run without ckpt_path"
    raise ValueError(
        f"the checkpoint was trained with another config: {shown}{more}. A resumed run must keep its data, "
        f"model, seed and monitor; {hint}"
    )
