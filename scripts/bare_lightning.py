"""The Lightning floor of scripts/benchmark.py: the plain loops' model, data and optimizer in a bare
LightningModule and Trainer (no metrics, logging, validation, checkpoints or callbacks).

    python scripts/bare_lightning.py diabetes [--runs 16] [--epochs 100] [--seed 1]

What any Lightning program pays over plain PyTorch, so litlab's whole-process ratios can be read
against it: the import of lightning and the Trainer's per-step machinery.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import plain_loops
import torch


def bare_lightning_module(net: torch.nn.Module, optimizer, loss_fn) -> L.LightningModule:
    """The same net, optimizer and loss in a LightningModule with no metrics or logs."""

    class Bare(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch, batch_idx):
            x, y = batch
            return loss_fn(self.net(x), y)

        def configure_optimizers(self):
            return optimizer(self.parameters())

    return Bare()


class ShuffledBatches:
    """Mini-batches of preloaded tensors in a fresh random order each pass, as the plain loop cuts them."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.y), generator=self.generator)
        for start in range(0, len(self.y), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.x[idx], self.y[idx]


def diabetes_fit(seed: int, epochs: int, batch_size: int = 32) -> tuple[L.LightningModule, float]:
    """plain_loops' diabetes net trained through Lightning's Trainer; returns it and the fit's seconds."""
    torch.manual_seed(seed)
    x, y, _, _ = plain_loops.diabetes_tensors(seed)
    adam = lambda params: torch.optim.Adam(params, lr=0.03, weight_decay=0.001)  # noqa: E731
    model = bare_lightning_module(plain_loops.diabetes_net(), adam, plain_loops.binary_loss)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(model, train_dataloaders=ShuffledBatches(x, y, batch_size, seed))
    return model, time.perf_counter() - start


def diabetes_run(seed: int, epochs: int, batch_size: int = 32) -> float:
    """plain_loops.diabetes_run through Lightning's Trainer; returns test accuracy."""
    model, _ = diabetes_fit(seed, epochs, batch_size)
    _, _, x_test, y_test = plain_loops.diabetes_tensors(seed)
    return plain_loops.test_accuracy(model.net, x_test, y_test)


if __name__ == "__main__":
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    plain_loops.command_line(__doc__, diabetes_run)
