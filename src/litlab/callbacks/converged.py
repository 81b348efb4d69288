"""Ending a fit whose optimizer has converged, as scikit-learn's solvers end."""

from __future__ import annotations

import logging
from typing import Any

from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class StopWhenConverged(Callback):
    """Ends a full-batch L-BFGS fit after an epoch that left every weight as it was.

    L-BFGS (model/optimizer=lbfgs) takes no step once the gradient is within its `tolerance_grad`, or
    the direction it finds descends by less than its `tolerance_change`. With every training row in one
    batch (data.batch_size=null) and no dropout, each later epoch would then evaluate the same loss at
    the same weights and move them no more (nothing it keeps changes from then on): the fit can end with
    the final weights it would have after max_epochs. On `experiment=caf` the weights stop moving after
    epoch 4 or 5 of 25; each epoch after that cost 27 ms. Other optimizers, and minibatches, are left
    alone (a warm-up from lr 0 does not move the weights either, and would go on). `converged_epoch`:
    the epoch it ended the fit after, None if it did not; metrics.json's `stopped_by` then says
    `converged`."""

    def __init__(self) -> None:
        self.converged_epoch: int | None = None
        self.at_start: list[Any] | None = None

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self.at_start = watched_weights(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        import torch

        before, self.at_start = self.at_start, None
        if before is None or trainer.sanity_checking:
            return
        if not all(torch.equal(a, b) for a, b in zip(before, pl_module.parameters(), strict=True)):
            return
        self.converged_epoch = trainer.current_epoch
        trainer.should_stop = True
        log.info(
            "Epoch %d left every weight as it was (L-BFGS converged): the fit ends, its final weights "
            "those of max_epochs (callbacks.converged=null trains on)",
            trainer.current_epoch,
        )


def watched_weights(trainer: Any, pl_module: Any) -> list[Any] | None:
    """Copies of the module's parameters when its fit is full-batch L-BFGS alone (to compare with the
    parameters at the epoch's end); else None."""
    import torch

    optimizers = trainer.optimizers
    full_batch = trainer.num_training_batches == 1
    if not (full_batch and optimizers and all(isinstance(o, torch.optim.LBFGS) for o in optimizers)):
        return None
    return [p.detach().clone() for p in pl_module.parameters()]
