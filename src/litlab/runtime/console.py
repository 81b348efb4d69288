"""What the console shows: litlab's own lines, the progress bar and the final tables, without the notices
of dependencies that say nothing about this run (`verbose=true` shows them all again; the run's log file
keeps every record either way), and a user's error as one line (runtime/errors.py)."""

from __future__ import annotations

import logging
import warnings

# Warnings of dependencies that a user can do nothing about, or that do not apply to litlab.
QUIET_WARNINGS = (
    r".*LeafSpec.*is deprecated",  # torch's pytree API as Lightning 2.6 calls it
    # litlab's modules log once per epoch: the step interval only matters to per-step logging.
    r"The number of training batches .* is smaller than the logging interval",
    r".*does not have many workers.*",  # in-memory tables are cut by index: workers would only cost
    # A population's layers are views of one flat weight tensor, their gradients of its flat gradient
    # (population/nets.py): on purpose, so that the optimizer steps one tensor.
    r"grad and param do not obey the gradient layout contract",
)
# Lightning's console records that litlab says once, better, itself (or that are advertisements).
QUIET_RECORDS = (
    "💡 Tip:",
    "Restoring states from the checkpoint path",  # once per validate and test: the stop line says it
    "Loaded model weights from the checkpoint",
    "`weights_only` was not set",
    "`Trainer.fit` stopped:",  # the stop line says why, and where the best epoch was
)


class QuietLightning(logging.Filter):
    """Drops Lightning's records that QUIET_RECORDS names, on the console handler only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("lightning"):
            return True
        message = record.getMessage()
        return not any(text in message for text in QUIET_RECORDS)


def set_up_console(verbose: bool) -> None:
    """Call after importing lightning inside a Hydra task: Lightning's records go to Hydra's console and
    file handlers only, once (the `lightning` package adds a console handler of its own on import), and
    unless `verbose` the console keeps to what matters to the run."""
    if logging.getLogger().hasHandlers():
        logging.getLogger("lightning").handlers.clear()
    if verbose:
        return
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for handler in logging.getLogger().handlers:
        # Hydra's console handler is a plain StreamHandler; its file handler (a subclass) keeps everything,
        # and so do handlers of other kinds (pytest's log capture).
        on_console = type(handler) is logging.StreamHandler
        if on_console and not any(isinstance(f, QuietLightning) for f in handler.filters):
            handler.addFilter(QuietLightning())
