"""A search's space: `hydra.sweeper.params` (and sweep overrides on the command line) in Hydra's override
grammar, as Optuna distributions, checked before any trial runs.

    interval(0.0, 0.5)                  a float in [low, high]
    int(interval(1, 8))                 an integer in [low, high]
    tag(log, interval(1e-4, 0.1))       on a log scale (low > 0); int(...) inside for integers
    choice(16, 32, 64)                  one of the values; a list goes as a string: choice('[6,4]', '[16,8]')
    range(1, 10, 2)                     1, 3, ..., 9 (as Python's range: the stop left out)
    shuffle(range(1, 4))                a choice of the range's values
    5                                   a fixed value, the same in every trial

Hydra parses the grammar; Optuna has no parser of its own for it, hence this module. Light: optuna is
imported when a space is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

PARAMS = "hydra.sweeper.params"


@dataclass
class SearchSpace:
    """What each trial samples (`distributions`) and what every trial gets as it is (`fixed`)."""

    distributions: dict[str, Any] = field(default_factory=dict)  # key -> optuna distribution
    fixed: dict[str, str] = field(default_factory=dict)  # key -> override value
    written: dict[str, str] = field(default_factory=dict)  # key -> the grammar as given (kept in the study)

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's overrides: its sampled values, then the fixed ones."""
        return [f"{key}={value}" for key, value in params.items()] + [
            f"{key}={value}" for key, value in self.fixed.items()
        ]


def build_space(params: Mapping[str, Any] | None, arguments: list[str], config: DictConfig) -> SearchSpace:
    """The space of `params` (key -> grammar) and the command line's `arguments` (a sweep override there
    is searched too, a plain one is fixed); every key checked against `config` (the composed config)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    space = SearchSpace()
    for override in OverridesParser.create().parse_overrides(lines):
        key = override.get_key_element()
        if override.is_sweep_override():
            where = f"{PARAMS}.{key}" if key in (params or {}) else key
            check_key(key, config, where)
            text = override.input_line.partition("=")[2].strip()
            space.distributions[key] = distribution(override, f"{where}={text}")
            space.written[key] = text
            space.fixed.pop(key, None)
        elif key not in space.distributions:
            space.fixed[key] = override.get_value_element_as_str()
    if not space.distributions:
        raise ValueError(
            f"nothing to search: {PARAMS} is empty and the command line sweeps no key; give {PARAMS} (the "
            "hparams_search configs do) or a sweep such as model.optimizer.lr='tag(log, interval(1e-4, 0.1))'"
        )
    return space


def check_key(key: str, config: DictConfig, where: str) -> None:
    """A searched key must be one the config has (`+key` adds one; `group/name` picks a config group)."""
    if key.startswith(("+", "~")):
        return
    if "/" in key:  # a config group: its options are files, which Hydra checks when a trial composes
        choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
        if key in choices:
            return
        known = list(choices)
    else:
        if OmegaConf.select(config, key, default=_ABSENT, throw_on_missing=False) is not _ABSENT:
            return
        known = [k for k in leaf_keys(config) if not k.startswith("hydra")]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ValueError(
        f"{where}: {key} is not a key of the config; {hint}search a key the config has "
        f"(python train.py --cfg job shows them), or add a new one as +{key}"
    )


_ABSENT = object()


def leaf_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key of a config (its values left unresolved), for suggesting the one meant."""
    keys = []
    for name in node:
        child, key = node._get_node(name), f"{prefix}{name}"
        keys.append(key)
        if isinstance(child, DictConfig):
            keys += leaf_keys(child, key + ".")
    return keys


def distribution(override: Any, where: str) -> Any:
    """The Optuna distribution of one sweep override; `where` names it in errors."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep, Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not choices:
            raise ValueError(f"{where}: no values to choose from; give at least one, e.g. choice(16, 32)")
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if step <= 0 or start >= stop:
            raise ValueError(
                f"{where}: an empty range (it counts up from start, the stop left out); "
                "give start < stop and a positive step, e.g. range(1, 10, 2)"
            )
        last = start + step * int((stop - start - 1e-12) // step)  # the stop is left out, as in Python
        if any(isinstance(v, float) for v in (start, stop, step)):
            return FloatDistribution(float(start), float(last), step=float(step))
        return IntDistribution(int(start), int(last), step=int(step))
    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if not low < high:
            raise ValueError(
                f"{where}: low ({low}) must be below high ({high}); e.g. interval({low}, {low * 10 or 1}), "
                "or a fixed value without interval(...)"
            )
        if log and low <= 0:
            raise ValueError(
                f"{where}: a log interval needs low > 0, got {low}; e.g. tag(log, interval({high / 1000:g}, "
                f"{high:g})), or drop tag(log, ...) to search on a linear scale"
            )
        if isinstance(low, int) and isinstance(high, int):  # int(interval(...))
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise ValueError(
        f"{where}: not a search over values Optuna can sample; use interval(...), int(interval(...)), "
        "tag(log, interval(...)), choice(...) or range(...)"
    )
