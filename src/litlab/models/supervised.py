"""What a supervised LightningModule does whatever its loss: steps, epoch metrics, optimizer partials."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
# While fitting, epoch metrics that no callback watches go to the loggers without self.log (the same
# values at the same steps; tests/test_cheap_paths.py compares both ways through this switch).
LOG_DIRECTLY = True
TRAIN_HISTORY_KEY = "litlab_train_history"  # where a checkpoint keeps the train/ metrics of every epoch


class SupervisedModule(L.LightningModule):
    """Trains `net` on `(inputs, targets)` batches; a subclass supplies `loss_and_outputs` and metrics.

    A subclass declares its `task`: "binary", "multiclass" or "regression"; callbacks and predict.py read
    it instead of guessing from shapes. The loss and the metrics are logged once per epoch under `train/`,
    `val/` and `test/`; `train_metrics` may be a cheaper set than `metrics` (the one of val/ and test/).
    `train_history` keeps every epoch's train/ values (saved in checkpoints), so that the task reports
    those of the best epoch beside the best checkpoint's val/ and test/ metrics.

    `l2` adds (l2 / 2) x the sum of the net's squared weights (not its biases) to the loss it trains on:
    the penalty of scikit-learn's LogisticRegression and MLPClassifier (their `C` and `alpha`), for
    optimizers that have no weight_decay such as L-BFGS (model/optimizer=lbfgs). The logged losses are
    the data's alone, so train/ and val/ stay comparable.
    """

    task: str
    # Steps whose outputs wait in a list before they go into the metric states: a list append per step
    # is all a step pays, and the pending outputs stay a bounded amount of device memory.
    flush_every = 32

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        monitor: str,
        metrics: MetricCollection,
        train_metrics: MetricCollection | None = None,
        l2: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(l2, int | float) or isinstance(l2, bool) or not l2 >= 0:
            raise ValueError(
                f"model.l2={l2!r}: the L2 penalty (l2/2 x the sum of the squared weights, added to the "
                "training loss) must be a number >= 0, e.g. model.l2=0.001; 0 switches it off"
            )
        self.net = net
        self.l2 = float(l2)
        # (epoch, batch) of the last training step recorded for the epoch's train/ metrics.
        self.recorded_step: tuple[int, int] | None = None
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.monitor = monitor
        self.check_optimizer()
        self.train_metrics = (train_metrics or metrics).clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        # Detached (loss, outputs, targets) of the latest steps, fed to the metrics every `flush_every`
        # steps and at epoch end; `updated` says whether this epoch fed them anything yet.
        self.pending: dict[str, list[tuple[torch.Tensor, ...]]] = {"train": [], "val": [], "test": []}
        self.updated = {"train": False, "val": False, "test": False}
        self.train_history: dict[int, dict[str, float]] = {}  # epoch -> its train/ metrics
        self.watched: set[str] = {monitor}  # metrics some callback reads: set when a fit starts

    def metric_names(self) -> list[str]:
        """Every metric it logs: each stage's loss and metrics (train/, val/, test/)."""
        names = []
        for stage in ("train", "val", "test"):
            metrics: MetricCollection = getattr(self, f"{stage}_metrics")
            # A metric whose compute() gives a dict (ConfusionScores) is logged under its keys.
            names += [f"{stage}/loss", *(f"{metrics.prefix}{name}"
                      for key, metric in metrics.items(keep_base=True, copy_state=False)
                      for name in getattr(metric, "names", (key,)))]  # fmt: skip
        return names

    def check_optimizer(self) -> None:
        """Build the optimizer once now, so a bad setting fails before any training starts."""
        try:
            self.optimizer_factory(params=self.net.parameters())
        except (ValueError, TypeError) as err:
            given = getattr(self.optimizer_factory, "keywords", {})  # a partial's: the config's arguments
            # lr=abc: torch compares it with a number, and names its type ('str') in the error
            culprit = [
                k for k, v in given.items()
                if not isinstance(v, int | float) and f"'{type(v).__name__}'" in str(err)
            ]  # fmt: skip
            unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(err))
            if unexpected:  # e.g. an experiment's weight_decay under model/optimizer=lbfgs
                func = getattr(self.optimizer_factory, "func", self.optimizer_factory)  # a partial's class
                key, name = unexpected.group(1), getattr(func, "__name__", "the optimizer")
                l2 = "; for an L2 penalty give model.l2 instead" if key == "weight_decay" else ""
                raise ValueError(
                    f"model.optimizer.{key}={given.get(key)!r} is not an argument of {name}: remove it "
                    f"with ~model.optimizer.{key} (the experiment may set it){l2}"
                ) from err
            if len(culprit) == 1 and "not supported between" in str(err):
                key = culprit[0]
                example = f", e.g. model.optimizer.{key}=0.001" if key == "lr" else ""
                raise ValueError(
                    f"model.optimizer.{key}={given[key]!r} is not a number; give one{example}"
                ) from err
            raise ValueError(
                f"model.optimizer is invalid: {err}. Fix the value, for example "
                "model.optimizer.lr=0.001 (must be > 0), or pick another: "
                "model/optimizer=adam|adamw|sgd|rmsprop|lbfgs"
            ) from err

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss_and_outputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's loss and the outputs its metrics are computed from."""
        raise NotImplementedError

    def metric_inputs(self, outputs: torch.Tensor) -> torch.Tensor:
        """The outputs of `loss_and_outputs` as the metrics take them; the same by default."""
        return outputs

    def empty_outputs(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Zero-row outputs and targets of the shapes and dtypes a step gives, for a DDP rank that saw no
        batch; None when the metrics keep only fixed-shape sums (nothing to pad)."""
        return None

    def shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> tuple[torch.Tensor, ...]:
        """Loss and outputs of a batch, kept for the stage's epoch-end metrics."""
        x, y = batch
        loss, outputs = self.loss_and_outputs(x, y)
        if len(y):  # a DDP rank's empty evaluation batch (see TensorBatches) adds nothing, not a NaN loss
            pending = self.pending[stage]
            # Only a list append per step: a torchmetrics update (or a self.log) per step costs more
            # than the step itself for the lectures' small nets, and nothing here waits for the device.
            pending.append((loss.detach(), outputs.detach(), y))
            if len(pending) >= self.flush_every:
                self.flush(stage)
        return loss, outputs

    def flush(self, stage: str) -> None:
        """Feed the pending steps of `stage` into its loss and metric states, and forget them."""
        pending = self.pending[stage]
        if not pending:
            return
        losses, outputs, targets = zip(*pending, strict=True)
        pending.clear()
        sizes = torch.tensor([len(t) for t in targets], dtype=torch.float32, device=losses[0].device)
        getattr(self, f"{stage}_loss").update(torch.stack(losses).float(), weight=sizes)
        # float32 whatever the precision, so every rank's states have the same dtype when gathered.
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(self.metric_inputs(torch.cat(outputs).float()), torch.cat(targets))
        self.updated[stage] = True

    def log_epoch(self, stage: str) -> None:
        """Log the epoch's mean loss and metrics under `stage/`, then start afresh."""
        self.flush(stage)
        metrics, loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        distributed = self.trainer.world_size > 1
        seen, self.updated[stage] = self.updated[stage], False
        if not seen:
            if not distributed:
                return  # no batch at all: nothing to log
            # This rank saw no batch, the others did. compute() below gathers every rank's states, so
            # every rank must reach it (or the others wait forever). Sum states gather as they are; list
            # states (AUROC's) must hold a tensor like the other ranks': torchmetrics pads an empty list
            # with a 1-D tensor of the metric's float dtype, which cannot be gathered with (n, classes)
            # probabilities or long targets. Zero-row outputs of the right shape and dtype can (only
            # for those metrics: multiclass stat scores refuse zero rows).
            empty = self.empty_outputs()
            for metric in metrics.values(copy_state=False):
                if empty is not None and any(isinstance(v, list) for v in metric.metric_state.values()):
                    metric.update(self.metric_inputs(empty[0]), empty[1])
        with warnings.catch_warnings():
            # The empty rank's sum states were never updated; their sync is all that is needed of them.
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method")
            # compute() gathers every rank's states under DDP, so all ranks log the same values; sync_dist
            # only tells Lightning so (a mean of equal numbers).
            values = {f"{stage}/loss": loss.compute(), **metrics.compute()}
            # While fitting, only what a callback or the progress bar reads goes through self.log (its
            # bookkeeping costs ~0.5 ms a value); the other curves go straight to the loggers.
            direct = self.logs_directly(stage)
            bar = direct and self.trainer.progress_bar_callback is not None
            through_lightning = {*self.watched, *({f"{stage}/loss"} if bar else set())}  # a bar shows it
            for name, value in values.items():
                if not direct or name in through_lightning:
                    self.log(name, value, prog_bar=name == f"{stage}/loss", sync_dist=distributed)
            if direct:
                self.log_to_loggers(stage, {k: v for k, v in values.items() if k not in through_lightning})
        if stage == "train" and not self.trainer.sanity_checking:
            self.train_history[self.current_epoch] = {k: float(v) for k, v in values.items()}
        metrics.reset()
        loss.reset()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        # An optimizer that evaluates its closure several times a step (L-BFGS: its iterations and line
        # search) calls this each time on the same batch. Its epoch's train/ metrics take each step's
        # first evaluation alone: the loss before the step, what they take from any other optimizer.
        step = (self.current_epoch, batch_idx)
        if step == self.recorded_step:
            loss, _ = self.loss_and_outputs(*batch)
        else:
            self.recorded_step = step
            loss = self.shared_step(batch, "train")[0]
        return loss + self.penalty() if self.l2 else loss

    def penalty(self) -> torch.Tensor:
        """(l2 / 2) x the sum of the squared weights: every parameter of the net but its biases (see the
        class docstring)."""
        return 0.5 * self.l2 * sum(p.pow(2).sum() for p in self.net.parameters() if p.ndim > 1)

    def validation_step(self, batch, batch_idx: int) -> None:
        self.shared_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Returns the outputs (a classifier's (n, num_classes) probabilities), for callbacks such as the
        classification report."""
        return self.shared_step(batch, "test")[1]

    def on_train_epoch_end(self) -> None:
        self.log_epoch("train")

    def on_fit_start(self) -> None:
        from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

        watchers = [cb for cb in self.trainer.callbacks if isinstance(cb, EarlyStopping | ModelCheckpoint)]
        self.watched = {self.monitor, *(cb.monitor for cb in watchers if cb.monitor)}

    def logs_directly(self, stage: str) -> bool:
        """Whether `stage`'s epoch metrics bypass self.log: train/ and val/ while fitting (validate and
        test return what self.log collected, so there everything goes through it)."""
        from lightning.pytorch.trainer.states import TrainerFn

        return LOG_DIRECTLY and stage != "test" and self.trainer.state.fn == TrainerFn.FITTING

    def log_to_loggers(self, stage: str, values: dict[str, torch.Tensor]) -> None:
        """What Lightning's logger connector does with epoch-end values: each logger gets them, with the
        epoch, at the step Lightning logs the stage's epoch metrics at (none during the sanity check)."""
        trainer = self.trainer
        if trainer.sanity_checking or not trainer.loggers or not values:
            return
        scalars: dict[str, float] = {name: float(value) for name, value in values.items()}
        scalars["epoch"] = trainer.current_epoch
        # Lightning's own steps: the epoch's last step for train/ (its fit loop steps back one to log
        # them), the count of steps so far for val/.
        step = trainer.fit_loop.epoch_loop._batches_that_stepped - (stage == "train")
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TRAIN_HISTORY_KEY] = self.train_history

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        history = checkpoint.get(TRAIN_HISTORY_KEY, {})
        self.train_history = {int(epoch): dict(values) for epoch, values in history.items()}

    def train_metrics_at(self, epoch: int | None) -> dict[str, float]:
        """The train/ metrics of `epoch` (None: the last epoch trained); {} when it is not known."""
        if epoch is None:
            epoch = max(self.train_history, default=None)
        return dict(self.train_history.get(epoch, {}))

    def on_validation_epoch_end(self) -> None:
        self.log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.log_epoch("test")

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            # name: the learning-rate curve's tag (callbacks.LearningRateMonitor), in the train/ group
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": self.monitor,
                "interval": "epoch",
                "name": "train/lr",
            },
        }

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls,
        checkpoint_path: str,
        map_location: Any = None,
        hparams_file: str | None = None,
        strict: bool | None = None,
        weights_only: bool | None = True,
        **kwargs: Any,
    ) -> SupervisedModule:
        """The trained model of a litlab checkpoint, ready to predict (eval mode, on `map_location`'s
        device, CPU by default): its net, optimizer and sizes are rebuilt from the run config the
        checkpoint carries, since they are objects that Lightning's hyperparameters cannot hold. Lightning's
        signature; `hparams_file` and overrides of the constructor's arguments do not apply."""
        from litlab.checkpoints.rebuild import load_model

        if kwargs or hparams_file is not None:
            given = sorted([*kwargs, *(["hparams_file"] if hparams_file is not None else [])])
            raise TypeError(
                f"{cls.__name__}.load_from_checkpoint takes no overrides ({', '.join(given)}): a litlab "
                "checkpoint rebuilds the model it was trained as from the config it carries"
            )
        return load_model(
            checkpoint_path, expected=cls, map_location=map_location, strict=strict is not False,
            weights_only=weights_only,
        )  # fmt: skip
