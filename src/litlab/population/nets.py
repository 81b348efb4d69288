"""K nets of one architecture as one module: every parameter stacked along a first, member dimension.

Written by hand, not through `torch.func` (`stack_module_state` + `functional_call` + `vmap`): for the
lectures' MLPs a batched matmul per layer (`torch.baddbmm`) is all a population needs, and it trains 25
members in about half the time vmap takes on this CPU (issue 17's prototype: 0.60 s against 1.17 s).
So only what those batched layers can express is supported: `nn.Linear`, elementwise activations,
`nn.Dropout` (each member draws its own mask: the masks are elementwise over members too) and
`nn.Flatten`. A net with BatchNorm (whose running statistics would be shared), convolutions or its own
`forward` logic is refused, naming the sequential path.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import nn

from litlab.population.run import SEQUENTIAL_PATH

# Activations that mix a row's values (over a dim that the member dimension shifts) or hold parameters.
NOT_ELEMENTWISE = {"Softmax", "Softmin", "LogSoftmax", "Softmax2d", "MultiheadAttention", "GLU", "PReLU"}


def is_elementwise(layer: nn.Module) -> bool:
    """A torch.nn activation that acts on each value alone, with no parameters of its own."""
    kind = type(layer)
    return kind.__module__ == nn.modules.activation.__name__ and kind.__name__ not in NOT_ELEMENTWISE


def member_layers(net: nn.Module) -> list[nn.Module]:
    """The layers of a net that a population can stack, in order; refused with the reason otherwise."""
    from litlab.models.nets import MLP

    if not isinstance(net, MLP):
        problem = (
            "BatchNorm and convolutions" if any(isinstance(m, nn.BatchNorm2d) for m in net.modules()) else ""
        )
        raise ValueError(
            f"cv.vectorize=true trains MLPs (model/net=mlp) as one population; {type(net).__name__} "
            f"{'has ' + problem + ', which' if problem else 'is a net that'} a population of batched layers "
            f"cannot stack: {SEQUENTIAL_PATH}"
        )
    if net.linear_path is not None:
        raise ValueError(
            "cv.vectorize=true stacks plain MLPs, and this one has a linear path beside its hidden layers "
            f"(model.net.linear_path=true); {SEQUENTIAL_PATH}"
        )
    for layer in net.layers:
        if not (isinstance(layer, nn.Linear | nn.Flatten | nn.Dropout) or is_elementwise(layer)):
            raise ValueError(
                f"cv.vectorize=true cannot stack a {type(layer).__name__} layer (supported: Linear, Dropout, "
                f"Flatten and elementwise activations); {SEQUENTIAL_PATH}"
            )
    layers = list(net.layers)
    return layers


def write_rows(into: torch.Tensor, rows: torch.Tensor, grad: torch.Tensor) -> None:
    """A gradient hook: `grad` (of `rows` of a tensor) written into those rows of `into`."""
    into.index_copy_(0, rows, grad)


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """nn.functional.dropout's training output (each value zeroed with probability p, the others scaled
    by 1 / (1 - p)), its mask drawn as uniform values >= p: 2.7x faster on this CPU than the Bernoulli
    draws torch's dropout makes, and a population's masks cannot be the sequential folds' anyway (they
    come from one random stream for all members)."""
    # Drawn in float32 whatever x is: under bf16 autocast a bf16 uniform's grid (1/256) biases the rate.
    keep = (torch.rand(x.shape, dtype=torch.float32, device=x.device) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * keep


class StackedMLP(nn.Module):
    """The MLPs of K members as one module: input (K, batch, features) -> logits (K, batch, outputs).

    All weights live in one (K, P) parameter, `flat`, which the population's optimizer steps as one
    tensor (for small nets a Python loop of kernels per tensor is what a step costs). Each layer's weight
    and bias are leaf tensors that are views of slices of it, and their gradients views of `flat.grad`:
    a forward of every member accumulates straight into the one flat gradient in backward, with no copy
    (slicing `flat` inside the forward would make each layer's backward write a whole (K, P) gradient);
    a forward of some members writes their rows of it (`subset_layers`).
    """

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("a population needs at least one member")
        per_member = [member_layers(net) for net in nets]
        self.members = len(nets)
        self.template = per_member[0]  # the layer kinds, in order; Linear layers read their slices of flat
        self.linear_names = [
            f"layers.{i}" for i, layer in enumerate(self.template) if isinstance(layer, nn.Linear)
        ]
        self.shapes = [
            (layer.in_features, layer.out_features) for layer in self.template if isinstance(layer, nn.Linear)
        ]
        rows = []
        for layers in per_member:
            # (in, out) weights, transposed: baddbmm(bias, x, weight) computes x @ W^T + b for all members.
            pieces = [
                t for layer in layers if isinstance(layer, nn.Linear) for t in (layer.weight.t(), layer.bias)
            ]
            rows.append(torch.cat([t.detach().reshape(-1) for t in pieces]))
        self.flat = nn.Parameter(torch.stack(rows))
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.grad: torch.Tensor | None = None
        self.link()

    def link(self) -> None:
        """Each layer's (weight, bias) as leaf views of `flat`, their gradients as views of `flat.grad`
        (allocated here, zero); again whenever `flat` is replaced (moved to a device, cast)."""
        learns = self.flat.requires_grad
        if learns and (self.flat.grad is None or self.flat.grad.shape != self.flat.shape):
            self.flat.grad = torch.zeros_like(self.flat)
        self.grad = self.flat.grad  # what the layers' gradients are views of
        grads = self.layer_views(self.flat.grad) if learns else [(None, None)] * len(self.shapes)
        self.layers = []
        for (weight, bias), (weight_grad, bias_grad) in zip(
            self.layer_views(self.flat.detach()), grads, strict=True
        ):
            if learns:
                weight.requires_grad_()
                bias.requires_grad_()
                weight.grad, bias.grad = weight_grad, bias_grad
            self.layers.append((weight, bias))

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001, ANN202  (nn.Module's own signature)
        module = super()._apply(fn, recurse)
        self.link()  # `.to(device)` gave flat new storage: the views must follow it
        return module

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the flat gradient in place, and give it back to `flat` if a caller took it away (a
        parent module's zero_grad, as Lightning's fit calls, sets it to None)."""
        if self.grad is not None:
            self.grad.zero_()
            self.flat.grad = self.grad

    def layer_views(self, flat: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (K, in, out), bias (K, 1, out)) of each Linear layer, views into `flat` (default: own)."""
        flat = self.flat if flat is None else flat
        views, start = [], 0
        for width_in, width_out in self.shapes:
            weight = flat[:, start : start + width_in * width_out].view(-1, width_in, width_out)
            start += width_in * width_out
            bias = flat[:, start : start + width_out].view(-1, 1, width_out)
            start += width_out
            views.append((weight, bias))
        return views

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of every member, or of `members` only (indices; x then holds their rows only)."""
        x = x.flatten(2)
        layers = self.layers if members is None else self.subset_layers(members)
        linear = iter(layers)
        for layer in self.template:
            if isinstance(layer, nn.Linear):
                weight, bias = next(linear)
                x = torch.baddbmm(bias, x, weight)
            elif isinstance(layer, nn.Dropout):
                x = dropout(x, layer.p) if self.training and layer.p else x  # every member its own mask
            elif not isinstance(layer, nn.Flatten):
                x = layer(x)  # elementwise: the same for every member
        return x

    def subset_layers(self, members: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) of each Linear layer of `members` only: copies of their rows. While gradients
        are recorded, each copy's gradient is written into those rows of its layer's view of the flat
        gradient, replacing what they held (so a step that computes some members need not zero the flat
        gradient first). Its costs are those of these members alone: indexing each layer's weights
        instead would make every layer's backward build and add a gradient of all members, and one
        copy of the members' rows of `flat` a gradient of all their rows for every layer."""
        # (A copy such as the best weights' has no gradient to write into, whatever requires_grad says.)
        recording = self.flat.requires_grad and self.grad is not None and torch.is_grad_enabled()
        grads = self.layer_views(self.grad) if recording else [(None, None)] * len(self.shapes)
        layers = []
        for values, layer_grads in zip(self.layer_views(self.flat.detach()), grads, strict=True):
            parts = []
            for value, grad in zip(values, layer_grads, strict=True):
                part = value.index_select(0, members)
                if recording:
                    part.requires_grad_().register_hook(functools.partial(write_rows, grad, members))
                parts.append(part)
            layers.append((parts[0], parts[1]))
        if recording:
            self.flat.grad = self.grad  # given back, as zero_grad does, if a caller took it away
        return layers

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member `k`'s weights under its own MLP's state_dict keys (what its checkpoint holds)."""
        state = {}
        for name, (weight, bias) in zip(
            self.linear_names, self.layer_views(self.flat.detach()[k : k + 1]), strict=True
        ):
            state[f"{name}.weight"] = weight[0].t().contiguous().clone()
            state[f"{name}.bias"] = bias[0, 0].clone()
        return state
