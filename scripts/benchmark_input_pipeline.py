"""Input pipeline: samples/s of litlab's MNIST training batches vs a DataLoader over a float TensorDataset.

    python scripts/benchmark_input_pipeline.py [--data-dir DIR] [--batch-size 128] [--repeats 5]

Both sides serve the same 55000 training images per epoch, shuffled, as normalised float32 batches on
the CPU: litlab cuts uint8 batches by index and normalises each batch (on_after_batch_transfer); the
baseline is the lectures' DataLoader(TensorDataset(float images, labels), shuffle=True). Epochs
alternate A/B so drift in machine load hits both; the table gives the median and spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from types import SimpleNamespace

import torch
from torch.utils.data import DataLoader, TensorDataset

from litlab.data import MNISTDataModule
from litlab.runtime.resolvers import REPO_ROOT


def litlab_epoch(dm: MNISTDataModule) -> int:
    seen = 0
    for batch in dm.train_dataloader():
        images, labels = dm.on_after_batch_transfer(batch, 0)
        seen += len(labels)
    return seen


def dataloader_epoch(loader: DataLoader) -> int:
    seen = 0
    for _images, labels in loader:
        seen += len(labels)
    return seen


def timed(epoch) -> float:
    start = time.perf_counter()
    samples = epoch()
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_dir = os.environ.get("LITLAB_DATA_DIR", str(REPO_ROOT / "data"))
    parser.add_argument(
        "--data-dir", default=default_dir, help="folder with MNIST/raw (default: %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5, help="epochs per side")
    args = parser.parse_args()

    dm = MNISTDataModule(data_dir=args.data_dir, batch_size=args.batch_size)
    dm.setup()
    dm.trainer = SimpleNamespace(training=True)  # as inside fit: training batches
    images, labels = dm.splits["train"]
    # The baseline's dataset is normalised once up front, as the lectures' transforms would leave it.
    dataset = TensorDataset(dm.normalize(images), labels)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)

    rates: dict[str, list[float]] = {"litlab": [], "DataLoader": []}
    for _ in range(args.repeats):
        rates["litlab"].append(timed(lambda: litlab_epoch(dm)))
        rates["DataLoader"].append(timed(lambda: dataloader_epoch(loader)))

    print(
        f"MNIST training split: {len(labels)} images, batch {args.batch_size}, "
        f"{torch.get_num_threads()} torch threads, {args.repeats} epochs each, A/B interleaved"
    )
    print("| pipeline | median samples/s | min | max |")
    print("|---|---:|---:|---:|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f} | {min(values):,.0f} | {max(values):,.0f} |")
    ratio = statistics.median(rates["litlab"]) / statistics.median(rates["DataLoader"])
    print(f"\nlitlab / DataLoader: {ratio:.1f}x")


if __name__ == "__main__":
    main()
