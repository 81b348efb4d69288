"""A progress bar that suits where the output goes."""

from __future__ import annotations

import sys

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar


def progress_bar() -> ProgressBar:
    """Rich's bar on a terminal; a silent bar when output goes to a file or CI log."""
    if sys.stdout.isatty():
        return RichProgressBar()
    return TQDMProgressBar(refresh_rate=0)
