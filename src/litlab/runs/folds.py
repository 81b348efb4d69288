"""What a cross-validation run leaves in its folder, beside status.json and config.yaml:

    fold_<repeat>_<k>/        each fold's own run folder: checkpoints/, event files, metrics.json, report
    metrics.json              the CV means under the metrics' own names (what sweeps read), and under
                              "cv" every metric's mean, std, 95% CI (Student t over folds), n and
                              each fold's value
    oof_predictions.csv       every row's out-of-fold prediction: row, repeat, fold, target, prediction,
                              and one probability column per class (classification)
    confusion_matrix.*, classification_report.md   a classifier's pooled report of those predictions

The folds themselves are cut in the data layer (litlab.data.folds). Light: no torch at import.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from litlab.runs.files import metrics_text, read_metrics
from litlab.runs.layout import BEST_NAME, METRICS_FILE, checkpoint_dir, fold_dirs, last_checkpoint
from litlab.runs.stats import summarize
from litlab.runs.status import read_status
from litlab.runtime.files import write_text_atomic

log = logging.getLogger(__name__)

OOF_FILE = "oof_predictions.csv"


def cv_settings(cfg: DictConfig) -> dict[str, int] | None:
    """{"folds", "repeats"} of a config that asks for cross-validation (cv.folds set); None otherwise."""
    cv = cfg.get("cv")
    if cv is None or cv.get("folds") is None:
        return None
    settings = {"folds": cv.folds, "repeats": cv.get("repeats", 1)}
    if cv.get("vectorize"):  # only when set: the runs from before it say the same
        settings["vectorize"] = True
    return settings


def cv_enabled(cfg: DictConfig) -> bool:
    """Whether the config asks for cross-validation (cv.folds set)."""
    return cv_settings(cfg) is not None


def check_cv_config(cfg: DictConfig, overrides: list[str]) -> None:
    """cv.repeats needs cv.folds, and a test fraction asked for on the command line (`overrides`) does
    not combine with cv.folds (the values themselves are checked with the data: data.folds.check_cv;
    which checkpoints a CV run resumes from: runs.resume)."""
    if not cv_enabled(cfg):
        repeats = cfg.get("cv", {}).get("repeats", 1)
        if repeats != 1:  # repeats of a single split would silently be one run
            raise ValueError(f"cv.repeats={repeats} without cv.folds repeats nothing; give cv.folds=5 too")
        return
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key == "data.test_fraction":
            folds = cfg.cv.folds
            raise ValueError(
                f"data.test_fraction={value} with cv.folds={folds}: under cross-validation each fold tests "
                f"on 1/{folds} of the rows (every row once per repeat), so a fixed test fraction cannot "
                "apply. Drop data.test_fraction, or run the single split without cv.folds"
            )


def check_one_process(trainer: Any, cfg: DictConfig) -> None:
    """Cross-validation runs its folds in this one process; the ranks of DDP would each need them all."""
    if trainer.world_size > 1:
        raise ValueError(
            f"cv.folds={cfg.cv.folds} runs on one device, but the trainer has {trainer.world_size} processes "
            "(CV on several devices is not supported yet); give trainer.devices=1 and trainer.num_nodes=1"
        )


def fold_config(cfg: DictConfig, fold_dir: Path) -> DictConfig:
    """The config whose trainer, loggers and callbacks write into `fold_dir` rather than the run folder,
    and whose figures' titles name the fold."""
    fold_cfg = copy.deepcopy(cfg)
    OmegaConf.update(fold_cfg, "paths.output_dir", str(fold_dir))
    OmegaConf.update(fold_cfg, "title", f"{cfg.get('title') or cfg.task_name} ({fold_dir.name})")
    return fold_cfg


def fold_seed(seed: int, n: int) -> int:
    """The seed of the n-th fold's weights and batches: drawn from the run's seed, distinct per fold."""
    import numpy as np

    return int(np.random.SeedSequence([seed, n]).generate_state(1)[0])


def headline(name: str, summary: dict[str, Any]) -> str:
    """One console line: `test/acc 0.768 ± 0.021 (95% CI 0.741-0.795, 5 folds)`."""
    low, high = summary["ci95"]
    interval = f"{low:.3f} to {high:.3f}" if min(low, high) < 0 else f"{low:.3f}-{high:.3f}"
    return f"{name} {summary['mean']:.3f} ± {summary['std']:.3f} (95% CI {interval}, {summary['n']} folds)"


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """Out-of-fold rows as CSV text (floats as repr: they read back exactly)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def parse_row(row: dict[str, str], classification: bool) -> dict[str, Any]:
    """One row of an out-of-fold CSV with its numbers back: indices (and a classifier's target and
    prediction) as int, the rest as float."""
    whole = {"row", "repeat", "fold", *(("target", "prediction") if classification else ())}
    return {key: int(value) if key in whole else float(value) for key, value in row.items()}


def tested_checkpoints(run_dir: Path) -> dict[str, Path]:
    """{fold name: the checkpoint its test used} of a finished cross-validation run, in fold order: each
    fold's best epoch (by the name its status.json records, so a moved folder still finds it), or its
    last.ckpt when it tested its final weights. Refused for an unfinished run, or a folder of none."""
    folds = fold_dirs(run_dir)
    status = read_status(run_dir) or {}
    if not folds:
        raise ValueError(
            f"{run_dir} is not a cross-validation run (it has no fold_<repeat>_<k> folders); give a "
            f"checkpoint file instead: the one its test used is ckpt_path={tested_checkpoint(run_dir)}"
        )
    if status.get("status") != "ok":
        done = sum((fold / METRICS_FILE).is_file() for fold in folds)
        raise ValueError(
            f"the cross-validation run in {run_dir} has not finished ({status.get('status', 'no status')}, "
            f"{done} of {status.get('folds_total', '?')} folds done); finish it first: python train.py "
            "<its overrides> ckpt_path=last"
        )
    tested = {}
    for fold in folds:
        path = tested_checkpoint(fold)
        if not path.is_file():
            raise FileNotFoundError(f"{fold.name}: its tested checkpoint {path} is missing")
        tested[fold.name] = path
    return tested


def tested_checkpoint(run_dir: Path) -> Path:
    """The checkpoint a run (or fold) tested: its best epoch's, by the name its status.json records (so
    a moved folder still finds it), else its last.ckpt (it tested its final weights). A folder with
    neither gets the pattern of the name, epoch_NNN.ckpt, for messages."""
    best = (read_status(run_dir) or {}).get("best_checkpoint")
    path = checkpoint_dir(run_dir) / Path(best).name if best else last_checkpoint(run_dir)
    if best or path.is_file():
        return path
    return checkpoint_dir(run_dir) / f"{BEST_NAME.replace('{epoch:03d}', 'NNN')}.ckpt"


class CrossValidationResults:
    """Collects each fold's metrics and out-of-fold predictions; `write()` leaves the run's files."""

    def __init__(self, run_dir: Path, folds: int, repeats: int, title: str = "") -> None:
        self.run_dir = run_dir
        self.title = title  # the run's, for the pooled report's figure and table
        self.folds, self.repeats = folds, repeats
        self.per_fold: dict[str, dict[str, float]] = {}
        self.rows: list[dict[str, Any]] = []
        self.class_names: list[str] = []  # empty for a regression
        self.pooled_figure: tuple[Any, bytes] | None = None  # (its confusion, its PNG), drawn elsewhere

    def fold_dir(self, name: str) -> Path:
        """A fold's own folder under the run folder."""
        return self.run_dir / name

    def add(
        self,
        fold: Any,
        metrics: dict[str, float],
        targets: Any,
        outputs: Any,
        task: str,
        class_names: list[str],
        fit: dict[str, Any] | None = None,
    ) -> None:
        """One finished fold: its metrics, and the model's outputs on its test rows (probabilities for a
        classifier, predictions for a regressor), in the order of `fold.test`. The fold's folder gets
        its out-of-fold rows and then its metrics.json, the mark of a finished fold (`restore`)."""
        targets, outputs = targets.tolist(), outputs.tolist()
        rows = []
        for row, target, output in zip(fold.test.tolist(), targets, outputs, strict=True):
            record: dict[str, Any] = {"row": row, "repeat": fold.repeat, "fold": fold.index}
            if task == "regression":
                for j, (t, p) in enumerate(zip(target, output, strict=True)):
                    suffix = "" if len(target) == 1 else f"_{j}"
                    record[f"target{suffix}"], record[f"prediction{suffix}"] = t, p
            else:
                record["target"] = target
                record["prediction"] = max(range(len(output)), key=output.__getitem__)
                record.update({f"p_{name}": p for name, p in zip(class_names, output, strict=True)})
            rows.append(record)
        fold_dir = self.fold_dir(fold.name)
        write_text_atomic(fold_dir / OOF_FILE, rows_to_csv(rows))
        write_text_atomic(fold_dir / METRICS_FILE, metrics_text(metrics, fit))
        self.keep(fold, metrics, rows, class_names if task != "regression" else [])

    def add_tested(
        self,
        fold: Any,
        metrics: dict[str, float],
        trainer: Any,
        model: Any,
        datamodule: Any,
        class_names: Any,
        fit: dict[str, Any] | None = None,
    ) -> None:
        """One fold, tested: `add` with the model's outputs on the fold's test rows (predict_step)."""
        import torch

        outputs = torch.cat(trainer.predict(model, datamodule=datamodule))
        self.add(fold, metrics, datamodule.splits["test"][1], outputs, model.task, list(class_names), fit)

    def restore(self, fold: Any, class_names: list[str]) -> None:
        """A fold finished by an earlier, interrupted process of this run: its files, read back."""
        fold_dir = self.fold_dir(fold.name)
        metrics = read_metrics(fold_dir)
        with (fold_dir / OOF_FILE).open(newline="") as file:
            rows = [parse_row(row, classification=bool(class_names)) for row in csv.DictReader(file)]
        self.keep(fold, metrics, rows, class_names)
        log.info("%s finished earlier: kept (%s)", fold.name, fold_dir / METRICS_FILE)

    def keep(self, fold: Any, metrics: dict[str, float], rows: list[dict[str, Any]], class_names: list[str]):
        """Hold one fold's metrics and rows for the run's files."""
        self.per_fold[fold.name] = dict(metrics)
        self.rows.extend(rows)
        self.class_names = list(class_names)

    def values(self, name: str) -> list[float]:
        """The folds' values of metric `name` so far, in fold order."""
        return [metrics[name] for metrics in self.per_fold.values() if name in metrics]

    def pooled_confusion(self) -> tuple[Any, str]:
        """The confusion matrix of every out-of-fold prediction so far (each row once per repeat), and
        its report's title."""
        import torch

        from litlab.callbacks.classification_report import confusion_counts

        targets, predicted = (
            torch.tensor([r[name] for r in self.rows], dtype=torch.long) for name in ("target", "prediction")
        )
        confusion = confusion_counts(targets, predicted, len(self.class_names))
        title = f"{self.title} (out-of-fold, {self.folds} folds x {self.repeats})" if self.title else ""
        return confusion, title

    def write_pooled_report(self) -> None:
        """The confusion matrix and classification report of every out-of-fold prediction, in the run
        folder beside each fold's own; its figure is `pooled_figure`'s where that was drawn for the same
        counts (a population's, by its drawing process: population/fold_files.py)."""
        import torch

        from litlab.callbacks.classification_report import write_report

        confusion, title = self.pooled_confusion()
        drawn = self.pooled_figure
        png = drawn[1] if drawn is not None and torch.equal(drawn[0], confusion) else None
        write_report(self.run_dir, confusion, self.class_names, title, png)

    def aggregate(self) -> dict[str, dict[str, Any]]:
        """Every metric over the folds: mean, std, ci95, n, and each fold's value."""
        names = sorted({name for metrics in self.per_fold.values() for name in metrics})
        result = {}
        for name in names:
            by_fold = {fold: m[name] for fold, m in self.per_fold.items() if name in m}
            result[name] = {**summarize(list(by_fold.values())), "per_fold": by_fold}
        return result

    def write(self, optimized: str | None) -> dict[str, float]:
        """metrics.json and oof_predictions.csv; log one line for the optimized metric and for each test
        metric; return the means."""
        detail = self.aggregate()
        headlines = [optimized, *(name for name in detail if name.startswith("test/"))]
        means = {name: d["mean"] for name, d in detail.items()}
        cv = {"folds": self.folds, "repeats": self.repeats, "metrics": detail}
        text = json.dumps({**means, "cv": cv}, indent=2, sort_keys=True, allow_nan=True) + "\n"
        write_text_atomic(self.run_dir / METRICS_FILE, text)
        rows = sorted(self.rows, key=lambda r: (r["repeat"], r["row"]))
        write_text_atomic(self.run_dir / OOF_FILE, rows_to_csv(rows))
        if self.class_names:
            self.write_pooled_report()
        log.info(
            "Cross-validation, %d folds x %d repeat%s: %s, %s%s", self.folds, self.repeats,
            "s" if self.repeats != 1 else "",
            self.run_dir / METRICS_FILE, self.run_dir / OOF_FILE,
            " and the pooled classification_report.md" if self.class_names else "",
        )  # fmt: skip
        for name in dict.fromkeys(headlines):
            if name in detail:
                log.info(headline(name, detail[name]))
        return means
