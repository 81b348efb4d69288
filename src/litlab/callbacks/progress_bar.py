"""A progress bar that suits where the output goes. Lightning is imported when a bar is asked for, not
with this module, which the callbacks package imports (callbacks/__init__.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import ProgressBar


def progress_bar() -> ProgressBar | None:
    """Rich's bar on a terminal; none when output goes to a file or CI log (the task then turns
    Lightning's default bar off: a bar nobody sees would still cost its hooks on every step)."""
    if sys.stdout.isatty():
        from lightning.pytorch.callbacks import RichProgressBar

        return RichProgressBar()
    return None


def shows_progress(callbacks: list[Any]) -> bool:
    """The Trainer's `enable_progress_bar` for these callbacks: a bar only when one of them is one (the
    `progress_bar()` this output got); left to itself, Lightning would add its TQDM bar to any output."""
    from lightning.pytorch.callbacks import ProgressBar

    return any(isinstance(callback, ProgressBar) for callback in callbacks)
