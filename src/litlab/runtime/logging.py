"""One copy of each log record: Lightning's own console handler would repeat what Hydra's handlers print."""

from __future__ import annotations

import logging


def lightning_logs_through_hydra() -> None:
    """Call after importing lightning inside a Hydra task: its records then go to Hydra's console and file
    handlers only (the `lightning` package adds a console handler of its own on import)."""
    if logging.getLogger().hasHandlers():
        logging.getLogger("lightning").handlers.clear()
