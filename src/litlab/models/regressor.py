"""One LightningModule for regression: mean squared error loss, MSE and R2 metrics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection, R2Score

from litlab.models.supervised import OptimizerFactory, SchedulerFactory, SupervisedModule


class Regressor(SupervisedModule):
    """Trains any net that outputs one value per target column; targets are float `(n, num_targets)`.

    Its task is "regression". Logs `{stage}/loss` (the MSE it minimises), `{stage}/mse` and `{stage}/r2`
    once per epoch.
    """

    task = "regression"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        monitor: str = "val/loss",
        l2: float = 0.0,
    ) -> None:
        metrics = MetricCollection({"mse": MeanSquaredError(), "r2": R2Score()})
        super().__init__(net, optimizer, scheduler, monitor, metrics, l2=l2)
        # Plain values only, so checkpoints load with weights_only=True; the net is in the state_dict.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)

    def loss_and_outputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean squared error and the predictions; their shape must equal the targets' exactly."""
        predictions = self.net(x)
        if predictions.shape != y.shape or not y.is_floating_point():
            # (n, 1) against (n,) would broadcast to (n, n): a loss that trains, on nonsense.
            raise ValueError(
                f"the net predicts {tuple(predictions.shape)} but the targets are {y.dtype} "
                f"{tuple(y.shape)}; give regression targets as float (n, num_targets), e.g. y[:, None]"
            )
        return F.mse_loss(predictions, y), predictions

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Predictions `(n, num_targets)` for a batch of inputs or of `(inputs, targets)`."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        predictions = self.net(x)
        return predictions.reshape(len(predictions), -1)
