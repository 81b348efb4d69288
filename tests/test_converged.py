"""A full-batch L-BFGS fit ends once an epoch leaves every weight as it was (callbacks/converged.py), with
the final weights it would have had after max_epochs; other fits are never ended by it."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from test_lbfgs import table
from torch.utils.data import DataLoader, TensorDataset

from litlab.callbacks.converged import StopWhenConverged
from litlab.models import MLP, Classifier
from litlab.train import train


def lbfgs(params):
    """conf/model/optimizer/lbfgs.yaml's L-BFGS."""
    return torch.optim.LBFGS(
        params, max_iter=20, history_size=100, line_search_fn="strong_wolfe", tolerance_grad=1e-7,
        tolerance_change=1e-9,
    )  # fmt: skip


def fit(optimizer, batch_size: int | None, stop: bool, epochs: int = 30) -> tuple[Classifier, L.Trainer]:
    x, y = table(3)
    torch.manual_seed(0)
    model = Classifier(MLP(5, 3, [8]), 3, optimizer, l2=0.01)
    trainer = L.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", deterministic=True,
        callbacks=[StopWhenConverged()] if stop else [],
    )  # fmt: skip
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=batch_size or len(x)))
    return model, trainer


def test_a_converged_lbfgs_fit_ends_early_with_the_weights_of_max_epochs():
    stopped, trainer = fit(lbfgs, None, stop=True)
    (callback,) = [c for c in trainer.callbacks if isinstance(c, StopWhenConverged)]
    assert callback.converged_epoch is not None and trainer.current_epoch < 30
    assert trainer.current_epoch == callback.converged_epoch + 1
    full, full_trainer = fit(lbfgs, None, stop=False)
    assert full_trainer.current_epoch == 30
    for name, weights in full.state_dict().items():
        assert torch.equal(weights, stopped.state_dict()[name]), name


@pytest.mark.parametrize(
    ("optimizer", "batch_size"),
    [
        (lambda params: torch.optim.Adam(params, lr=0.01), None),  # every step moves
        (lambda params: torch.optim.SGD(params, lr=0.0), None),  # no move, but not L-BFGS: a warm-up could
        (lbfgs, 50),  # minibatches: the next batch may move
    ],
)
def test_other_fits_are_never_ended_by_it(optimizer, batch_size):
    _, trainer = fit(optimizer, batch_size, stop=True, epochs=12)
    assert trainer.current_epoch == 12


def test_the_run_says_it_stopped_converged(compose_config, tmp_path):
    train(
        compose_config(
            "experiment=moons",
            "data.n_samples=120",
            "trainer.accelerator=cpu",
            "seed=3",
            "model/optimizer=lbfgs",
            "model.l2=0.01",
            "data.batch_size=null",
            "trainer.max_epochs=40",
            "callbacks.early_stopping=null",
            "callbacks.best_checkpoint=null",
        )  # fmt: skip
    )
    fit_record = json.loads((tmp_path / "run" / "metrics.json").read_text())["fit"]
    assert fit_record["stopped_by"] == "converged" and fit_record["last_epoch"] < 39
