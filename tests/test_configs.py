"""Configs held against code: every `_target_` node names only parameters of its target and none that is
required is missing; a group file repeats no constructor default with another value; an experiment sets
only what differs from the groups it picks."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import compose_config
from hydra.utils import get_object
from omegaconf import OmegaConf

from litlab.runtime.resolvers import REPO_ROOT

CONF = REPO_ROOT / "conf"
# Hydra's own keys of an instantiated node, not arguments of the target.
HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# Groups whose files hold (or build up) instantiated nodes; experiments are composed on their own.
GROUPS = [
    "data",
    "model",
    "model/net",
    "model/optimizer",
    "model/scheduler",
    "callbacks",
    "logger",
    "trainer",
]
# Where a literal that repeats a default of litlab's own code must equal it.
DEFAULT_GROUPS = ("data", "model", "callbacks")
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass
class Signature:
    """What a target accepts: keyword parameters, each with the class (or function) that declares it."""

    params: dict[str, tuple[inspect.Parameter, Any]]
    any_key: bool  # **kwargs that go somewhere unseen: any key is accepted
    required: set[str]  # without a default in the target's own signature


def parameters(target: str) -> Signature:
    """The parameters of `target`, a function or a class.

    A class's `__init__` that takes **kwargs forwards them to its base, so the bases' parameters count
    too, the nearest declaration winning; **kwargs still open at the end of the MRO go somewhere this
    cannot see (TensorBoardLogger's to its SummaryWriter), and then any key is accepted. Only the
    target's own signature says what is required: a base's required parameters are often passed by the
    subclass itself (TensorBoardLogger passes its base's root_dir).
    """
    obj = get_object(target)
    # (declaring class or the function itself, the callable, whether its first parameter is self)
    inits = [(obj, obj, False)] if not inspect.isclass(obj) else [
        (cls, cls.__dict__["__init__"], True) for cls in obj.__mro__
        if cls is not object and "__init__" in cls.__dict__
    ]  # fmt: skip
    found: dict[str, tuple[inspect.Parameter, Any]] = {}
    required: set[str] | None = None
    forwarding = False
    for owner, init, bound in inits:
        own = list(inspect.signature(init).parameters.values())[1 if bound else 0 :]
        named = [p for p in own if p.kind not in VARIADIC]
        for p in named:
            found.setdefault(p.name, (p, owner))
        if required is None:
            required = {p.name for p in named if p.default is inspect.Parameter.empty}
        forwarding = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in own)
        if not forwarding:
            break
    return Signature(found, forwarding, required or set())


def target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every mapping with a `_target_` in a plain container, with its dotted path."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield path, node
        for key, value in node.items():
            yield from target_nodes(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from target_nodes(value, f"{path}[{i}]")


def signature_problems(where: str, path: str, node: dict, supplied: set[str] = frozenset()) -> list[str]:
    """Keys that are no parameter of the node's target, and required parameters it lacks."""
    target = node["_target_"]
    signature = parameters(target)
    at = f"{path}." if path else ""
    keys = set(node) - HYDRA_KEYS
    problems = []
    if not signature.any_key:
        for key in sorted(keys - set(signature.params)):
            problems.append(
                f"{where}: {at}{key} is not a parameter of {target} (it takes {sorted(signature.params)}); "
                "remove the key or rename it to one of those"
            )
    if not node.get("_partial_"):  # a partial's missing arguments come at call time
        for key in sorted(signature.required - keys - supplied):
            problems.append(
                f"{where}: {path or 'the file'} lacks `{key}`, a required parameter of {target}; add "
                f"`{at}{key}: ...`, or `_partial_: true` if the caller supplies it"
            )
    return problems


def is_literal(value: Any) -> bool:
    """No interpolation anywhere in it (those are not repetitions of a default)."""
    if isinstance(value, str):
        return "${" not in value
    if isinstance(value, dict):
        return all(is_literal(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_literal(v) for v in value)
    return True


def plain(value: Any) -> Any:
    """YAML lists and Python tuples alike; bools kept apart from the numbers they equal."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    return value


def default_problems(where: str, path: str, node: dict) -> list[str]:
    """Literal values of a litlab target that differ from the constructor default they repeat."""
    target = node["_target_"]
    if not target.startswith("litlab."):
        return []
    params = parameters(target).params
    problems = []
    for key, value in node.items():
        if key in HYDRA_KEYS or key not in params or not is_literal(value):
            continue
        param, owner = params[key]
        if param.default is inspect.Parameter.empty or plain(value) == plain(param.default):
            continue
        if param.default in ((), [], ""):
            continue  # "none given" (class_names=()): a value there is the data's, not a repetition
        problems.append(
            f"{where}: {f'{path}.' if path else ''}{key} is {value!r} but the default of "
            f"{owner.__module__}.{owner.__qualname__} is {param.default!r}; make them one value: the "
            "default lives in the class (a data set's own default in its own class's signature), and "
            "the YAML repeats it exactly or leaves it out"
        )
    return problems


def group_files() -> list[Path]:
    """conf/<group>/**.yaml of the groups that configure objects (not the `_global_` packages)."""
    files = [p for group in ("data", "model", "callbacks", "logger", "trainer", "hydra") for p in
             sorted((CONF / group).rglob("*.yaml"))]  # fmt: skip
    return [p for p in files if "@package _global_" not in p.read_text()]


def read_yaml(path: Path) -> dict:
    """A config file as plain values, interpolations kept as written (read as Hydra reads it: 1e-4 is a
    number)."""
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}


def subgroups(defaults: list) -> set[str]:
    """Keys a file's defaults list fills in (`- net: mlp` fills `net`)."""
    return {key for entry in defaults if isinstance(entry, dict) for key in entry if "/" not in key}


def relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@pytest.mark.parametrize("path", group_files(), ids=relative)
def test_group_file_matches_the_signatures_and_defaults(path):
    content = read_yaml(path)
    supplied = subgroups(content.pop("defaults", []))
    group = path.relative_to(CONF).parts[0]
    problems = []
    for node_path, node in target_nodes(content):
        problems += signature_problems(relative(path), node_path, node, supplied if not node_path else set())
        if group in DEFAULT_GROUPS:
            problems += default_problems(relative(path), node_path, node)
    assert not problems, "\n".join(problems)


def composed_problems(where: str, *overrides: str) -> list[str]:
    """Signature problems of conf/train.yaml composed with `overrides`: the job's every `_target_`, and
    litlab's own in the `hydra` node (its callbacks)."""
    cfg = OmegaConf.to_container(compose_config("train", *overrides, hydra_config=True), resolve=False)
    hydra_node = cfg.pop("hydra")
    nodes = [*target_nodes(cfg), *(("hydra." + p, n) for p, n in target_nodes(hydra_node))]
    problems = []
    for node_path, node in nodes:
        if node_path.startswith("hydra.") and not node["_target_"].startswith("litlab."):
            continue  # Hydra's own plugins are Hydra's to check
        problems += signature_problems(where, node_path, node)
    return problems


OPTIONS = [(group, p.stem) for group in GROUPS for p in sorted((CONF / group).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_each_group_option_composes_into_nodes_its_targets_accept(group, option):
    where = f"conf/{group}/{option}.yaml composed with conf/train.yaml"
    problems = composed_problems(where, f"{group}={option}")
    assert not problems, "\n".join(problems)


def picked_groups(experiment: dict) -> list[str]:
    """`- override /data: caf` in an experiment's defaults as the override `data=caf`."""
    return [
        f"{key.removeprefix('override').strip().lstrip('/')}={value}"
        for entry in experiment.get("defaults", [])
        if isinstance(entry, dict)
        for key, value in entry.items()
    ]


def leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(key path, value) of every non-mapping value; lists count as one value."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, (*path, str(key)))
    else:
        yield path, node


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_into_nodes_its_targets_accept(experiment):
    where = f"conf/experiment/{experiment}.yaml composed with conf/train.yaml"
    problems = composed_problems(where, f"experiment={experiment}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_sets_only_what_differs(experiment):
    path = CONF / "experiment" / f"{experiment}.yaml"
    body = read_yaml(path)
    picked = picked_groups(body)
    body.pop("defaults", None)
    base = OmegaConf.to_container(compose_config("train", *picked), resolve=False)
    repeated = []
    for keys, value in leaves(body):
        there: Any = base
        for key in keys:
            there = there.get(key, KeyError) if isinstance(there, dict) else KeyError
        if there is not KeyError and is_literal(value) and plain(value) == plain(there):
            repeated.append(f"{'.'.join(keys)}: {value!r}")
    assert not repeated, (
        f"{relative(path)} sets values that conf/train.yaml with {picked or 'its defaults'} already has: "
        f"{', '.join(repeated)}; drop them (an experiment overrides only what differs)"
    )


def test_the_checks_name_the_file_the_key_and_the_fix():
    node = {"_target_": "litlab.data.CIFAR10DataModule", "batch_sise": 64, "augment": False}
    (stray, missing) = signature_problems("conf/data/x.yaml", "", node)
    assert stray.startswith(
        "conf/data/x.yaml: batch_sise is not a parameter of litlab.data.CIFAR10DataModule"
    )
    assert "'batch_size'" in stray and "remove the key or rename it" in stray
    assert "lacks `data_dir`, a required parameter" in missing
    assert not signature_problems("f", "", {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    (differs,) = default_problems("conf/data/x.yaml", "", node)
    assert "augment is False but the default of litlab.data.cifar10.CIFAR10DataModule is True" in differs
    assert not default_problems("f", "", {**node, "augment": "${oc.env:AUGMENT}"})  # not a repetition
