"""What pruning saves: the diabetes search (hparams_search=diabetes_optuna) with its median pruner against
the same search without pruning, same sampler seed, one trial after another, one torch thread.

    python scripts/benchmark_search.py [--trials 24] [--seed 0] [--quick]

Prints one JSON object per search (pruner, best val/loss, epochs trained by all its trials, trials
pruned, wall seconds); scripts/benchmark.py turns them into rows. Epochs are counted from each trial's
status.json (a pruned trial's epochs are those it trained before it was stopped). Data: LITLAB_DATA_DIR.
`--quick` runs 3 trials of 3 epochs each: a smoke run whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_search(pruner: str, trials: int, seed: int, logs: Path, quick: bool) -> dict:
    """One search in a process of its own; what it found and what it cost."""
    # Its own study per seed and mode: a study resumed with other settings is refused (runs/study.py).
    study = f"benchmark-{pruner}-seed{seed}{'-quick' if quick else ''}"
    command = [
        sys.executable, "train.py", "-m", "experiment=diabetes", "hparams_search=diabetes_optuna",
        f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.pruner={pruner}",
        f"hydra.sweeper.study_name={study}", f"seed={seed}", "threads=1", f"paths.log_dir={logs}",
    ]  # fmt: skip
    if quick:
        command += ["trainer.max_epochs=3", "hydra.sweeper.pruner_args.median.n_warmup_steps=1"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=os.environ, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    from omegaconf import OmegaConf

    folder = logs / "diabetes" / "searches" / study
    results = OmegaConf.load(folder / "optimization_results.yaml")
    statuses = [json.loads(p.read_text()) for p in folder.glob("*/status.json")]
    return {
        "pruner": pruner,
        "trials": trials,
        "best": results.get("best_value"),
        "epochs": sum(int(s.get("epochs", 0)) for s in statuses),
        "pruned": results.n_trials.pruned,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 trials of 3 epochs")
    parser.add_argument("--logs", type=Path, help="keep the studies there (default: a temporary folder)")
    args = parser.parse_args()
    trials = 3 if args.quick else args.trials
    with tempfile.TemporaryDirectory() as temporary:
        for pruner in ("median", "none"):
            result = run_search(pruner, trials, args.seed, args.logs or Path(temporary), args.quick)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
