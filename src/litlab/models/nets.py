"""Plain nn.Modules: they know nothing of Lightning, losses or optimizers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
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

    `linear_path=True` adds a linear map from the inputs straight to the outputs (weights only: the output
    layer's bias serves both), summed with the hidden layers' output: the "wide" part of Cheng et
    al.'s Wide & Deep (2016). The net then holds logistic regression as the case of a silent deep part,
    and the deep part learns what a linear model misses. It is built after the hidden layers, so they
    draw the same initial weights with it as without it.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        linear_path: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in hidden):
            raise ValueError(
                f"hidden={list(hidden)}: every layer's width must be a positive integer; give e.g. "
                "model.net.hidden=[16,8], or model.net.hidden=[] for no hidden layer"
            )
        if linear_path and not hidden:
            raise ValueError(
                "model.net.linear_path=true adds a linear path beside the hidden layers, and "
                "model.net.hidden=[] has none (the net is linear already): give hidden layers, e.g. "
                "model.net.hidden=[16], or model.net.linear_path=false"
            )
        act = activation_class(activation)
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for width_in, width_out in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(width_in, width_out), act()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], out_features))
        self.layers = nn.Sequential(*layers)
        self.linear_path = nn.Linear(in_features, out_features, bias=False) if linear_path else None

    def forward(self, x):
        out = self.layers(x)
        if self.linear_path is not None:
            out = out + self.linear_path(x.flatten(1))
        return out


class ConvBlock(nn.Module):
    """conv-BN-ReLU; residual: conv-BN-ReLU-conv-BN plus the input (1x1 conv when widths differ), ReLU."""

    def __init__(self, channels_in: int, channels_out: int, kernel_size: int, residual: bool) -> None:
        super().__init__()
        pad = kernel_size // 2
        layers: list[nn.Module] = [
            nn.Conv2d(channels_in, channels_out, kernel_size, padding=pad, bias=False),
            nn.BatchNorm2d(channels_out),
        ]
        self.skip: nn.Module | None = None
        if residual:
            layers += [
                nn.ReLU(inplace=True),
                nn.Conv2d(channels_out, channels_out, kernel_size, padding=pad, bias=False),
                nn.BatchNorm2d(channels_out),
            ]
            same = channels_in == channels_out
            self.skip = nn.Identity() if same else nn.Conv2d(channels_in, channels_out, 1, bias=False)
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        out = self.body(x)
        if self.skip is not None:
            out = out + self.skip(x)
        return torch.relu(out)


class ConvNet(nn.Module):
    """Stages of conv blocks, each stage ending in 2x2 max-pooling, then a small fully connected head.

    `channels` gives one stage per entry (its width), `blocks` the conv blocks per stage: depth is
    len(channels) x blocks (x2 convs when residual). LeNet-like for MNIST (channels [16, 32], flattened
    features into the head); with `residual` and `global_pool` a small ResNet for CIFAR-10. Outputs logits.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_features: int,
        channels: Sequence[int] = (32, 64),
        blocks: int = 1,
        kernel_size: int = 3,
        residual: bool = False,
        global_pool: bool = False,
        hidden: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the image size, got {kernel_size}")
        in_channels, height, width = in_shape
        stages: list[nn.Module] = []
        if blocks < 1 or not channels:
            raise ValueError(
                f"ConvNet needs at least one stage and one block, got channels={channels}, blocks={blocks}"
            )
        for channels_in, channels_out in zip([in_channels, *channels], channels, strict=False):
            for block in range(blocks):
                width_in = channels_in if block == 0 else channels_out
                stages.append(ConvBlock(width_in, channels_out, kernel_size, residual))
            stages.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        if height < 1 or width < 1:
            raise ValueError(f"{len(channels)} pooling stages shrink a {tuple(in_shape)} image to nothing")
        self.features = nn.Sequential(*stages)
        pooled = channels[-1] if global_pool else channels[-1] * height * width
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1) if global_pool else nn.Identity(),
            nn.Flatten(),
            nn.Linear(pooled, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x):
        return self.head(self.features(x))
