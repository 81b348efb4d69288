"""Plain nn.Modules: they know nothing of Lightning, losses or optimizers."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def activation_class(name: str) -> type[nn.Module]:
    """torch.nn activation class by name, case and underscores ignored: 'relu', 'leaky_relu', 'Tanh'."""
    classes = {
        key.lower(): cls
        for key, cls in vars(nn.modules.activation).items()
        if isinstance(cls, type) and issubclass(cls, nn.Module) and cls is not nn.Module
    }
    key = name.replace("_", "").lower()
    if key not in classes:
        raise ValueError(f"unknown activation {name!r}; use one of torch.nn's: {', '.join(sorted(classes))}")
    return classes[key]


class MLP(nn.Module):
    """Fully connected net: in -> hidden... -> out. No hidden layers = logistic/linear regression.

    Inputs with more than one feature dimension (images) are flattened first. The output is raw
    logits: the LightningModule chooses sigmoid or log_softmax to match its loss.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        act = activation_class(activation)
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for width_in, width_out in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(width_in, width_out), act()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
