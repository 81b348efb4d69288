"""PopulationAdam: each member of a stacked population steps exactly like its own torch Adam/AdamW."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from litlab.population.optim import FUSED_FROM, PopulationAdam

K = 3
SHAPES = [(4, 3), (4,), (1, 4), (1,)]  # a 3 -> 4 -> 1 MLP: weight, bias, weight, bias
STEPS = 50
OPTIMIZER_CONF = Path(__file__).resolve().parents[1] / "conf" / "model" / "optimizer"


def stacked_params(seed: int = 0) -> list[torch.Tensor]:
    """The population's parameters: every tensor has the member dim first."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(K, *shape, generator=gen).requires_grad_() for shape in SHAPES]


def gradient_sequence(seed: int = 1) -> list[list[torch.Tensor]]:
    """A fixed random gradient per step and tensor (scaled differently so Adam's moments matter)."""
    gen = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(K, *shape, generator=gen) * (1 + step % 5) for shape in SHAPES] for step in range(STEPS)
    ]


def schedule(step: int) -> torch.Tensor:
    """Member 0 always steps; member 1 sits out steps 3-7; member 2 stops (early-stops) at step 10."""
    return torch.tensor([True, not 3 <= step <= 7, step < 10])


def set_grads(params: list[torch.Tensor], grads: list[torch.Tensor], active: torch.Tensor) -> None:
    """Give every member a gradient; frozen members get garbage, which must not matter."""
    for p, g in zip(params, grads, strict=True):
        garbage = torch.full_like(g, 1e3)
        p.grad = torch.where(active.view(-1, *([1] * (g.dim() - 1))), g, garbage)


def member_state(opt: PopulationAdam, params: list[torch.Tensor], k: int) -> list[torch.Tensor]:
    """Member k's slice of everything the optimizer keeps (params, moments, step count)."""
    out = [p.detach()[k].clone() for p in params]
    for p in params:
        state = opt.state[p]
        if state:
            out += [state["exp_avg"][k].clone(), state["exp_avg_sq"][k].clone(), state["step"][k].clone()]
    return out


CONFIGS = [
    pytest.param(torch.optim.Adam, dict(lr=1e-2), id="adam"),
    pytest.param(torch.optim.Adam, dict(lr=1e-2, weight_decay=0.1), id="adam-l2"),
    pytest.param(torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.0), id="adamw-no-decay"),
    pytest.param(torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.05), id="adamw"),
    pytest.param(torch.optim.AdamW, dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6), id="adamw-betas-eps"),
]


@pytest.mark.parametrize(("torch_cls", "kwargs"), CONFIGS)
def test_members_match_independent_torch_optimizers(torch_cls, kwargs) -> None:
    params = stacked_params()
    opt = PopulationAdam.from_factory(functools.partial(torch_cls, **kwargs), params)
    # Member k's reference: an independent model made of its slices, with its own torch optimizer.
    refs = [[p.detach()[k].clone().requires_grad_() for p in params] for k in range(K)]
    ref_opts = [torch_cls(ref, **kwargs) for ref in refs]

    grads = gradient_sequence()
    for step in range(STEPS):
        active = schedule(step)
        before = [member_state(opt, params, k) for k in range(K)]
        set_grads(params, grads[step], active)
        opt.step(active)
        for k in range(K):
            if active[k]:  # the reference skips exactly the steps the member sits out
                for ref_p, g in zip(refs[k], grads[step], strict=True):
                    ref_p.grad = g[k].clone()
                ref_opts[k].step()
            else:
                after = member_state(opt, params, k)
                assert all(torch.equal(a, b) for a, b in zip(before[k], after, strict=True)), (
                    f"frozen member {k} changed at step {step}"
                )

    for k in range(K):
        for p, ref_p in zip(params, refs[k], strict=True):
            torch.testing.assert_close(p.detach()[k], ref_p.detach(), rtol=1e-6, atol=1e-8)
            ref_state = ref_opts[k].state[ref_p]
            torch.testing.assert_close(opt.state[p]["exp_avg"][k], ref_state["exp_avg"], rtol=1e-6, atol=1e-8)
            torch.testing.assert_close(
                opt.state[p]["exp_avg_sq"][k], ref_state["exp_avg_sq"], rtol=1e-6, atol=1e-8
            )
            assert opt.state[p]["step"][k] == ref_state["step"]
    assert opt.state[params[0]]["step"].tolist() == [50.0, 45.0, 10.0]
    # The members really did move far from where they started, so the comparison means something.
    assert all((p.detach() - q).abs().max() > 0.05 for p, q in zip(params, stacked_params(), strict=True))


@pytest.mark.parametrize("torch_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_float32_on_cpu_is_bit_identical(torch_cls) -> None:
    """Torch's own formula order, float64 bias corrections: on CPU not even the last bit differs."""
    params = stacked_params()
    opt = PopulationAdam.from_factory(functools.partial(torch_cls, lr=1e-2, weight_decay=0.05), params)
    refs = [[p.detach()[k].clone().requires_grad_() for p in params] for k in range(K)]
    ref_opts = [torch_cls(ref, lr=1e-2, weight_decay=0.05) for ref in refs]
    for step, grads in enumerate(gradient_sequence()):
        set_grads(params, grads, schedule(step))
        opt.step(schedule(step))
        for k in range(K):
            if schedule(step)[k]:
                for ref_p, g in zip(refs[k], grads, strict=True):
                    ref_p.grad = g[k].clone()
                ref_opts[k].step()
    for k in range(K):
        assert all(torch.equal(p.detach()[k], r.detach()) for p, r in zip(params, refs[k], strict=True))


@pytest.mark.parametrize("torch_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_wide_members_step_as_torchs_fused_adam_bit_for_bit(torch_cls) -> None:
    """Members of FUSED_FROM values or more take torch's fused kernel, one row per member: each equals
    torch_cls(fused=True) on that member alone, bit for bit, and a member sitting out is untouched."""
    gen = torch.Generator().manual_seed(0)
    flat = torch.randn(K, FUSED_FROM, generator=gen).requires_grad_()
    opt = PopulationAdam.from_factory(functools.partial(torch_cls, lr=1e-2, weight_decay=0.05), [flat])
    refs = [flat.detach()[k].clone().requires_grad_() for k in range(K)]
    ref_opts = [torch_cls([ref], lr=1e-2, weight_decay=0.05, fused=True) for ref in refs]
    for step in range(12):
        grad = torch.randn(K, FUSED_FROM, generator=gen)
        active = schedule(step)
        before = flat.detach().clone()
        set_grads([flat], [grad], active)
        opt.step(active)
        for k in range(K):
            if active[k]:
                refs[k].grad = grad[k].clone()
                ref_opts[k].step()
            else:
                assert torch.equal(flat.detach()[k], before[k]), f"member {k} moved at step {step}"
    for k in range(K):
        assert torch.equal(flat.detach()[k], refs[k].detach())
        assert torch.equal(opt.state[flat]["exp_avg_sq"][k], ref_opts[k].state[refs[k]]["exp_avg_sq"])
    assert opt.state[flat]["step"].tolist() == [12.0, 7.0, 10.0]


def test_plain_torch_adam_cannot_freeze_a_member() -> None:
    """Why this optimizer exists: torch.optim.Adam with a zero gradient still moves a member."""
    params = stacked_params()
    opt = torch.optim.Adam(params, lr=1e-2)
    grads = gradient_sequence()
    for step in range(3):
        set_grads(params, grads[step], torch.ones(K, dtype=torch.bool))
        opt.step()
    frozen = params[0].detach()[1].clone()
    for p, g in zip(params, grads[3], strict=True):
        g = g.clone()
        g[1] = 0
        p.grad = g
    opt.step()
    assert not torch.equal(params[0].detach()[1], frozen)  # momentum carried it on


def test_all_inactive_step_changes_nothing() -> None:
    params = stacked_params()
    opt = PopulationAdam(params, lr=1e-2)
    start = [p.detach().clone() for p in params]
    set_grads(params, gradient_sequence()[0], torch.ones(K, dtype=torch.bool))
    opt.step(torch.zeros(K, dtype=torch.bool))
    assert all(torch.equal(p.detach(), s) for p, s in zip(params, start, strict=True))
    for p in params:
        assert not opt.state[p]["exp_avg"].any() and not opt.state[p]["exp_avg_sq"].any()
        assert opt.state[p]["step"].tolist() == [0.0] * K


@pytest.mark.parametrize("decoupled", [False, True])
def test_state_dict_round_trip_continues_bit_identically(decoupled: bool) -> None:
    grads = gradient_sequence()
    params = stacked_params()
    opt = PopulationAdam(params, lr=1e-2, weight_decay=0.05, decoupled=decoupled)
    for step in range(12):
        set_grads(params, grads[step], schedule(step))
        opt.step(schedule(step))

    buffer = io.BytesIO()  # through torch.save/torch.load, as a checkpoint would go
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = PopulationAdam(resumed_params, lr=1.0)  # hyperparameters come back from the state_dict
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.param_groups[0]["lr"] == 1e-2 and resumed.param_groups[0]["decoupled"] is decoupled

    for step in range(12, 30):
        for ps, o in ((params, opt), (resumed_params, resumed)):
            set_grads(ps, grads[step], schedule(step))
            o.step(schedule(step))
    for p, q in zip(params, resumed_params, strict=True):
        assert torch.equal(p, q)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt.state[p][key], resumed.state[q][key])


def test_step_rejects_a_mask_that_does_not_fit() -> None:
    params = stacked_params()
    opt = PopulationAdam(params)
    set_grads(params, gradient_sequence()[0], torch.ones(K, dtype=torch.bool))
    with pytest.raises(ValueError, match="no member dim of size 2"):
        opt.step(torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(K,\) bool tensor"):
        opt.step(torch.ones(K, 1, dtype=torch.bool))


def hydra_factory(name: str, **overrides):
    """What Hydra hands the model for conf/model/optimizer/<name>.yaml (a partial)."""
    conf = OmegaConf.load(OPTIMIZER_CONF / f"{name}.yaml")
    return instantiate(OmegaConf.merge(conf, overrides))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("adam", dict(lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False)),
        ("adamw", dict(lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, decoupled=True)),
    ],
)
def test_from_factory_reads_the_config_yamls(name: str, expected: dict) -> None:
    factory = hydra_factory(name)
    params = stacked_params()
    opt = PopulationAdam.from_factory(factory, params)
    assert {key: opt.defaults[key] for key in expected} == expected
    # And it steps like the optimizer the same factory builds for one member.
    ref = [p.detach()[0].clone().requires_grad_() for p in params]
    ref_opt = factory(params=ref)
    for grads in gradient_sequence()[:10]:
        set_grads(params, grads, torch.ones(K, dtype=torch.bool))
        opt.step(torch.ones(K, dtype=torch.bool))
        for r, g in zip(ref, grads, strict=True):
            r.grad = g[0].clone()
        ref_opt.step()
    for p, r in zip(params, ref, strict=True):
        torch.testing.assert_close(p.detach()[0], r.detach(), rtol=1e-6, atol=1e-8)


def test_from_factory_uses_the_class_defaults_and_yaml_lists() -> None:
    opt = PopulationAdam.from_factory(functools.partial(torch.optim.AdamW), stacked_params())
    assert opt.defaults["weight_decay"] == 0.01 and opt.defaults["decoupled"] is True
    opt = PopulationAdam.from_factory(hydra_factory("adam", betas=[0.8, 0.95], eps=1e-6), stacked_params())
    assert opt.defaults["betas"] == (0.8, 0.95) and opt.defaults["eps"] == 1e-6
    # Speed knobs change nothing in the maths: accepted.
    opt = PopulationAdam.from_factory(
        functools.partial(torch.optim.Adam, lr=0.1, foreach=False, fused=None), stacked_params()
    )
    assert opt.defaults["lr"] == 0.1
    opt = PopulationAdam.from_factory(
        functools.partial(torch.optim.Adam, decoupled_weight_decay=True), stacked_params()
    )
    assert opt.defaults["decoupled"] is True


@pytest.mark.parametrize("name", ["sgd", "rmsprop"])
def test_from_factory_refuses_other_optimizers(name: str) -> None:
    expected = {"sgd": "torch.optim.SGD", "rmsprop": "torch.optim.RMSprop"}[name]
    with pytest.raises(ValueError) as err:
        PopulationAdam.from_factory(hydra_factory(name), stacked_params())
    assert str(err.value) == (
        f"cv.vectorize supports model/optimizer=adam|adamw; got {expected}: "
        "use it with cv.vectorize=false (the sequential folds)"
    )


def test_from_factory_refuses_a_subclass_of_adam() -> None:
    class MyAdam(torch.optim.Adam):
        pass

    with pytest.raises(ValueError, match="got .*MyAdam: use it with cv.vectorize=false"):
        PopulationAdam.from_factory(functools.partial(MyAdam, lr=0.1), stacked_params())


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(amsgrad=True), r"torch.optim.Adam's amsgrad=True: set amsgrad: false .* cv.vectorize=false"),
        (dict(maximize=True), r"maximize=True: set maximize: false"),
        (dict(momentum=0.9), r"argument momentum=0.9: remove momentum from the optimizer config"),
    ],
)
def test_from_factory_refuses_what_it_does_not_implement(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        PopulationAdam.from_factory(functools.partial(torch.optim.Adam, lr=0.1, **kwargs), stacked_params())


def test_from_factory_accepts_the_off_values_of_refused_flags() -> None:
    factory = hydra_factory("adamw", amsgrad=False, maximize=False)
    assert PopulationAdam.from_factory(factory, stacked_params()).defaults["decoupled"] is True
