"""Vectorised cross-validation (cv.vectorize=true) against the folds one by one: rows for benchmark.py.

    python scripts/benchmark_population.py [--repeats 1] [--quick]

Whole processes of `train.py` (imports included): diabetes 5x5 CV vectorised against one single run and
against the sequential 5x5 CV, and CAF 5x5 CV vectorised against sequential; in this process, the
population's fit (25 members, 100 epochs, no early stopping) against one bare-Lightning fit of one member
(the same net, optimizer and batches: scripts/bare_lightning.py); and the results report's tabular part
from empty cells (`scripts/results.py --only tabular`, which uses the population wherever it applies), its
wall time alone. Prints one JSON line per row: {"row", "ours", "theirs" (null: none), "target"} in seconds
(medians of --repeats), which benchmark.py tabulates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bare_lightning import diabetes_fit
from benchmark import interleaved, wall

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def population_fit(overrides: list[str], epochs: int) -> float:
    """Seconds of Trainer.fit of a CV config's population, without loggers, checkpoints or a bar."""
    import lightning as L
    from results_cells import compose

    from litlab.population.run import build_population
    from litlab.train import setup_data

    cfg = compose([*overrides, f"trainer.max_epochs={epochs}", "callbacks.early_stopping=null"])
    datamodule = setup_data(cfg)
    folds = datamodule.folds(cfg.cv.folds, cfg.cv.repeats)
    module, _, _ = build_population(cfg, datamodule, folds, [[] for _ in folds])
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 folds, 3 epochs")
    args = parser.parse_args()
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    env = {**os.environ, "LITLAB_DATA_DIR": os.environ.get("LITLAB_DATA_DIR", str(ROOT / "data"))}
    folds, repeats = (2, 1) if args.quick else (5, 5)
    quick = ["trainer.max_epochs=3"] if args.quick else []
    cv = [f"cv.folds={folds}", f"cv.repeats={repeats}", "seed=1", *quick]
    label = f"{folds}x{repeats}"

    def row(name: str, ours: list[float], theirs: list[float] | None, target: str) -> None:
        line = {
            "row": name,
            "ours": statistics.median(ours),
            "theirs": statistics.median(theirs) if theirs else None,
            "target": target,
        }
        print(json.dumps(line), flush=True)

    with tempfile.TemporaryDirectory() as logs:
        train = [PYTHON, "train.py", f"paths.log_dir={logs}"]
        times = interleaved(  # so drifting load hits every side alike
            args.repeats,
            vec=lambda: wall([*train, "experiment=diabetes", *cv, "cv.vectorize=true"], env),
            single=lambda: wall([*train, "experiment=diabetes", "seed=1", *quick], env),
            seq=lambda: wall([*train, "experiment=diabetes", *cv], env),
            caf_vec=lambda: wall([*train, "experiment=caf_adam", *cv, "cv.vectorize=true"], env),
            caf_seq=lambda: wall([*train, "experiment=caf_adam", *cv], env),
        )
    row(f"diabetes {label} CV, vectorised (vs one single run), whole process", times["vec"], times["single"],
        "<= 2.0x")  # fmt: skip
    row(
        f"diabetes {label} CV, sequential (vs vectorised), whole process", times["seq"], times["vec"], ">= 8x"
    )
    row(
        f"CAF {label} CV, sequential (vs vectorised), whole process",
        times["caf_seq"],
        times["caf_vec"],
        ">= 3x",
    )
    epochs = 3 if args.quick else 100
    sides = interleaved(
        args.repeats,
        fit=lambda: population_fit(["experiment=diabetes", *cv[:3]], epochs),
        bare=lambda: diabetes_fit(1, epochs)[1],
    )
    row(f"diabetes population fit, {folds * repeats} members, {epochs} epochs (vs one bare-Lightning fit)",
        sides["fit"], sides["bare"], "<= 2.0x")  # fmt: skip
    if not args.quick:  # the results report's tabular part from empty cells (its --quick has its test)
        seconds = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as results:
                report = ["--only=tabular", f"--results-dir={results}", f"--report={results}/results.md"]
                seconds.append(wall([PYTHON, "scripts/results.py", *report], env))
        row("results report, tabular part from empty cells (cells side by side, one per core)", seconds, None,
            "<= 180 s")  # fmt: skip


if __name__ == "__main__":
    main()
