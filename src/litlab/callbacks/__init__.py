"""Callbacks: progress display, figures and reports written to the loggers.

The names below are imported when first asked for (`litlab.callbacks.ClassificationReport`, as the
callback configs name them), so that a module of this package that needs no Lightning, the drawing
process's `drawing.py`, is imported without it.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ClassificationReport": "classification_report",
    "DataFigure": "figures",
    "LearningRateMonitor": "learning_rate",
}  # the progress bar's factory is litlab.callbacks.progress_bar.progress_bar (its module has its name)

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
