"""The evaluation task: test a checkpoint again and print the lectures' classification report; or,
given a cross-validation run's folder, test every fold's checkpoint on that fold's test rows.

python eval.py ckpt_path=logs/diabetes/runs/<time>/checkpoints/epoch_029.ckpt
python eval.py ckpt_path=logs/diabetes/runs/<time>      # a CV run: every fold, and their means
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

import litlab  # noqa: F401  (registers the config resolvers)
from litlab.runs.files import read_fold_metrics, write_metrics
from litlab.runs.layout import written
from litlab.runs.lifecycle import run_lifecycle
from litlab.runtime.cli import entry_point
from litlab.runtime.console import set_up_console
from litlab.runtime.errors import errors_in_one_line
from litlab.runtime.resolvers import REPO_ROOT

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Recompute the test metrics of `cfg.ckpt_path` on the split it was trained with (a CV run's
    folder: on each fold's test rows); write them and the classification report into this run's folder
    and print them."""
    set_up_console(cfg.get("verbose", False))
    run_dir = Path(cfg.paths.output_dir)
    with run_lifecycle(run_dir) as run:
        run.begin()
        if Path(cfg.ckpt_path).is_dir():
            metrics = evaluate_folds(cfg, Path(cfg.ckpt_path), run_dir)
        else:
            metrics = evaluate_checkpoint(cfg, run_dir)
        run.finish()
    log.info("Run dir: %s (%s)", run_dir, written(run_dir))
    return metrics


def run_title_of(config: DictConfig) -> str:
    """The training run's title (config.yaml's; a checkpoint from before titles: its task_name)."""
    return config.get("title") or config.get("task_name") or ""


def eval_trainer(cfg: DictConfig, config: DictConfig, root: Path, callbacks: list[Any] = ()):
    """A Trainer that only tests: the training run's numeric precision (bf16-mixed on a GPU) unless
    eval.yaml's trainer sets one; no logger, no checkpoints."""
    import lightning as L

    settings = {"precision": config.trainer.get("precision", "32-true"), **cfg.trainer}
    return L.Trainer(
        **settings, logger=False, callbacks=list(callbacks), default_root_dir=root, enable_checkpointing=False
    )


def evaluate_checkpoint(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    """One checkpoint on its run's test split, with the classification report."""
    from litlab.callbacks.classification_report import ClassificationReport
    from litlab.checkpoints.rebuild import rebuild

    config, datamodule, model, _ = rebuild(cfg.ckpt_path, cfg.get("data_dir"))
    report = ClassificationReport(title=run_title_of(config))
    # The weights and fitted preprocessing are already in place: no ckpt_path for Lightning to restore.
    results = eval_trainer(cfg, config, run_dir, [report]).test(model, datamodule=datamodule, verbose=False)
    metrics = {name: float(value) for name, value in sorted(results[0].items())}
    write_metrics(run_dir, metrics)
    lines = [f"Test metrics of {cfg.ckpt_path}:", *(f"  {k:<16} {v:.4f}" for k, v in metrics.items())]
    print("\n".join(lines) + "\n\n" + report.markdown, flush=True)
    return metrics


def evaluate_folds(cfg: DictConfig, cv_run: Path, run_dir: Path) -> dict[str, float]:
    """Every fold's tested checkpoint on that fold's test rows (the data read once, each fold's
    preprocessing fitted on its training part as in training); this folder gets what the CV run's has:
    each fold's metrics, the means with their spread, out-of-fold predictions and the pooled report."""

    from litlab.checkpoints.io import load_checkpoint
    from litlab.checkpoints.rebuild import build_model, rebuild
    from litlab.runs.folds import CrossValidationResults, tested_checkpoints

    tested = tested_checkpoints(cv_run)
    config, datamodule, _, _ = rebuild(next(iter(tested.values())), cfg.get("data_dir"))
    datamodule.prepare_data()
    datamodule.setup("fit")
    folds = {fold.name: fold for fold in datamodule.folds(config.cv.folds, config.cv.repeats)}
    results = CrossValidationResults(run_dir, config.cv.folds, config.cv.repeats, run_title_of(config))
    trained = read_fold_metrics(cv_run)
    lines = [f"Test metrics of the {len(tested)} folds of {cv_run} (the training run's in brackets):"]
    for name, path in tested.items():
        model = build_model(config, load_checkpoint(path))
        datamodule.use_fold(folds[name])
        trainer = eval_trainer(cfg, config, run_dir / name)
        metrics = {
            k: float(v)
            for k, v in sorted(trainer.test(model, datamodule=datamodule, verbose=False)[0].items())
        }
        results.add_tested(folds[name], metrics, trainer, model, datamodule, config.from_data.class_names)
        shown = (f"{k} {v:.4f} ({trained.get(k, {}).get(name, float('nan')):.4f})"
                 for k, v in metrics.items())  # fmt: skip
        lines.append(f"  {name}: " + ", ".join(shown))
    print("\n".join(lines), flush=True)
    return results.write(None)


@entry_point
@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: `litlab-eval ckpt_path=...` or `python eval.py ckpt_path=...`."""
    with errors_in_one_line():
        evaluate(cfg)
