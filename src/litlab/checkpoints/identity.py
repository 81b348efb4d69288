"""Is a checkpoint of this experiment? A resumed run must keep the data, model, seed and monitor."""

from __future__ import annotations

from typing import Any

# Config sections that define what is trained; a resumed run must agree on every value in them (but
# where the data lives). Trainer, callbacks, loggers and paths may change: more epochs, another machine.
IDENTITY_SECTIONS = ("task_name", "seed", "monitor", "data", "model")
MAY_MOVE = {"data.data_dir"}


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{"a.b": value} for every leaf of a nested dict."""
    if not isinstance(config, dict):
        return {prefix: config}
    leaves: dict[str, Any] = {}
    for key, value in config.items():
        leaves.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


def check_same_experiment(saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Raise when a checkpoint was trained with other data, model, seed or monitor than the current config."""
    if saved is None:
        return  # a checkpoint from outside litlab: Lightning still checks the weights' shapes
    before, now = (
        {k: v for k, v in flatten({s: config.get(s) for s in IDENTITY_SECTIONS}).items() if k not in MAY_MOVE}
        for config in (saved, current)
    )
    differ = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
    if not differ:
        return
    shown = "; ".join(f"{k}: checkpoint {before.get(k)!r}, this run {now.get(k)!r}" for k in differ[:6])
    more = f" (and {len(differ) - 6} more)" if len(differ) > 6 else ""
    if saved.get("task_name") != current.get("task_name"):
        hint = f"resume it with experiment={saved.get('task_name')}, or pick a checkpoint of this experiment"
    else:
        fix = " ".join(f"{key}={before[key]}" for key in differ[:6] if key in before)
        hint = f"resume with the values it was trained with ({fix}), or start a new run without ckpt_path"
    raise ValueError(
        f"the checkpoint was trained with another config: {shown}{more}. A resumed run must keep its data, "
        f"model, seed and monitor; {hint}"
    )
