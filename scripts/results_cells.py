"""What scripts/results.py's cells are made of: configs composed as train.py composes them, the data and
folds scikit-learn sees, the scikit-learn models, and train.py run in a subprocess (see results.py)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from litlab.runs.status import is_live, read_status
from litlab.runtime.resolvers import REPO_ROOT

# Set to stop every running cell (Ctrl-C, SIGTERM): a train.py run is terminated, a scikit-learn cell
# stops before its next fold. (A cell that fails lets the others finish: results.py, run_cells.)
STOP = threading.Event()


def sklearn_models(seed: int) -> dict[str, Any]:
    """The scikit-learn baselines, by name: defaults, standardised where the model needs it, seeded."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    def scaled(model: Any) -> Any:
        return make_pipeline(StandardScaler(), model)

    return {
        "LogisticRegression": scaled(LogisticRegression(max_iter=5000, random_state=seed)),
        "SVC (RBF)": scaled(SVC(kernel="rbf", random_state=seed)),
        "HistGradientBoosting": HistGradientBoostingClassifier(random_state=seed),
        "RandomForest": RandomForestClassifier(random_state=seed),
        "MLPClassifier": scaled(MLPClassifier(max_iter=2000, random_state=seed)),
    }


def compose(overrides: list[str]) -> DictConfig:
    """conf/train.yaml composed with `overrides` as train.py composes it, with Hydra's own section (it
    names the chosen data config)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import litlab  # noqa: F401  (registers the config resolvers)

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=overrides, return_hydra_config=True)


def config_key(cfg: DictConfig) -> dict[str, Any]:
    """What a training run's numbers depend on: the composed config as written (Hydra's section aside),
    and the data's resolved values (data_dir comes from the environment, seed from the top level)."""
    body = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    return {
        "config": OmegaConf.to_container(body, resolve=False),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
    }


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@dataclass
class Data:
    """A data set's raw rows (float64 features, int labels), its fold plan and what each fold tests."""

    name: str
    x: np.ndarray
    y: np.ndarray
    plan: list[Any]
    tested: dict[str, list[int]]
    rows_digest: str
    tested_digest: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """Rows, features, classes."""
        return len(self.y), self.x.shape[1], int(self.y.max()) + 1


class Datasets:
    """The data of each data config, read once per invocation; configs that give the same rows and
    folds (diabetes and diabetes_logistic) share one `Data`."""

    def __init__(self) -> None:
        self.by_config: dict[str, Data] = {}
        self.by_content: dict[tuple[str, str], Data] = {}

    def get(self, cfg: DictConfig, folds: int, repeats: int) -> Data:
        from litlab.train import setup_data

        key = digest([OmegaConf.to_container(cfg.data, resolve=True), folds, repeats])
        if key not in self.by_config:
            datamodule = setup_data(cfg.copy())
            x, y = (np.ascontiguousarray(t.numpy()) for t in datamodule.rows)
            plan = datamodule.folds(folds, repeats)
            tested = {f.name: sorted(f.test.tolist()) for f in plan}
            rows = hashlib.sha256(x.tobytes() + y.tobytes() + str(x.shape).encode()).hexdigest()
            data = Data(
                cfg.hydra.runtime.choices.data, x.astype(np.float64), y.astype(np.int64), plan, tested,
                rows, digest(tested),
            )  # fmt: skip
            self.by_config[key] = self.by_content.setdefault((rows, data.tested_digest), data)
        return self.by_config[key]


def oof_tested(run_dir: Path) -> dict[str, list[int]]:
    """The rows each fold of a CV run tested, read from its oof_predictions.csv."""
    tested: dict[str, list[int]] = {}
    with open(run_dir / "oof_predictions.csv", newline="") as f:
        for record in csv.DictReader(f):
            tested.setdefault(f"fold_{record['repeat']}_{record['fold']}", []).append(int(record["row"]))
    return {name: sorted(rows) for name, rows in tested.items()}


def watch(process: subprocess.Popen, run_dir: Path, show: Callable[[str], None]) -> None:
    """Until `process` ends: the folds done as they change, or (a single run) every 30 s the time and
    the best epoch so far."""
    shown, start, beat = None, time.perf_counter(), 0
    while process.poll() is None:
        if STOP.wait(0.5):
            raise KeyboardInterrupt
        status, seconds = read_status(run_dir) or {}, time.perf_counter() - start
        done = status.get("folds_done"), status.get("folds_total")
        if done[1] and done != shown:
            show(f"{done[0]}/{done[1]} folds done, {seconds:.0f} s")
            shown = done
        elif not done[1] and seconds >= beat + 30:
            best = sorted(p.stem for p in (run_dir / "checkpoints").glob("epoch_*.ckpt"))
            show(f"{seconds:.0f} s" + (f", best checkpoint so far {best[-1]}" if best else ""))
            beat += 30


def run_train(overrides: list[str], run_dir: Path, show: Callable[[str], None]) -> dict[str, Any]:
    """`python train.py overrides` into `run_dir`, showing its progress; returns its metrics.json. Its
    output goes to `<run_dir>.log`. An unfinished CV run there resumes (`ckpt_path=last`: its finished
    folds are kept; the fold it was in starts again, having no last.ckpt); any other unfinished attempt
    is removed, and a run that finished before its cell was recorded is read as it is."""
    resume = []
    if run_dir.exists():
        status = read_status(run_dir) or {}
        if is_live(status):
            raise RuntimeError(f"{run_dir} is in use by a live run; let it finish, or stop it, first")
        if status.get("status") == "ok" and (run_dir / "metrics.json").is_file():
            return json.loads((run_dir / "metrics.json").read_text())
        if status.get("cv") and status.get("status") in ("running", "interrupted"):
            resume = ["ckpt_path=last"]
            show(f"resuming its unfinished CV run ({status.get('folds_done', 0)} folds done are kept)")
        else:
            shutil.rmtree(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = run_dir.with_name(run_dir.name + ".log")
    command = [sys.executable, "train.py", *overrides, *resume, f"hydra.run.dir={run_dir}"]
    with open(log, "a" if resume else "w") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            watch(process, run_dir, show)
        except KeyboardInterrupt:  # stop the run too (it may not have had the signal): no orphan trains on
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
            raise
    if process.returncode:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}); its log, {log}:\n{tail}")
    return json.loads((run_dir / "metrics.json").read_text())
