"""Sizes are read from the data; one that a user types anyway must agree with it.

The configs size the model by interpolation (`${from_data.num_features}`, ...). A literal in one of
those places, or under `from_data` itself, was typed by someone: when it differs from what the data
module described, the run is refused with both values, before any model is built (else it fails later
as a shape error, or silently overwritten).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from litlab.runtime.resolvers import num_outputs

# Where the built-in configs put a size, and what in the data's description it must equal.
SIZED = {
    "model.num_classes": ("num_classes", "classes"),
    "model.net.in_features": ("num_features", "features"),
    "model.net.in_shape": ("input_shape", "as its input shape"),
    "model.net.out_features": (
        "outputs",
        "outputs (1 logit for 2 classes, 1 per class, or 1 per target)",
    ),
}


def plain(value: Any) -> Any:
    """A config value as plain Python (a ListConfig as a list)."""
    return OmegaConf.to_object(value) if OmegaConf.is_config(value) else value


def expected_outputs(described: dict[str, Any]) -> int:
    """The net's width: a classifier's logits, or a regression's target columns."""
    if described["num_classes"] is None:
        return described["num_targets"]
    return num_outputs(described["num_classes"])


def check_typed_sizes(cfg: DictConfig, described: dict[str, Any], source: str) -> None:
    """Refuse a typed size (a literal where the configs interpolate one) that contradicts the data."""
    for key in described:
        if key in cfg.get("from_data", {}) and not OmegaConf.is_missing(cfg.from_data, key):
            typed = plain(cfg.from_data[key])
            if typed != described[key]:
                raise ValueError(
                    f"from_data.{key}={typed} contradicts the data: {source} has {key}={described[key]}. "
                    "from_data is read from the data; drop the override"
                )
    for option, (key, what) in SIZED.items():
        parent, _, leaf = option.rpartition(".")
        node = OmegaConf.select(cfg, parent)
        if not isinstance(node, DictConfig) or leaf not in node or OmegaConf.is_interpolation(node, leaf):
            continue
        typed = plain(node[leaf])
        if key == "outputs":
            if node.get("_target_") is None:
                continue
            expected = expected_outputs(described)
        else:
            expected = described[key]
        if typed is not None and expected is not None and typed != expected:
            raise ValueError(
                f"{option}={typed} contradicts the data: {source} has {expected} {what}. Sizes are read "
                f"from the data: drop {option} from the command line or the config (its default, "
                "${from_data...}, follows the data)"
            )
