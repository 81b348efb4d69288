"""Nets and the Classifier: the lectures' architectures, the two loss forms, probabilities, optimizers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from litlab.models import MLP, Classifier, Regressor
from litlab.models.classifier import classification_metrics


def linear_shapes(net: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(
    ("sizes", "activation"),
    [
        ([8, 1], "sigmoid"),
        ([8, 6, 4, 1], "sigmoid"),
        ([30, 15, 1], "relu"),
        ([557, 300, 100, 20, 4], "ReLU"),
    ],
    ids=["logistic", "wide-and-deep", "breast-cancer", "caf"],
)
def test_mlp_builds_the_lecture_nets(sizes, activation):
    net = MLP(sizes[0], sizes[-1], hidden=sizes[1:-1], activation=activation)
    assert linear_shapes(net) == list(zip(sizes, sizes[1:], strict=False))
    assert net(torch.randn(5, sizes[0])).shape == (5, sizes[-1])


def test_mlp_activation_by_any_torch_name_and_dropout():
    net = MLP(4, 1, hidden=[3], activation="leaky_relu", dropout=0.5)
    assert any(isinstance(m, nn.LeakyReLU) for m in net.modules())
    assert any(isinstance(m, nn.Dropout) for m in net.modules())
    with pytest.raises(ValueError, match=r"unknown activation 'relux'.*leakyrelu.*relu"):
        MLP(4, 1, hidden=[3], activation="relux")
    for hidden in ([8, "x"], [8, 0], [2.5]):  # model.net.hidden=[8,x] reaches the net as [8, 'x']
        with pytest.raises(
            ValueError, match=r"hidden=\[.*\]: every layer's width must be a positive integer"
        ):
            MLP(4, 1, hidden=hidden)


def test_a_linear_path_adds_a_linear_map_of_the_inputs_and_leaves_the_hidden_layers_as_they_were():
    torch.manual_seed(0)
    plain = MLP(6, 3, hidden=[5, 4])
    torch.manual_seed(0)
    wide = MLP(6, 3, hidden=[5, 4], linear_path=True)
    deep_part = {k: v for k, v in wide.state_dict().items() if not k.startswith("linear_path.")}
    assert deep_part.keys() == plain.state_dict().keys()
    assert all(torch.equal(deep_part[k], v) for k, v in plain.state_dict().items())  # same draws
    assert wide.linear_path.weight.shape == (3, 6) and wide.linear_path.bias is None
    x = torch.randn(7, 6)
    assert torch.allclose(wide(x), plain(x) + x @ wide.linear_path.weight.t())
    with torch.no_grad():  # a silent deep part: the net is the linear model plus the output bias
        wide.layers[-1].weight.zero_()
    assert torch.allclose(wide(x), x @ wide.linear_path.weight.t() + wide.layers[-1].bias)
    assert not any(k.startswith("linear_path.") for k in plain.state_dict()) and plain.linear_path is None
    with pytest.raises(ValueError, match=r"model.net.hidden=\[\] has none.*model.net.linear_path=false"):
        MLP(6, 3, linear_path=True)


def test_figure_titles_name_the_linear_path_apart_from_the_layers():
    from litlab.callbacks.figures import net_description

    assert net_description(Classifier(MLP(2, 1, hidden=[4, 5]), 2, adam())) == "MLP 2-4-5-1"
    wide = Classifier(MLP(2, 1, hidden=[4, 5], linear_path=True), 2, adam())
    assert net_description(wide) == "MLP 2-4-5-1 + linear path"
    assert net_description(Classifier(MLP(2, 1), 2, adam())) == "linear 2-1"


def test_mlp_flattens_images():
    assert MLP(784, 10, hidden=[16])(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_convnet_depth_follows_channels_and_blocks():
    from litlab.models import ConvNet

    lenet = ConvNet([1, 28, 28], 10, channels=[16, 32], kernel_size=5)
    assert lenet(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, nn.Conv2d) for m in lenet.modules()) == 2
    resnet = ConvNet([3, 32, 32], 10, channels=[16, 32, 64], blocks=2, residual=True, global_pool=True)
    assert resnet(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    # 3 stages x 2 residual blocks x 2 convs, plus a 1x1 projection where the width changes.
    assert sum(isinstance(m, nn.Conv2d) for m in resnet.modules()) == 12 + 3
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvNet([1, 28, 28], 10, kernel_size=4)
    with pytest.raises(ValueError, match="shrink a \\(1, 8, 8\\) image to nothing"):
        ConvNet([1, 8, 8], 10, channels=[4, 4, 4, 4])


def adam(**kwargs):
    return lambda params: torch.optim.Adam(params, **kwargs)


def test_binary_loss_is_the_lectures_bce_on_sigmoid():
    torch.manual_seed(0)
    model = Classifier(MLP(8, 1, hidden=[6, 4], activation="sigmoid"), num_classes=2, optimizer=adam())
    x, y = torch.randn(16, 8), torch.randint(0, 2, (16,))
    loss, probs = model.loss_and_outputs(x, y)
    expected = nn.BCELoss()(torch.sigmoid(model.net(x)).squeeze(1), y.float())
    assert torch.allclose(loss, expected, atol=1e-6)
    assert torch.allclose(model.predict_step(x, 0), probs) and probs.shape == (16, 2)
    p = torch.sigmoid(model.net(x)).squeeze(1)
    assert torch.allclose(probs[:, 1], p) and torch.allclose(probs.sum(1), torch.ones(16))
    assert model.task == "binary" and torch.allclose(model.metric_inputs(probs), p)


def test_multiclass_loss_is_the_lectures_nll_on_log_softmax():
    torch.manual_seed(0)
    model = Classifier(MLP(557, 4, hidden=[20]), num_classes=4, optimizer=adam())
    x, y = torch.randn(16, 557), torch.randint(0, 4, (16,))
    loss, probs = model.loss_and_outputs(x, y)
    expected = nn.NLLLoss()(nn.functional.log_softmax(model.net(x), dim=1), y)
    assert torch.allclose(loss, expected, atol=1e-6)
    prediction = model.predict_step((x, y), 0)
    assert prediction.shape == (16, 4) and torch.allclose(prediction.sum(1), torch.ones(16), atol=1e-6)
    assert model.task == "multiclass" and torch.equal(
        model.predicted_classes(prediction), prediction.argmax(1)
    )


def test_binary_predicted_class_is_the_metrics_threshold():
    model = Classifier(MLP(1, 1), num_classes=2, optimizer=adam())
    logits = torch.tensor([[-3.0], [-1e-7], [0.0], [1e-7], [2e-7], [4.0]])
    probs = model.probabilities(logits)
    p = torch.sigmoid(logits).squeeze(1)
    assert torch.equal(model.predicted_classes(probs), (p > 0.5).long())
    with pytest.raises(ValueError, match=r"at least 2 classes, got num_classes=None.*model=regressor"):
        Classifier(MLP(1, 1), num_classes=None, optimizer=adam())


def test_regressor_declares_its_task_and_predicts_one_column_per_target():
    model = Regressor(MLP(3, 2), optimizer=adam())
    assert model.task == "regression" and model.predict_step(torch.rand(5, 3), 0).shape == (5, 2)


def test_epoch_outputs_are_flushed_into_the_metrics_every_n_steps():
    """The pending outputs stay bounded; the epoch's numbers are those of one update with everything."""
    torch.manual_seed(0)
    model = Classifier(MLP(4, 3), num_classes=3, optimizer=adam())
    model.flush_every = 4
    logged = {}
    model.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    model.log_dict = lambda values, **kwargs: logged.update(values)
    model._trainer = SimpleNamespace(world_size=1, state=SimpleNamespace(fn="validate"))  # not fitting
    batches = [(torch.randn(5, 4), torch.randint(0, 3, (5,))) for _ in range(10)]
    for batch in batches:
        model.shared_step(batch, "val")
        assert len(model.pending["val"]) < 4
    model.log_epoch("val")
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    loss, probs = model.loss_and_outputs(x, y)
    reference = classification_metrics(3).clone(prefix="val/")
    expected = reference(probs, y)
    assert logged["val/loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert all(logged[name] == pytest.approx(value.item(), rel=1e-5) for name, value in expected.items())
    assert model.pending["val"] == [] and not model.updated["val"]


def test_binary_loss_stays_finite_for_confident_wrong_logits():
    model = Classifier(MLP(1, 1), num_classes=2, optimizer=adam())
    with torch.no_grad():
        model.net.layers[-1].weight.fill_(1000.0)
    loss, _ = model.loss_and_outputs(torch.tensor([[1.0]]), torch.tensor([0]))
    assert torch.isfinite(loss) and loss > 100


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
@pytest.mark.parametrize("scheduler", [None, "plateau", "cosine", "step"])
def test_every_optimizer_and_scheduler_config_builds(compose_config, sized_by_data, name, scheduler):
    chosen = [f"model/optimizer={name}", "model.optimizer.weight_decay=1e-4"]
    cfg = sized_by_data(compose_config(*chosen, *([f"model/scheduler={scheduler}"] if scheduler else [])))
    model = instantiate(cfg.model)
    configured = model.configure_optimizers()
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    assert type(optimizer).__name__.lower() == name
    assert optimizer.defaults["weight_decay"] == 1e-4
    if scheduler:
        assert type(configured["lr_scheduler"]["scheduler"]).__module__ == "torch.optim.lr_scheduler"
        assert configured["lr_scheduler"]["monitor"] == "val/loss"


def test_negative_learning_rate_is_refused_before_training(compose_config, sized_by_data):
    cfg = sized_by_data(compose_config("model.optimizer.lr=-0.1"))
    with pytest.raises(Exception, match=r"model.optimizer is invalid.*-0.1.*model.optimizer.lr=0.001"):
        instantiate(cfg.model)
    cfg = sized_by_data(compose_config("model.optimizer.lr=abc"))  # text where torch compares a number
    with pytest.raises(Exception, match=r"model.optimizer.lr='abc' is not a number; give one"):
        instantiate(cfg.model)


@pytest.mark.slow
def test_compiled_net_trains_and_keeps_its_state_dict_keys(compose_config, sized_by_data):
    from litlab.train import train

    cfg = compose_config("experiment=mnist_cnn", "model.compile=true", "debug=fdr")
    assert train(cfg) is not None
    model = instantiate(sized_by_data(compose_config("experiment=mnist_cnn", "model.compile=true")).model)
    assert model.net._compiled_call_impl is not None  # the switch really compiled the net
    assert all(not key.startswith("net._orig_mod") for key in model.state_dict())
