"""The plain-PyTorch baselines of scripts/benchmark.py: the lectures' loops on preloaded tensors.

    python scripts/plain_loops.py diabetes [--runs 16] [--epochs 100] [--seed 1]

No Lightning, no Hydra, no litlab import: what a student writes after the lectures, with the same
model, optimizer, batch size and standardisation as litlab's experiments.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA_DIR = Path(os.environ.get("LITLAB_DATA_DIR", Path(__file__).resolve().parents[1] / "data"))


def diabetes_tensors(seed: int, test_fraction: float = 0.2) -> tuple[torch.Tensor, ...]:
    """Train/test tensors of diabetes.csv.gz: a seeded shuffle, standardised with training statistics."""
    table = np.loadtxt(DATA_DIR / "diabetes" / "diabetes.csv.gz", delimiter=",", dtype=np.float32)
    x, y = torch.from_numpy(table[:, :-1]), torch.from_numpy(table[:, -1])
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(0), x[train].std(0)
    x = (x - mean) / std
    return x[train], y[train], x[test], y[test]


def diabetes_net() -> nn.Module:
    """The lecture's 8-6-4-1 sigmoid "wide and deep" net (logit out)."""
    return nn.Sequential(nn.Linear(8, 6), nn.Sigmoid(), nn.Linear(6, 4), nn.Sigmoid(), nn.Linear(4, 1))


def mnist_net() -> nn.Module:
    """The softmax lecture's 784-512-256-10 MLP (logits out)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 256), nn.ReLU(),
        nn.Dropout(0.2), nn.Linear(256, 10),
    )  # fmt: skip


def train_steps(net, optimizer, loss_fn, x, y, batch_size: int, steps: int, seed: int = 0) -> None:
    """`steps` optimizer steps over shuffled mini-batches of preloaded tensors (epochs wrap around)."""
    generator = torch.Generator().manual_seed(seed)
    net.train()
    done = 0
    while done < steps:
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            optimizer.step()
            done += 1
            if done == steps:
                return


def binary_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(out.squeeze(1), y)


def diabetes_run(seed: int, epochs: int, batch_size: int = 32) -> float:
    """One lecture-style diabetes training run; returns test accuracy."""
    torch.manual_seed(seed)
    x, y, x_test, y_test = diabetes_tensors(seed)
    net = diabetes_net()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.03, weight_decay=0.001)
    steps = epochs * -(-len(y) // batch_size)
    train_steps(net, optimizer, binary_loss, x, y, batch_size, steps, seed)
    return test_accuracy(net, x_test, y_test)


def test_accuracy(net: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Accuracy of a one-logit net on the test tensors."""
    net.eval()
    with torch.no_grad():
        return ((net(x_test).squeeze(1) > 0).float() == y_test).float().mean().item()


def command_line(description: str, run: Callable[[int, int], float]) -> None:
    """`<script> diabetes [--runs N] [--epochs E] [--seed S]`: N runs of `run(seed, epochs)`, timed."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("task", choices=["diabetes"])
    parser.add_argument(
        "--runs", type=int, default=1, help="runs in this one process, seeds seed..seed+runs-1"
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    accuracies = [run(args.seed + offset, args.epochs) for offset in range(args.runs)]
    print(f"test accuracy {[round(a, 4) for a in accuracies]} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    command_line(__doc__, diabetes_run)
