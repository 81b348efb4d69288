"""Callbacks: progress display, figures and reports written to the loggers, the end of a converged fit.

The callbacks below are imported when first asked for (`litlab.callbacks.ClassificationReport`, as
the callback configs name them), so that a module of this package that needs no Lightning, the drawing
process's `drawing.py`, is imported without it. `progress_bar` (a function, which imports Lightning
only when called) is imported at once: its module has its name, which would otherwise stand for it.
"""

from __future__ import annotations

import importlib
from typing import Any

from litlab.callbacks.progress_bar import progress_bar

_HOMES = {
    "ClassificationReport": "classification_report",
    "StopWhenConverged": "converged",
    "DataFigure": "figures",
    "LearningRateMonitor": "learning_rate",
}

__all__ = [*_HOMES, "progress_bar"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
