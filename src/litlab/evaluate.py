"""The evaluation task: test a checkpoint again and print the lectures' classification report.

python eval.py ckpt_path=logs/diabetes/runs/<time>/checkpoints/epoch_029.ckpt
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

import litlab  # noqa: F401  (registers the config resolvers)
from litlab.runs.files import write_metrics
from litlab.runs.lifecycle import run_lifecycle
from litlab.runtime.logging import lightning_logs_through_hydra
from litlab.runtime.resolvers import REPO_ROOT

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Recompute the test metrics of `cfg.ckpt_path` on the split it was trained with; write metrics.json
    and the classification report into this run's folder and print them."""
    import lightning as L

    from litlab.callbacks.classification_report import ClassificationReport
    from litlab.checkpoints.rebuild import rebuild

    lightning_logs_through_hydra()
    run_dir = Path(cfg.paths.output_dir)
    with run_lifecycle(run_dir) as run:
        run.begin()
        config, datamodule, model, _ = rebuild(cfg.ckpt_path, cfg.get("data_dir"))
        report = ClassificationReport()
        # The training run's numeric precision (bf16-mixed on a GPU) unless eval.yaml's trainer sets one.
        settings = {"precision": config.trainer.get("precision", "32-true"), **cfg.trainer}
        trainer = L.Trainer(
            **settings, logger=False, callbacks=[report], default_root_dir=run_dir, enable_checkpointing=False
        )
        # The weights and fitted preprocessing are already in place: no ckpt_path for Lightning to restore.
        results = trainer.test(model, datamodule=datamodule, verbose=False)[0]
        metrics = {name: float(value) for name, value in sorted(results.items())}
        write_metrics(run_dir, metrics)
        run.finish()
    lines = [f"Test metrics of {cfg.ckpt_path}:", *(f"  {k:<16} {v:.4f}" for k, v in metrics.items())]
    print("\n".join(lines) + "\n\n" + report.markdown, flush=True)
    log.info("Run dir: %s (metrics.json, classification_report.md, confusion_matrix.png)", run_dir)
    return metrics


@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: `litlab-eval ckpt_path=...` or `python eval.py ckpt_path=...`."""
    evaluate(cfg)
