"""Adam / AdamW for a population of models whose parameters are stacked along dim 0.

Vectorised cross-validation trains K members (one per fold) as one model: every parameter
has the member dim first. Some members must skip some steps (early-stopped, or out of
batches this epoch), and a skipped step has to leave that member exactly as if it never
happened: parameters, both moments *and* the step count behind Adam's bias correction.
torch.optim.Adam keeps one step count per tensor, so it cannot skip a slice; this optimizer
keeps a (K,) step count per tensor and takes `active` (a (K,) bool mask) at every step.

Two kernels, chosen by a member's size (`FUSED_FROM`). Small members: the arithmetic of
torch/optim/adam.py's `_single_tensor_adam` (the path torch.optim.Adam takes on CPU) operation by
operation, so an active member tracks torch.optim.Adam / AdamW run on that member alone bit for bit
(the tests check it). Members of FUSED_FROM values or more: torch's fused Adam kernel
(`torch._fused_adam_`, what torch.optim.Adam(fused=True) runs) over each active member's row, with its
own step count: one pass over each row instead of about ten, 2.6x faster on CAF's 557-300-100-20-4
population here, with no copy of the active rows. Its rounding differs from the single-tensor path in
the last bits (about 1e-8 after a few steps), which is the order of the batched matmul's own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

# Keyword arguments of torch.optim.Adam/AdamW: implemented, irrelevant here, or refused unless off.
_IMPLEMENTED = {"lr", "betas", "eps", "weight_decay", "decoupled_weight_decay"}
_IGNORED = {"foreach", "fused", "capturable", "differentiable"}  # speed/autograd knobs, same maths
_MUST_BE_FALSE = {"amsgrad", "maximize"}
CHUNK = 1 << 18  # values per block of members in a step (1 MiB of float32 per tensor)
# Values of one member from which its step is the fused kernel (smaller: the single-tensor arithmetic).
FUSED_FROM = 1 << 16


def _name(obj: Any) -> str:
    """Public dotted name of a class, e.g. torch.optim.SGD rather than torch.optim.sgd.SGD."""
    name = getattr(obj, "__name__", None)
    if name is not None and getattr(torch.optim, name, None) is obj:
        return f"torch.optim.{name}"
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class PopulationAdam(torch.optim.Optimizer):
    """Adam (or AdamW with decoupled=True) over stacked members, updating only the active ones."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        """Same hyperparameters as torch.optim.Adam; decoupled=True gives torch.optim.AdamW's decay."""
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            if not value >= 0.0:
                raise ValueError(f"PopulationAdam needs {name} >= 0, got {value}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"PopulationAdam needs 0 <= betas < 1, got {tuple(betas)}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, decoupled=decoupled)
        super().__init__(params, defaults)

    @classmethod
    def from_factory(cls, factory: Callable[..., torch.optim.Optimizer], params: Any) -> PopulationAdam:
        """Build the equivalent of a Hydra `_partial_` torch.optim.Adam/AdamW; refuse anything else."""
        func = factory.func if isinstance(factory, functools.partial) else factory
        if func is not torch.optim.Adam and func is not torch.optim.AdamW:
            raise ValueError(
                f"cv.vectorize supports model/optimizer=adam|adamw; got {_name(func)}: "
                "use it with cv.vectorize=false (the sequential folds)"
            )
        if isinstance(factory, functools.partial) and factory.args:
            raise ValueError(
                f"{_name(func)} partial has positional arguments {factory.args!r}: "
                "give the optimizer settings as keywords (lr, betas, eps, weight_decay)"
            )
        # The class's own defaults first: AdamW's weight_decay default (0.01) is not Adam's (0).
        signature = inspect.signature(func.__init__).parameters
        kwargs = {k: p.default for k, p in signature.items() if p.default is not inspect.Parameter.empty}
        given = dict(factory.keywords) if isinstance(factory, functools.partial) else {}
        for key, value in given.items():
            if key in _MUST_BE_FALSE and value:
                raise ValueError(
                    f"cv.vectorize does not implement {_name(func)}'s {key}={value!r}: "
                    f"set {key}: false in the optimizer config or use cv.vectorize=false"
                )
            if key not in _IMPLEMENTED | _IGNORED | _MUST_BE_FALSE:
                raise ValueError(
                    f"cv.vectorize does not implement {_name(func)}'s argument {key}={value!r}: "
                    f"remove {key} from the optimizer config or use cv.vectorize=false"
                )
        kwargs.update(given)
        return cls(
            params,
            lr=float(kwargs["lr"]),
            betas=(float(kwargs["betas"][0]), float(kwargs["betas"][1])),  # a YAML list arrives as ListConfig
            eps=float(kwargs["eps"]),
            weight_decay=float(kwargs["weight_decay"]),
            decoupled=func is torch.optim.AdamW or bool(kwargs.get("decoupled_weight_decay", False)),
        )

    def step(self, active: Tensor, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One Adam step for the members where `active` (a (K,) bool tensor) is True; others untouched."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.update(active)
        return loss

    @torch.no_grad()
    def update(self, active: Tensor) -> None:
        """`step` without a closure and without torch's step hooks (profiler, hooks: a tenth of a
        millisecond a step, which the population's training loop calls directly)."""
        active = torch.as_tensor(active, dtype=torch.bool)
        if active.dim() != 1:
            raise ValueError(f"active must be a (K,) bool tensor, got shape {tuple(active.shape)}")
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, decoupled = group["weight_decay"], group["decoupled"]
            for p in group["params"]:
                if p.grad is None:
                    continue  # as torch.optim.Adam: a tensor without a gradient is not stepped at all
                if p.grad.is_sparse:
                    raise RuntimeError("PopulationAdam does not support sparse gradients")
                if p.dim() == 0 or p.shape[0] != active.shape[0]:
                    raise ValueError(
                        f"parameter of shape {tuple(p.shape)} has no member dim of size {active.shape[0]}"
                    )
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros(p.shape[0], dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if state["step"].device != p.device:  # a loaded state_dict keeps the step where it was saved
                    state["step"] = state["step"].to(p.device)
                tensors = (p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"])
                settings = (lr, beta1, beta2, eps, weight_decay, decoupled)
                act = active.to(p.device)
                if p[0].numel() >= FUSED_FROM:
                    fused_adam_(tensors, act.nonzero()[:, 0].tolist(), *settings)
                    continue
                # Members in blocks of about CHUNK values: a block's passes over its weights, gradient
                # and moments stay in the CPU's cache (a wide net's population does not fit in it, and
                # each of Adam's elementwise passes would go to memory).
                block = max(1, CHUNK // max(1, p[0].numel()))
                if bool(act.all()):  # every member steps: in place, on views, no copies
                    for start in range(0, len(p), block):
                        adam_(*(t[start : start + block] for t in tensors), *settings)
                elif bool(act.any()):
                    # The active members' rows, stepped and written back: the others are not touched
                    # at all, and the work is that of the members that step.
                    for rows in act.nonzero()[:, 0].split(block):
                        taken = [t.index_select(0, rows) for t in tensors]
                        adam_(*taken, *settings)
                        for whole, part in zip(tensors, taken, strict=True):
                            if whole is not p.grad:
                                whole.index_copy_(0, rows, part)


def adam_(
    param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step_t: Tensor,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
) -> None:  # fmt: skip
    """One Adam (AdamW: `decoupled`) step of every member in these tensors, in place: torch's
    `_single_tensor_adam` operation by operation, with each member's own step count."""
    step_t += 1
    if weight_decay != 0:
        if decoupled:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(param, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    # Bias corrections in float64, as torch does them in Python floats, then the member's value cast to
    # the parameter's dtype exactly as torch casts its Python scalar into the kernel.
    shape = (-1, *([1] * (param.dim() - 1)))
    step64 = step_t.double()
    neg_step_size = (-(lr / (1 - beta1**step64))).to(param.dtype).view(shape)
    bias_correction2_sqrt = (1 - beta2**step64).sqrt().to(param.dtype).view(shape)
    denom = exp_avg_sq.sqrt().div_(bias_correction2_sqrt).add_(eps)
    # addcdiv_'s kernel computes param + (value * t1) / t2: the same order, with a per-member value.
    param.add_((neg_step_size * exp_avg).div_(denom))


def fused_adam_(
    tensors: tuple[Tensor, ...], members: list[int],
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
) -> None:  # fmt: skip
    """One step of `members` by torch's fused Adam (AdamW: `decoupled`) kernel, in place on their rows:
    each row a tensor of the kernel's lists, its step count a 0-dim view of the (K,) counts."""
    if not members:
        return
    param, grad, exp_avg, exp_avg_sq, step_t = tensors
    steps = [step_t[k] for k in members]
    torch._foreach_add_(steps, 1)  # as torch.optim.Adam(fused=True): the count first, then the kernel
    kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
    kernel(
        [param[k] for k in members], [grad[k] for k in members], [exp_avg[k] for k in members],
        [exp_avg_sq[k] for k in members], [], steps,
        amsgrad=False, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, maximize=False,
    )  # fmt: skip
