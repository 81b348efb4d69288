"""Config groups of many entries (callbacks, logger): each entry instantiated, null entries off."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def instantiate_each(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group such as `callbacks` or `logger`; null entries are off."""
    if not group:
        return []
    built = (instantiate(entry) for entry in group.values() if entry and "_target_" in entry)
    return [thing for thing in built if thing is not None]  # a factory may decline (progress_bar)
