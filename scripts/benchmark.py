"""litlab against the lectures' plain PyTorch loops: one command, one table.

    python scripts/benchmark.py [--repeats 3] [--quick]

Every comparison alternates litlab and plain runs (A/B, A/B, ...) so drifting machine load hits both,
repeats them, and reports the median with the spread [min-max] and the ratio litlab/plain. Both sides
use the same model, optimizer, batch size, number of steps and torch thread count. A litlab row with a
"floor" row under it (the same work in a bare LightningModule and Trainer: scripts/bare_lightning.py)
also gives litlab/floor, which its target is about. Per-step and per-epoch times are differences, (time
of 2n steps - time of n steps) / n, so start-up costs cancel; whole-process rows time complete
commands, imports included. Data: LITLAB_DATA_DIR (diabetes, MNIST).
`--quick` shrinks everything to a smoke run (the test suite runs it); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import benchmark_input_pipeline as pipeline
import plain_loops
import torch
from bare_lightning import ShuffledBatches, bare_lightning_module

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def interleaved(repeats: int, **sides: Callable[[], float]) -> dict[str, list[float]]:
    """Run each side once per round, in turn, `repeats` rounds."""
    results: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, measure in sides.items():
            results[name].append(measure())
    return results


def per_unit(run: Callable[[int], float], n: int) -> float:
    """Seconds per unit (step or epoch) as (run(2n) - run(n)) / n: fixed start-up costs cancel."""
    return (run(2 * n) - run(n)) / n


def lightning_fit(build: Callable[[], tuple], **limits) -> float:
    """Seconds of Trainer.fit on a fresh model, without validation, logging or checkpoints."""
    import lightning as L

    model, data = build()  # a LightningDataModule, or an iterable of training batches
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, **limits,
    )  # fmt: skip
    start = time.perf_counter()
    if isinstance(data, L.LightningDataModule):
        trainer.fit(model, datamodule=data)
    else:
        trainer.fit(model, train_dataloaders=data)
    return time.perf_counter() - start


def binary_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """plain_loops.binary_loss on a DataModule's integer labels."""
    return plain_loops.binary_loss(out, y.float())


def plain_fit(build: Callable[[], tuple], x, y, batch_size: int, steps: int) -> float:
    net, optimizer, loss_fn = build()
    start = time.perf_counter()
    plain_loops.train_steps(net, optimizer, loss_fn, x, y, batch_size, steps)
    return time.perf_counter() - start


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def until_first_step(command: list[str], env: dict[str, str], folder: Path) -> float:
    """Seconds from launching `command` (a train.py run) to its first training step (first_step.py)."""
    stamp = folder / "first_step.txt"
    stamp.unlink(missing_ok=True)
    callback = "+callbacks.first_step._target_=first_step.ExitAtFirstStep"
    path = os.pathsep.join(filter(None, [str(ROOT / "scripts"), env.get("PYTHONPATH")]))
    start = time.time()
    wall([*command, callback], {**env, "LITLAB_FIRST_STEP_FILE": str(stamp), "PYTHONPATH": path})
    return float(stamp.read_text()) - start


class Report:
    """Rows of the result table: median [min-max] of each side and the ratio of medians (and, for a litlab
    row that has a floor, the ratio of litlab's median to the floor's)."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    def add(
        self, what: str, ours: list[float], plain: list[float] | None, unit: str, target: str,
        floor: list[float] | None = None,
    ) -> None:  # fmt: skip
        def cell(values: list[float]) -> str:
            scale, fmt = {"ms": (1e3, ".3f"), "s": (1, ".2f"), "samples/s": (1, ",.0f")}[unit]
            med, low, high = (scale * v for v in (statistics.median(values), min(values), max(values)))
            return f"{med:{fmt}} [{low:{fmt}}-{high:{fmt}}] {unit}"

        ratio = f"{statistics.median(ours) / statistics.median(plain):.2f}x" if plain else ""
        if floor:
            ratio += f" ({statistics.median(ours) / statistics.median(floor):.2f}x floor)"
        self.rows.append(f"| {what} | {cell(ours)} | {cell(plain) if plain else ''} | {ratio} | {target} |")
        print(self.rows[-1], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one repeat")
    args = parser.parse_args()
    quick = args.quick
    repeats = 1 if quick else args.repeats
    data_dir = os.environ.get("LITLAB_DATA_DIR", str(ROOT / "data"))
    env = {**os.environ, "LITLAB_DATA_DIR": data_dir}
    threads = torch.get_num_threads()

    import logging
    from functools import partial

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):  # no banners between the rows
        logging.getLogger(name).setLevel(logging.WARNING)

    from litlab.data import DiabetesDataModule, MNISTDataModule
    from litlab.models import MLP, Classifier

    print(f"litlab vs plain PyTorch, {threads} torch threads, {repeats} repeats, data {data_dir}\n")
    print("| comparison | litlab | plain | litlab/plain (litlab/floor) | target |\n|---|---|---|---|---|")
    report = Report()

    # Per-optimizer-step time on the same training tensors.
    def diabetes_sides(batch_size: int | None) -> dict[str, Callable[[], float]]:
        dm = DiabetesDataModule(data_dir=data_dir, batch_size=batch_size, seed=1)
        dm.setup()
        x, y = dm.splits["train"]
        adam = partial(torch.optim.Adam, lr=0.03, weight_decay=0.001)

        def ours() -> tuple:
            return Classifier(MLP(8, 1, [6, 4], "sigmoid"), 2, adam), dm

        def plain() -> tuple:
            net = plain_loops.diabetes_net()
            return net, adam(net.parameters()), plain_loops.binary_loss

        def bare() -> tuple:
            return bare_lightning_module(plain_loops.diabetes_net(), adam, binary_loss), dm

        steps = 20 if quick else 400
        bs = batch_size or len(y)
        return {
            "litlab": lambda: per_unit(lambda n: lightning_fit(ours, max_steps=n, max_epochs=-1), steps),
            "bare": lambda: per_unit(lambda n: lightning_fit(bare, max_steps=n, max_epochs=-1), steps),
            "plain": lambda: per_unit(lambda n: plain_fit(plain, x, y.float(), bs, n), steps),
        }

    for batch_size, label in ((32, "batch 32"), (None, "full batch")):
        r = interleaved(repeats, **diabetes_sides(batch_size))
        report.add(
            f"diabetes 8-6-4-1 step, {label}", r["litlab"], r["plain"], "ms", "<= 1.15x floor", r["bare"]
        )
        report.add(f"  floor: bare Lightning step, {label}", r["bare"], r["plain"], "ms", "")

    mnist = MNISTDataModule(data_dir=data_dir, batch_size=128, seed=1)
    mnist.setup()
    mx, my = mnist.splits["train"]
    mx_float = mnist.normalize(mx)  # the plain loop's preloaded, normalised tensors

    def mnist_ours() -> tuple:
        return Classifier(
            MLP(784, 10, [512, 256], dropout=0.2), 10, partial(torch.optim.Adam, lr=1e-3)
        ), mnist

    def mnist_plain() -> tuple:
        net = plain_loops.mnist_net()
        return net, torch.optim.Adam(net.parameters(), lr=1e-3), torch.nn.functional.cross_entropy

    def mnist_bare() -> tuple:
        adam = partial(torch.optim.Adam, lr=1e-3)
        module = bare_lightning_module(plain_loops.mnist_net(), adam, torch.nn.functional.cross_entropy)
        return module, ShuffledBatches(mx_float, my, 128, seed=1)  # the plain loop's preloaded tensors

    steps = 5 if quick else 200
    r = interleaved(
        repeats,
        litlab=lambda: per_unit(lambda n: lightning_fit(mnist_ours, max_steps=n, max_epochs=-1), steps),
        plain=lambda: per_unit(lambda n: plain_fit(mnist_plain, mx_float, my, 128, n), steps),
    )
    report.add("MNIST MLP step, batch 128", r["litlab"], r["plain"], "ms", "")

    epoch_steps = len(mnist.train_dataloader())
    if quick:
        epoch = functools.partial(lightning_fit, mnist_ours, max_epochs=1)
        r = {
            "litlab": [epoch()],
            "bare": [lightning_fit(mnist_bare, max_epochs=1)],
            "plain": [plain_fit(mnist_plain, mx_float, my, 128, epoch_steps)],
        }
    else:
        r = interleaved(
            repeats,
            litlab=lambda: per_unit(lambda n: lightning_fit(mnist_ours, max_epochs=n), 1),
            bare=lambda: per_unit(lambda n: lightning_fit(mnist_bare, max_epochs=n), 1),
            plain=lambda: per_unit(lambda n: plain_fit(mnist_plain, mx_float, my, 128, n * epoch_steps), 1),
        )
    report.add(
        f"MNIST MLP epoch ({epoch_steps} steps)", r["litlab"], r["plain"], "s", "<= 1.05x floor", r["bare"]
    )
    report.add("  floor: bare Lightning MNIST MLP epoch", r["bare"], r["plain"], "s", "")

    # Input pipeline: normalised training batches on the CPU.
    mnist.trainer = type("Fit", (), {"training": True})()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(mx_float, my), batch_size=128, shuffle=True
    )
    r = interleaved(
        repeats,
        litlab=lambda: pipeline.timed(lambda: pipeline.litlab_epoch(mnist)),
        plain=lambda: pipeline.timed(lambda: pipeline.dataloader_epoch(loader)),
    )
    report.add(
        "MNIST input pipeline (plain: DataLoader)", r["litlab"], r["plain"], "samples/s", ">= 1M/s, >= 3x"
    )

    # Whole processes.
    epochs = 3 if quick else 100
    jobs = 2 if quick else 16
    with tempfile.TemporaryDirectory() as logs:
        budget = [f"trainer.max_epochs={epochs}", "callbacks.early_stopping=null", f"paths.log_dir={logs}"]
        train = [PYTHON, "train.py", "experiment=diabetes", *budget]
        sweep = [PYTHON, "train.py", "-m", "experiment=diabetes", *budget]
        plain = [PYTHON, "scripts/plain_loops.py", "diabetes", f"--epochs={epochs}"]
        bare = [PYTHON, "scripts/bare_lightning.py", "diabetes", f"--epochs={epochs}"]
        r = interleaved(
            repeats,
            litlab=lambda: wall([*train, "seed=1"], env),
            bare=lambda: wall([*bare, "--seed=1"], env),
            plain=lambda: wall([*plain, "--seed=1"], env),
        )
        accuracy = json.loads(next(Path(logs).rglob("metrics.json")).read_text())["test/acc"]
        report.add(
            f"diabetes whole process, {epochs} epochs (litlab test acc {accuracy:.3f})",
            r["litlab"], r["plain"], "s", "<= 1.15x floor", r["bare"],
        )  # fmt: skip
        report.add(f"  floor: bare Lightning whole process, {epochs} epochs", r["bare"], r["plain"], "s", "")

        seeds = f"seed=range(1,{jobs + 1})"
        r = interleaved(
            repeats,
            litlab=lambda: wall([*sweep, seeds], env),
            parallel=lambda: wall([*sweep, seeds, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], env),
            bare=lambda: wall([*bare, f"--runs={jobs}"], env),
            plain=lambda: wall([*plain, f"--runs={jobs}"], env),
        )
        # Cross-validation: k fits (and tests) in one process, against k bare fits in one process.
        folds = 2 if quick else 5
        cv = interleaved(
            repeats,
            litlab=lambda: wall([*train, "seed=1", f"cv.folds={folds}"], env),
            bare=lambda: wall([*bare, f"--runs={folds}"], env),
            plain=lambda: wall([*plain, f"--runs={folds}"], env),
        )
        # Start-up: from launching `train.py experiment=diabetes` to its first training step.
        first = interleaved(
            repeats,
            litlab=lambda: until_first_step([*train, "seed=1"], env, Path(logs)),
            plain=lambda: wall([PYTHON, "-c", "import lightning"], env),
        )
    report.add(
        f"{jobs}-job diabetes sweep, sequential launcher", r["litlab"], r["plain"], "s", "<= 1.15x floor",
        r["bare"],
    )  # fmt: skip
    report.add(f"  floor: {jobs} bare Lightning runs in one process", r["bare"], r["plain"], "s", "")
    report.add(f"{jobs}-job diabetes sweep, joblib launcher (2 jobs)", r["parallel"], r["plain"], "s", "")
    speedup = statistics.median(r["litlab"]) / statistics.median(r["parallel"])
    print(f"| joblib speed-up over sequential | {speedup:.2f}x | | | >= 1.7x |")
    report.add(
        f"diabetes {folds}-fold CV run, {epochs} epochs a fold", cv["litlab"], cv["plain"], "s",
        "<= 1.15x floor", cv["bare"],
    )  # fmt: skip
    report.add(f"  floor: {folds} bare Lightning runs in one process", cv["bare"], cv["plain"], "s", "")
    report.add(
        "train.py experiment=diabetes to its first step (plain: import lightning)",
        first["litlab"], first["plain"], "s", "<= 1.3x",
    )  # fmt: skip

    # A user's table (data=table): reading and setting up a mixed CSV, each in a process of its own.
    rows = 2_000 if quick else 200_000
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "table.csv"
        subprocess.run([PYTHON, "scripts/benchmark_table.py", "--write", str(table), f"--rows={rows}"],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        runs = [
            json.loads(subprocess.run([PYTHON, "scripts/benchmark_table.py", str(table)], cwd=ROOT, env=env,
                                      check=True, capture_output=True, text=True).stdout)
            for _ in range(repeats)
        ]  # fmt: skip
    seconds = [r["seconds"] for r in runs]
    report.add(f"{rows:,} x 50 CSV read + setup (data=table)", seconds, None, "s", "<= 3 s")
    peak = statistics.median(r["peak_bytes"] for r in runs)
    matrix = runs[0]["matrix_bytes"]
    sizes = f"{peak / 1e6:.0f} MB / {matrix / 1e6:.0f} MB, {runs[0]['features']} encoded features"
    print(f"|   peak memory of that setup / its float32 feature matrix | {peak / matrix:.2f}x "
          f"({sizes}) | | | <= 3x |",
          flush=True)  # fmt: skip

    # A search: what the median pruner saves against the same search unpruned (one run each, same seed).
    searches = subprocess.run(
        [PYTHON, "scripts/benchmark_search.py", *(["--quick"] if quick else [])],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    pruned, unpruned = (json.loads(line) for line in searches)
    n = pruned["trials"]
    report.add(
        f"{n}-trial diabetes search, median pruner (plain: none)", [pruned["seconds"]], [unpruned["seconds"]],
        "s", "",
    )  # fmt: skip
    best_ratio, epochs_ratio = pruned["best"] / unpruned["best"], pruned["epochs"] / unpruned["epochs"]
    print(f"|   its best val/loss (plain: unpruned) | {pruned['best']:.4f} | {unpruned['best']:.4f} | "
          f"{best_ratio:.3f}x | <= 1.02x |")  # fmt: skip
    print(f"|   epochs its trials trained ({pruned['pruned']} of {n} pruned) | {pruned['epochs']} | "
          f"{unpruned['epochs']} | {epochs_ratio:.2f}x | <= 0.50x |", flush=True)  # fmt: skip

    # Cross-validation as one population (cv.vectorize=true) against the folds one by one: five whole
    # processes even in a smoke run, so --quick leaves them to `benchmark_population.py --quick` (a
    # slow test runs it).
    if not quick:
        population = subprocess.run(
            [PYTHON, "scripts/benchmark_population.py", f"--repeats={repeats}"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        ).stdout.splitlines()  # fmt: skip
        for line in (json.loads(line) for line in population if line.startswith("{")):
            theirs = None if line["theirs"] is None else [line["theirs"]]
            report.add(line["row"], [line["ours"]], theirs, "s", line["target"])

    # What any Lightning program pays before its first step.
    r = interleaved(
        repeats,
        litlab=lambda: wall([PYTHON, "-c", "import lightning"], env),
        plain=lambda: wall([PYTHON, "-c", "import torch"], env),
    )
    report.add("  floor: import lightning (plain: import torch)", r["litlab"], r["plain"], "s", "")

    for flag in ("--cfg job", "--help"):
        r = interleaved(repeats, litlab=lambda f=flag: wall([PYTHON, "train.py", *f.split()], env))
        report.add(
            f"python train.py {flag}", r["litlab"], None, "s", "<= 1.0 s" if flag == "--cfg job" else ""
        )


if __name__ == "__main__":
    main()
