"""What ended a fit and where its best epoch was: the one console line after every fit, and the `fit`
section of metrics.json that says which epoch each group of numbers comes from.

Epochs are counted from 0, as Lightning and the checkpoint names (checkpoints/epoch_013.ckpt) count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litlab.runs.layout import CHECKPOINT_DIR, best_epoch
from litlab.runs.lifecycle import stopped_by


def fit_section(trainer: Any, best: str | None, last_train: dict[str, float]) -> dict[str, Any]:
    """metrics.json's `fit`: the best epoch (whose checkpoint gave val/ and test/, and whose train/
    metrics stand beside them), the last epoch trained with its train/ metrics, and what stopped it."""
    return {
        "best_epoch": best_epoch(best),
        "last_epoch": int(trainer.current_epoch) - 1,
        "stopped_by": stopped_by(trainer),
        "tested": "best checkpoint" if best else "final weights",
        "last_epoch_train": last_train,
    }


def stop_line(trainer: Any, monitor: str, best: str | None) -> str:
    """`Early stopping after epoch 43 (no better val/loss for 20 epochs); best epoch 23, val/loss
    0.4760: checkpoints/epoch_023.ckpt`, or `max_epochs=200 reached; ...`."""
    why = stopped_by(trainer)
    last = int(trainer.current_epoch) - 1
    if why == "early_stopping":
        stopper = trainer.early_stopping_callbacks[0]
        reason = (
            f"Early stopping after epoch {last} (no better {stopper.monitor} for {stopper.patience} epochs)"
        )
    elif why in ("max_epochs", "max_steps"):
        reason = f"{why}={getattr(trainer, why)} reached after epoch {last}"
    elif why == "converged":
        reason = f"Converged after epoch {last} (L-BFGS left every weight as it was)"
    elif why == "fast_dev_run":
        reason = "fast_dev_run: one batch of each stage, nothing saved"
    else:
        reason = f"Training stopped after epoch {last} (max_time, or a callback asked)"
    epoch = best_epoch(best)
    if epoch is None:
        return f"{reason}; testing the final weights"
    scores = [cb.best_model_score for cb in trainer.checkpoint_callbacks if cb.best_model_path == best]
    value = f", {monitor} {float(scores[0]):.4f}" if scores and scores[0] is not None else ""
    return f"{reason}; best epoch {epoch}{value} ({CHECKPOINT_DIR}/{Path(best).name})"
