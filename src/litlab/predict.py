"""The prediction task: class and probabilities for raw samples, from a checkpoint alone; or from a
cross-validation run: the mean of its fold models' probabilities (predictions, for a regressor), an
ensemble of k models, or one fold's model (`fold=`).

python predict.py ckpt_path=logs/diabetes/runs/<time>/checkpoints/last.ckpt input=rows.csv output=pred.csv
python predict.py ckpt_path=logs/diabetes/runs/<time> input=rows.csv        # a CV run: every fold
python predict.py ckpt_path=logs/diabetes/runs/<time> input=rows.csv fold=fold_0_2
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

import litlab  # noqa: F401  (registers the config resolvers)
from litlab.runs.lifecycle import run_lifecycle
from litlab.runtime.cli import entry_point
from litlab.runtime.console import set_up_console
from litlab.runtime.errors import errors_in_one_line
from litlab.runtime.files import write_text_atomic
from litlab.runtime.resolvers import REPO_ROOT

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def predict(cfg: DictConfig) -> Path:
    """Read `cfg.input`, preprocess it as the training data was (the fitted statistics come from the
    checkpoint), and write one row per sample to `cfg.output`: its class and each class's probability
    for a classifier, its predicted value(s) for a regressor."""
    import torch

    from litlab.checkpoints.rebuild import rebuild

    set_up_console(cfg.get("verbose", False))
    with run_lifecycle(Path(cfg.paths.output_dir)) as run:
        run.begin()
        checkpoints = models_to_average(cfg)
        raw = ids = total = None
        for path in checkpoints:  # each model with its own fitted preprocessing (a CV fold's)
            _, datamodule, model, _ = rebuild(path)
            if raw is None:  # read as the data module reads its inputs: a table's columns by name
                raw, ids = datamodule.read_input(cfg.input, header=cfg.get("header"))
            inputs = datamodule.preprocess(raw)
            check_finite(inputs, cfg.input)
            with torch.inference_mode():
                batches = (inputs[i : i + cfg.batch_size] for i in range(0, len(inputs), cfg.batch_size))
                outputs = torch.cat([model.predict_step(batch, 0) for batch in batches])
            total = outputs if total is None else total + outputs
        outputs = total / len(checkpoints)
        if len(checkpoints) > 1:
            log.info("Averaged the %d fold models of %s", len(checkpoints), cfg.ckpt_path)
        described = datamodule.describe()
        if model.task == "regression":
            width = described["num_targets"]
            header = ["prediction"] if width == 1 else [f"prediction_{i}" for i in range(width)]
            rows = [[f"{v:.6g}" for v in values] for values in outputs.tolist()]
        else:
            header, rows = class_rows(outputs, model.predicted_classes(outputs), described["class_names"])
        # The id column the data names (a table's data.id), else each row's number.
        ids = ids or {"row": list(range(len(rows)))}
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([*ids, *header])
        writer.writerows([*row_ids, *values] for *row_ids, values in zip(*ids.values(), rows, strict=True))
        output = Path(cfg.output)
        write_text_atomic(output, text.getvalue())
        log.info("Wrote %d predictions of %s to %s", len(rows), cfg.input, output)
        run.finish()
    return output


def models_to_average(cfg: DictConfig) -> list[Path]:
    """The checkpoints whose outputs are averaged: `ckpt_path` itself, or a CV run's tested fold
    checkpoints (all, or the one `fold` names: fold_<repeat>_<k>, or its number in fold order)."""
    from litlab.runs.folds import tested_checkpoints

    fold = cfg.get("fold")
    target = Path(cfg.ckpt_path)
    if not target.is_dir():
        if fold is not None:
            raise ValueError(
                f"fold={fold} picks a fold of a cross-validation run, but ckpt_path={target} is one "
                "checkpoint; give the run's folder as ckpt_path, or drop fold"
            )
        return [target]
    tested = tested_checkpoints(target)
    if fold is None:
        return list(tested.values())
    names = list(tested)
    name = names[fold] if isinstance(fold, int) and 0 <= fold < len(names) else str(fold)
    if name not in tested:
        raise ValueError(
            f"fold={fold}: {target} has folds {names[0]} ... {names[-1]}; give one of those names, or a "
            f"number from 0 to {len(names) - 1}"
        )
    return [tested[name]]


def check_finite(inputs: torch.Tensor, source: str) -> None:
    """Preprocessed inputs are finite numbers; else the error names the first bad row and feature."""
    import torch

    bad = (~torch.isfinite(inputs)).nonzero()
    if len(bad):
        row, column = bad[0].tolist()[:2]
        raise ValueError(
            f"{source}: row {row + 1}, feature {column + 1} is not a finite number after preprocessing "
            "(for example a negative expression value under a log transform, or inf); give raw values as "
            "in the training data files, not already transformed or standardised ones"
        )


def class_rows(
    probs: torch.Tensor, predicted: torch.Tensor, names: list[str]
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a classifier's predictions: the predicted class's name, then P(class) for every
    class, from the model's (n, num_classes) probabilities and predicted classes (n,)."""
    rows = [
        [names[best], *(f"{v:.6f}" for v in p)]
        for best, p in zip(predicted.tolist(), probs.tolist(), strict=True)
    ]
    return ["class", *(f"p_{name}" for name in names)], rows


@entry_point
@hydra.main(version_base="1.3", config_path=str(REPO_ROOT / "conf"), config_name="predict")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: `litlab-predict ckpt_path=... input=... output=...` or `python predict.py ...`."""
    with errors_in_one_line():
        predict(cfg)
