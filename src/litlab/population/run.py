"""`cv.vectorize=true`: every fold of a CV run trained at once as one population, in one Lightning fit.

Each member is built as its sequential fold builds its model (seeded with the fold's seed, then
`instantiate(cfg.model)`), so it starts from the same weights; it trains on its fold's rows, in its
fold's batch order, with its own early stopping and best epoch (population/module.py). After the fit
each member's best weights go back into its own Classifier, which is tested on its fold and leaves the
fold folder a sequential fold leaves (population/fold_files.py): downstream nothing knows the difference.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)
# What every refusal of a population names as the way out.
SEQUENTIAL_PATH = "run it with cv.vectorize=false (the folds one after another)"


def vectorize_requested(cfg: DictConfig) -> bool | str:
    """cv.vectorize: True (the folds as one population), False, or "auto" (decided by
    `vectorized_by_auto` once the data is read); refused without cv."""
    vectorize = cfg.get("cv", {}).get("vectorize", False)
    if not (isinstance(vectorize, bool) or vectorize == "auto"):
        raise ValueError(
            f"cv.vectorize={vectorize!r}: give true (the folds as one population), false (one after another) "
            "or auto (a population where one can be trained)"
        )
    if vectorize is True and cfg.cv.get("folds") is None:
        raise ValueError(
            "cv.vectorize=true trains the folds of a cross-validation run as one population, but cv.folds "
            "is not set; give cv.folds=5 too (or drop cv.vectorize)"
        )
    return vectorize if vectorize == "auto" else bool(vectorize)


def why_not_a_population(cfg: DictConfig) -> str | None:
    """Everything in the config a population cannot train, each with its fix (numbered when there are
    several); None when nothing is. A model that is not a classifier of an MLP is the one reason given:
    the rest is moot then."""
    model, trainer = cfg.model, cfg.trainer
    optimizer = str(model.get("optimizer", {}).get("_target_", ""))
    precision = str(trainer.get("precision", "32-true"))
    if not str(model.get("_target_", "")).endswith("Classifier"):
        return f"it trains classifiers, and {model.get('_target_')} is not one"
    if not str(model.get("net", {}).get("_target_", "")).endswith(".MLP"):
        return f"it stacks MLPs (model/net=mlp), not {model.get('net', {}).get('_target_')}"
    reasons = []
    if model.net.get("linear_path"):
        reasons.append(
            "it stacks plain MLPs, without a linear path beside them; give model.net.linear_path=false"
        )
    if optimizer not in ("torch.optim.Adam", "torch.optim.AdamW"):
        reasons.append(f"it supports model/optimizer=adam|adamw, not {optimizer}")
    if model.get("l2"):
        reasons.append(
            f"it has no L2 penalty in its loss: model.l2={model.get('l2')}; give model.l2=0 and regularise "
            "with model.optimizer.weight_decay"
        )
    if model.get("scheduler") is not None:
        reasons.append("it takes no learning-rate scheduler; give model/scheduler=null")
    if model.get("compile"):
        reasons.append("it does not compile its nets; give model.compile=false")
    if "16" in precision and "bf16" not in precision:
        reasons.append(
            f"it takes no gradient scaler: trainer.precision={precision}; give 32-true or bf16-mixed"
        )
    devices, nodes, strategy = (
        trainer.get("devices"),
        trainer.get("num_nodes"),
        trainer.get("strategy", "auto"),
    )
    if devices not in (None, 1, "auto") or nodes not in (None, 1) or "ddp" in str(strategy):
        reasons.append(
            f"it trains on one device, and trainer.devices={devices}, trainer.num_nodes={nodes}, "
            f"trainer.strategy={strategy} ask for more; give trainer.devices=1 trainer.num_nodes=1 "
            "(CV runs its folds in one process)"
        )
    max_steps = trainer.get("max_steps", -1)
    if max_steps not in (None, -1):
        reasons.append(
            f"its members count their own steps, and trainer.max_steps={max_steps} would count its epochs; "
            "give trainer.max_epochs"
        )
    monitor = cfg.monitor.metric
    if not str(monitor).startswith("val/"):
        reasons.append(
            f"it judges each member on its validation rows: monitor.metric={monitor}; give a val/ metric"
        )
    if cfg.get("callbacks", {}).get("best_checkpoint") is None:
        reasons.append(
            "it tests each member's best epoch, and callbacks.best_checkpoint=null asks for the final "
            "weights; drop that override"
        )
    if len(reasons) > 1:
        return f"{len(reasons)} things stand in its way: " + "; ".join(
            f"({n}) {r}" for n, r in enumerate(reasons, 1)
        )
    return reasons[0] if reasons else None


def vectorized_by_auto(cfg: DictConfig) -> bool:
    """cv.vectorize=auto: a population whenever the config allows one (on this CPU it never lost to the
    folds one by one in scripts/benchmark_population.py: see docs/population.md); else the folds one by
    one, saying why."""
    reason = why_not_a_population(cfg)
    if reason:
        log.info("cv.vectorize=auto: the folds one by one (a population cannot train this: %s)", reason)
    return reason is None


def check_population_config(cfg: DictConfig) -> None:
    """What a population cannot do, said before anything is built."""
    reason = why_not_a_population(cfg)
    if reason:
        raise ValueError(f"cv.vectorize=true: {reason}; or {SEQUENTIAL_PATH}")


def build_members(cfg: DictConfig, count: int, rows: Any, batch_size: int | None) -> tuple[list[Any], Any]:
    """Each fold's net, drawn from the seed its sequential fold draws its model from (instantiating
    cfg.model builds its net first, and nothing else of it draws random numbers), and one Classifier of
    the config: it tests every member in turn, with that member's weights. The memory the population
    needs is estimated from the first net, before the others are built."""
    import lightning as L

    from litlab.runs.folds import fold_seed
    from litlab.runtime.objective import check_logged

    nets = []
    for n in range(count):
        L.seed_everything(fold_seed(cfg.seed, n), workers=True, verbose=False)
        nets.append(instantiate(cfg.model.net))
        if n == 0:
            check_fits_in_memory(count, nets[0], rows, batch_size, population_device(cfg))
    model = instantiate(cfg.model)
    check_logged(cfg.get("optimized_metric"), model.metric_names())
    return nets, model


def fold_loggers(cfg: DictConfig, fold_dirs: list[Path]) -> list[list[Any]]:
    """Each fold's loggers, writing into its folder as its sequential fold's would (the logger config
    read with paths.output_dir set to the fold's folder, then set back)."""
    from omegaconf import OmegaConf

    from litlab.runtime.groups import instantiate_each

    own = OmegaConf.to_container(cfg.paths, resolve=False)["output_dir"]
    loggers = []
    try:
        for fold_dir in fold_dirs:
            OmegaConf.update(cfg, "paths.output_dir", str(fold_dir))
            loggers.append(instantiate_each(cfg.get("logger")))
    finally:
        OmegaConf.update(cfg, "paths.output_dir", own)
    return loggers


def check_fits_in_memory(members: int, net: Any, rows: Any, batch: int | None, device: Any) -> None:
    """Estimate a population's memory on its device from one member's net and the data's rows, before
    any other member is built; refuse it with how many members would fit."""
    import torch

    from litlab.runtime.memory import available_bytes, size_text

    params = sum(p.numel() for p in net.parameters())
    widths = sum(m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear))
    x = rows[0]
    # Per member: weights, their gradient, two Adam moments and the best epoch's copy; its copy of every
    # row (preprocessed by its own fold); activations of a training batch (kept for backward, x3) or of
    # a whole split's forward.
    per_member = 4 * (5 * params + x.numel() + 3 * max(batch or len(x), len(x)) * widths)
    available = available_bytes(device)
    if per_member * members > 0.8 * available:
        fit = int(0.8 * available // per_member)
        if fit == 0:
            raise ValueError(
                f"cv.vectorize=true: one member alone needs about {size_text(per_member)}, and "
                f"{size_text(available)} are free on {device}; {SEQUENTIAL_PATH}, or a smaller "
                "data.batch_size"
            )
        raise ValueError(
            f"cv.vectorize=true: {members} members need about "
            f"{size_text(per_member * members)}, {size_text(available)} are free on "
            f"{device}: about {fit} members would fit. Give fewer folds or repeats, a smaller "
            f"data.batch_size, or {SEQUENTIAL_PATH}"
        )


def population_device(cfg: DictConfig) -> str:
    """The device the population will train on: a GPU when the trainer may take one and there is one."""
    import torch

    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    return "cuda" if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"


def population_callbacks(cfg: DictConfig, config: dict[str, Any]) -> list[Any]:
    """The fit's callbacks: last.ckpt (resume), the progress bar, and the run state. The best checkpoint
    and early stopping are per member (population/stopping.py); the classification report is written
    per fold after the fit (population/fold_files.py)."""
    from lightning.pytorch.callbacks import ProgressBar

    from litlab.checkpoints.callbacks import LastCheckpoint
    from litlab.checkpoints.contents import RunState
    from litlab.runtime.groups import instantiate_each

    kept = [c for c in instantiate_each(cfg.get("callbacks")) if isinstance(c, LastCheckpoint | ProgressBar)]
    return [*kept, RunState(config)]


def build_population(
    cfg: DictConfig, datamodule: Any, folds: list[Any], loggers: list[list[Any]]
) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The population's LightningModule for `folds` (each member's loggers in `loggers`), the Classifier
    that tests its members, and each fold's data module state (for its checkpoint)."""
    from litlab.population.members import MemberBatches, member_splits
    from litlab.population.module import PopulationClassifier
    from litlab.population.nets import StackedMLP
    from litlab.population.optim import PopulationAdam
    from litlab.population.stopping import MemberStopping

    check_population_config(cfg)
    nets, tester = build_members(cfg, len(folds), datamodule.rows, datamodule.batch_size)
    net = StackedMLP(nets)  # refuses a net it cannot stack
    factory = tester.optimizer_factory
    PopulationAdam.from_factory(factory, net.parameters())  # refuses an optimizer it does not implement
    splits, states = member_splits(datamodule, folds)
    batches = MemberBatches(splits["train"].counts, datamodule.batch_size, datamodule.seed)
    stopper = cfg.callbacks.get("early_stopping") or {}
    patience = stopper.get("patience", float("inf"))
    stopping = MemberStopping(
        len(folds),
        cfg.monitor.mode,
        patience,
        stopper.get("min_delta", 0.0),
        cfg.trainer.get("min_epochs") or 1,
    )
    module = PopulationClassifier(
        net, tester.num_classes, splits, batches,
        lambda params: PopulationAdam.from_factory(factory, params), stopping, cfg.monitor.metric, loggers,
    )  # fmt: skip
    return module, tester, states


def train_population(
    cfg: DictConfig, config: dict[str, Any], datamodule: Any, folds: list[Any], cv: Any, run: Any, plan: Any,
    model_summary: bool,
) -> Any:  # fmt: skip
    """Fit every fold as one population, then test and write each fold; returns the last fold's step
    count (where the run's own TensorBoard entry goes, as after the folds one by one)."""
    import torch

    from litlab.callbacks.drawing import FigurePool
    from litlab.callbacks.progress_bar import shows_progress
    from litlab.population.fold_files import MemberFigures, fold_titles, write_members
    from litlab.runs.folds import check_one_process
    from litlab.runs.status import stop_at_batch_boundary
    from litlab.runtime.threads import torch_threads

    loggers = fold_loggers(cfg, [cv.fold_dir(fold.name) for fold in folds])
    module, tester, states = build_population(cfg, datamodule, folds, loggers)
    beside = draws_beside(cfg, module)
    with FigurePool(beside) as drawing, closed_on_failure(loggers):
        figures = MemberFigures(drawing, tester, list(cfg.from_data.class_names), fold_titles(cfg, folds))
        callbacks = [*population_callbacks(cfg, config), figures]
        trainer = instantiate(
            cfg.trainer, callbacks=callbacks, logger=False, enable_checkpointing=True, num_sanity_val_steps=0,
            enable_model_summary=model_summary, enable_progress_bar=shows_progress(callbacks),
        )  # fmt: skip
        check_one_process(trainer, cfg)
        resume, finished = resume_point(cfg, config, plan, module)
        run.trainer = trainer
        run.details.update(fold="population", folds_done=0, members=len(folds))
        run.begin()
        with torch_threads(1 if beside else None):
            if not finished:
                with stop_at_batch_boundary(trainer):
                    trainer.fit(module, ckpt_path=resume)
            log.info(population_line(module.stopping, cfg.trainer.get("max_epochs"), cfg.monitor.metric))
            with torch.no_grad():
                write_members(cfg, config, folds, tester, module, states, cv, run.overrides, loggers, drawing)
    run.details.update(folds_done=len(folds))
    return int(module.stepped[-1])


@contextmanager
def closed_on_failure(loggers: list[list[Any]]) -> Iterator[None]:
    """Each fold's loggers closed if the population fails (their events since the last flush on disk,
    for the curves up to the failure): a successful run closes each in its fold folder's writing."""
    try:
        yield
    except BaseException:
        for logger in (logger for fold in loggers for logger in fold):
            with suppress(Exception):  # the failure being raised is the one to report
                logger.finalize("failed")
        raise


def draws_beside(cfg: DictConfig, module: Any) -> bool:
    """Whether the folds' figures are drawn while the population trains, by a process on a core of its
    own (callbacks/drawing.py), the fit's torch then on one thread: when the run has the machine to
    itself (no parallel jobs, no `threads` given), two cores or more, and steps so small that a second
    torch thread gains nothing (module.computes_all's rule; on this CPU a diabetes population's fit takes
    as long on one thread as on two, and a drawing process beside two threads slowed it by half: each
    of torch's parallel regions waits for the thread it took a core from)."""
    from litlab.runtime.threads import available_cores, thread_count

    return thread_count(cfg) is None and available_cores() >= 2 and module.steps_are_small()


def resume_point(cfg: DictConfig, config: dict[str, Any], plan: Any, module: Any) -> tuple[str | None, bool]:
    """(the population's last.ckpt to resume from, or None; whether its fit had ended). A resumed run
    (ckpt_path=last) goes on from the run folder's checkpoints/last.ckpt; one whose fit had ended (every
    member stopped, or max_epochs) is loaded into `module` and only tested."""
    from litlab.checkpoints.contents import stored_config
    from litlab.checkpoints.identity import check_same_experiment
    from litlab.checkpoints.io import load_checkpoint
    from litlab.runs.layout import last_checkpoint

    last = last_checkpoint(cfg.paths.output_dir)
    if not ((plan.checkpoint or plan.continue_folds) and last.is_file()):
        return None, False
    checkpoint = load_checkpoint(last, mmap=True)
    check_same_experiment(stored_config(checkpoint), config)
    done = checkpoint.get("epoch", -1) + 1
    max_epochs = cfg.trainer.get("max_epochs") or 0
    finished = done >= max_epochs > 0 or not bool(checkpoint["state_dict"]["stopping.active"].any())
    log.info("Resuming the population from %s: epoch %d done%s", last, done - 1, " (fit over)" * finished)
    if finished:
        module.load_state_dict(checkpoint["state_dict"])
        module.on_load_checkpoint(checkpoint)
    return str(last), finished


def population_line(stopping: Any, max_epochs: int | None, monitor: str) -> str:
    """`Population of 25: 23 stopped early, 2 reached max_epochs=200; best epochs 11-64, val/loss
    0.4301-0.5207`."""
    early = int(stopping.stopped_early.sum())
    members = len(stopping.best_epoch)
    best = stopping.best_epoch
    values = stopping.best_values()
    return (
        f"Population of {members}: {early} stopped early, {members - early} reached max_epochs={max_epochs}; "
        f"best epochs {int(best.min())}-{int(best.max())}, {monitor} {float(values.min()):.4f}-"
        f"{float(values.max()):.4f}"
    )
