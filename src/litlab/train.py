"""The training task: seed, instantiate, fit, test the best checkpoint, write the run's results.

Run it through the entry point: `python train.py experiment=diabetes` (see conf/train.yaml).
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import litlab  # noqa: F401  (registers the config resolvers)
from litlab.ddp_launch import ddp_ranks_for_this_job
from litlab.hydra_logging import lightning_logs_through_hydra
from litlab.resolvers import REPO_ROOT
from litlab.run_files import write_run_files
from litlab.threads import thread_count

log = logging.getLogger(__name__)

# Config sections that describe the experiment, logged as hyperparameters (HParams tab).
HPARAM_SECTIONS = ("task_name", "seed", "data", "model", "trainer")


def instantiate_each(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group such as `callbacks` or `logger`; null entries are off."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and "_target_" in entry]


def best_checkpoint(trainer) -> str | None:
    """Path of the best checkpoint, or None (final weights) when checkpointing was off."""
    callback = trainer.checkpoint_callback
    if callback is not None and callback.best_model_path:
        return callback.best_model_path
    log.warning("No best checkpoint (checkpointing off or fast_dev_run): evaluating the final weights.")
    return None


def log_hparams(trainer, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """Log the resolved config with the final metrics, so TensorBoard's HParams tab compares runs."""
    from lightning.pytorch.loggers import TensorBoardLogger

    resolved = OmegaConf.to_container(cfg, resolve=True)
    params = {key: resolved[key] for key in HPARAM_SECTIONS if key in resolved}
    final = {f"final/{name}": value for name, value in metrics.items()}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, metrics=final)
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(final, step=trainer.global_step)
        logger.finalize("success")


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from: `ckpt_path` as given, or for `last` this run's checkpoints/last.ckpt.

    For a single run, `ckpt_path=last` already chose the most recent run's folder as this run's folder
    (conf/hydra/default.yaml). A sweep job (for example one requeued on a cluster) resumes its own
    last.ckpt when it has one and starts afresh otherwise.
    """
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path != "last":
        return ckpt_path
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if last.is_file():
        return str(last)
    from litlab.job_status import in_multirun

    # A sweep job, or a DDP rank > 0 of one (rank 0 already chose to start afresh).
    ddp_child = int(os.environ.get("LOCAL_RANK", 0)) > 0 or int(os.environ.get("NODE_RANK", 0)) > 0
    if ddp_child or in_multirun():
        log.info("ckpt_path=last: %s does not exist yet, starting afresh", last)
        return None
    raise ValueError(
        f"ckpt_path=last: no earlier run of task_name={cfg.task_name} has a checkpoints/last.ckpt under "
        f"{Path(cfg.paths.log_dir) / cfg.task_name / 'runs'}; train this experiment first, or give the "
        "checkpoint file: ckpt_path=/path/to/last.ckpt"
    )


def draw_seed_if_unseeded(cfg: DictConfig) -> None:
    """`seed: null` draws a seed once and writes it into the config, so the split, the checkpoints,
    config.yaml and eval.py all know it; the ranks a DDP launcher starts take rank 0's draw."""
    if cfg.get("seed") is not None:  # seed 0 is a seed
        return
    inherited = os.environ.get("PL_GLOBAL_SEED") if "LOCAL_RANK" in os.environ else None
    seed = int(inherited) if inherited else random.randrange(2**31)
    OmegaConf.update(cfg, "seed", seed, force_add=True)
    log.info("seed=null: drew seed %d (it is in config.yaml and the checkpoints)", seed)


def check_not_finished(checkpoint: dict, cfg: DictConfig) -> None:
    """Resuming a run that already reached trainer.max_epochs would train nothing and rewrite its results."""
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and max_epochs >= 0 and checkpoint.get("epoch", -1) + 1 >= max_epochs:
        raise ValueError(
            f"the checkpoint already finished epoch {checkpoint['epoch'] + 1} of trainer.max_epochs="
            f"{max_epochs}: nothing is left to train. To train longer, raise it, e.g. "
            f"trainer.max_epochs={2 * max_epochs}"
        )


def train(cfg: DictConfig) -> float | None:
    """Train and test one configuration; return the metric named by `cfg.optimized_metric`."""
    import lightning as L  # deferred: printing or checking a config never imports torch

    lightning_logs_through_hydra()
    import torch

    threads = thread_count(cfg)
    if threads:
        torch.set_num_threads(threads)
    draw_seed_if_unseeded(cfg)
    L.seed_everything(cfg.seed, workers=True)
    from litlab.callbacks.run_state import RunState, check_same_experiment
    from litlab.checkpoint_io import load_checkpoint

    config = OmegaConf.to_container(cfg, resolve=True)
    ckpt_path = resume_checkpoint(cfg)
    if ckpt_path:  # before any weights are loaded: a clear error instead of a state_dict mismatch
        checkpoint = load_checkpoint(ckpt_path, mmap=True)
        check_same_experiment(checkpoint.get("litlab_config"), config)
        check_not_finished(checkpoint, cfg)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    loggers = instantiate_each(cfg.get("logger"))
    callbacks = [*instantiate_each(cfg.get("callbacks")), RunState(config)]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    with ddp_ranks_for_this_job(trainer.world_size):
        metrics = fit_and_test(trainer, model, datamodule, ckpt_path)
        if trainer.is_global_zero:  # under DDP only rank 0 writes the run's files
            run_dir = Path(cfg.paths.output_dir)
            write_run_files(run_dir, cfg, metrics)
            log_hparams(trainer, cfg, metrics)
            log.info("Run dir: %s (metrics.json, config.yaml, checkpoints/, tensorboard/)", run_dir)
    return optimized_metric(cfg, metrics)


def fit_and_test(trainer, model, datamodule, ckpt_path: str | None) -> dict[str, float]:
    """Fit, then validate and test the best checkpoint: the final train/, val/ and test/ metrics."""
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("train/")}

    best = best_checkpoint(trainer)
    # Validation of the best checkpoint goes to metrics.json only: the loggers already hold
    # the per-epoch curve, and a second point at the last step would misdraw it.
    fit_loggers, trainer.loggers = trainer.loggers, []
    metrics.update((trainer.validate(model, datamodule=datamodule, ckpt_path=best, verbose=False) or [{}])[0])
    trainer.loggers = fit_loggers  # under fast_dev_run, Lightning's DummyLogger
    metrics.update(trainer.test(model, datamodule=datamodule, ckpt_path=best)[0])
    return {name: float(value) for name, value in sorted(metrics.items())}


def optimized_metric(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper optimises, looked up by name in the run's metrics."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise KeyError(
            f"optimized_metric={name!r} is not a metric of this run; pick one of {sorted(metrics)}"
        )
    return metrics[name]


# An absolute path: Hydra reads a relative one as a Python package when litlab is imported.
@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: `litlab-train experiment=diabetes` or `python train.py ...`.

    A single run raises. In a multirun one failing job (a diverging learning rate, a combination
    that does not fit in memory) must not end the sweep: it is logged, written to its
    `error.txt`, and handed back to the sweeper as None; the sweep summary lists it as failed.
    """
    from litlab.job_status import in_multirun, record_failure, sweeper_value

    if not in_multirun():
        return train(cfg)
    try:
        return sweeper_value(train(cfg))
    except Exception as error:
        record_failure(error)
        return None
