"""Full-batch L-BFGS with an L2 penalty (model/optimizer=lbfgs, model.l2): the optimum scikit-learn finds."""

from __future__ import annotations

import copy
import json

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

from litlab.models import MLP, Classifier


def lbfgs(**kwargs):
    defaults = {"max_iter": 50, "history_size": 50, "line_search_fn": "strong_wolfe"}
    defaults.update(tolerance_grad=1e-9, tolerance_change=1e-12, **kwargs)
    return lambda params: torch.optim.LBFGS(params, **defaults)


def fit_full_batch(model: Classifier, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    """Lightning's fit, every row in one batch: each epoch one L-BFGS step of up to max_iter iterations."""
    trainer = L.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", deterministic=True,
    )  # fmt: skip
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=len(x)))


def table(classes: int, rows: int = 200, features: int = 5, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((rows, features))
    w = generator.standard_normal((features, classes))
    y = (x @ w + generator.standard_normal((rows, classes))).argmax(1)  # noisy: the optimum is finite
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


@pytest.mark.parametrize("classes", [2, 3])
def test_a_linear_net_under_lbfgs_and_l2_is_scikit_learns_logistic_regression(classes):
    """scikit-learn minimises ||w||^2 / 2 + C x the summed log loss; litlab the mean log loss + (l2 / 2) x
    ||w||^2 (biases free, like the intercept): the same optimum at l2 = 1 / (C x rows)."""
    from sklearn.linear_model import LogisticRegression

    x, y = table(classes)
    torch.manual_seed(0)
    l2, out = 0.05, 1 if classes == 2 else classes
    model = Classifier(MLP(x.shape[1], out), num_classes=classes, optimizer=lbfgs(), l2=l2)
    fit_full_batch(model, x, y, epochs=5)
    reference = LogisticRegression(C=1 / (l2 * len(x)), tol=1e-10, max_iter=10_000)
    reference.fit(x.double().numpy(), y.numpy())  # in float64: float32 rows would make it fit in float32
    layer = model.net.layers[-1]
    weight, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    np.testing.assert_allclose(weight, reference.coef_, atol=2e-4)
    if classes > 2:  # softmax's biases are free up to a shared shift (unpenalised): compare them centred
        bias, intercept = bias - bias.mean(), reference.intercept_ - reference.intercept_.mean()
    else:
        intercept = reference.intercept_
    np.testing.assert_allclose(bias, intercept, atol=2e-4)
    probabilities = model.predict_step(x, 0).detach().numpy()
    np.testing.assert_allclose(probabilities, reference.predict_proba(x.double().numpy()), atol=1e-4)


def test_the_penalty_leaves_the_biases_alone_and_without_l2_the_weights_spread():
    x, y = table(2)
    torch.manual_seed(0)
    net = MLP(x.shape[1], 1, hidden=[4], linear_path=True)  # its linear path's weights are weights too
    model = Classifier(net, num_classes=2, optimizer=lbfgs(), l2=0.1)
    weighted = [name for name, _ in net.named_parameters() if name.endswith("weight")]
    assert "linear_path.weight" in weighted and len(weighted) == 3
    weights = sum(p.pow(2).sum() for name, p in net.named_parameters() if name in weighted)
    assert model.penalty().item() == pytest.approx(0.05 * weights.item())
    unpenalised = Classifier(copy.deepcopy(net), num_classes=2, optimizer=lbfgs(), l2=0.0)
    fit_full_batch(model, x, y, epochs=3)
    fit_full_batch(unpenalised, x, y, epochs=3)
    assert model.penalty() < 0.1 / 2 * sum(p.pow(2).sum() for p in unpenalised.net.parameters() if p.ndim > 1)


def test_an_epochs_train_metrics_take_each_steps_first_evaluation_and_no_penalty():
    """L-BFGS calls training_step once per function evaluation (dozens a step): train/loss is the data's
    loss before the step, as with any optimizer, not a mean over the line search nor the penalised loss."""
    x, y = table(3)
    torch.manual_seed(0)
    model = Classifier(MLP(x.shape[1], 3), num_classes=3, optimizer=lbfgs(max_iter=10), l2=0.1)
    before, _ = model.loss_and_outputs(x, y)
    evaluations = []
    step = model.training_step
    model.training_step = lambda *args: evaluations.append(1) or step(*args)
    fit_full_batch(model, x, y, epochs=1)
    assert len(evaluations) > 5  # the line search evaluated it many times: one epoch, one step
    assert model.train_history[0]["train/loss"] == pytest.approx(before.item(), rel=1e-6)
    after, _ = model.loss_and_outputs(x, y)
    assert after < before


@pytest.mark.parametrize("l2", [-0.1, "abc", float("nan")])
def test_a_bad_l2_is_refused_with_the_fix(l2):
    with pytest.raises(ValueError, match=r"model.l2=.*must be a number >= 0, e.g. model.l2=0.001"):
        Classifier(MLP(3, 1), num_classes=2, optimizer=lbfgs(), l2=l2)


def test_the_lbfgs_config_builds_and_a_weight_decay_left_by_an_experiment_is_named(
    compose_config, sized_by_data
):
    cfg = sized_by_data(compose_config("model/optimizer=lbfgs", "model.l2=0.001", "data.batch_size=null"))
    model = instantiate(cfg.model)
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.LBFGS) and model.l2 == 0.001
    assert optimizer.defaults["line_search_fn"] == "strong_wolfe"
    cfg = sized_by_data(compose_config("model/optimizer=lbfgs", "+model.optimizer.weight_decay=0.001"))
    expected = r"weight_decay=0.001 is not an argument of LBFGS: remove it with ~model.optimizer.weight_decay"
    with pytest.raises(Exception, match=expected + r" .*give model.l2 instead"):
        instantiate(cfg.model)


def test_a_killed_lbfgs_run_resumes_to_the_uninterrupted_result(compose_config, tmp_path):
    """L-BFGS's state (its curvature history, step counts) travels in last.ckpt: killed at epoch 3 and
    resumed, a run ends with the metrics of one that was never stopped."""
    from litlab.runs.status import read_status, write_status
    from litlab.train import train

    common = [
        "experiment=moons", "data.n_samples=120", "trainer.accelerator=cpu", "seed=5",
        "model/optimizer=lbfgs", "model.optimizer.max_iter=4", "data.batch_size=null", "model.l2=0.01",
        "trainer.max_epochs=8", "callbacks.early_stopping=null", "trainer.deterministic=true",
        "callbacks.last_checkpoint.every_seconds=0",
    ]  # fmt: skip
    train(compose_config(*common, run_dir=tmp_path / "whole"))
    killed = tmp_path / "killed"
    stop = ["+callbacks.stop._target_=failing_callback.StopAtEpoch", "+callbacks.stop.epoch=3"]
    with pytest.raises(RuntimeError, match="stopped at the end of epoch 3"):
        train(compose_config(*common, *stop, run_dir=killed))
    record = {k: v for k, v in read_status(killed).items() if k not in ("status", "time", "error")}
    write_status(killed, "running", **{**record, "pid": 2**22 + 1})  # as a SIGKILL leaves it
    train(compose_config(*common, "ckpt_path=last", run_dir=killed))
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert json.loads((killed / "metrics.json").read_text()) == whole
    assert whole["test/loss"] < 0.6  # it learned: moons' two classes, not a constant guess
