"""A progress bar that suits where the output goes."""

from __future__ import annotations

import sys

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar


def progress_bar() -> ProgressBar | None:
    """Rich's bar on a terminal; none when output goes to a file or CI log (the task then turns
    Lightning's default bar off: a bar nobody sees would still cost its hooks on every step)."""
    if sys.stdout.isatty():
        return RichProgressBar()
    return None
