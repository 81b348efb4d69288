"""A user's error (a missing file, a bad value, a checkpoint of another experiment) ends the command in
the one line that names the value and the fix, not a traceback: the traceback goes to the run's log
file (and its error.txt), and `HYDRA_FULL_ERROR=1` shows it on the console as Hydra does."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def user_errors() -> tuple[type[BaseException], ...]:
    """What a user's input causes: litlab raises these with a message that says what to do."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return (
        ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
        OmegaConfBaseException, HydraException,  # a missing ??? value; instantiate's wrapped errors
    )  # fmt: skip


def one_line(error: BaseException) -> str:
    """The error's message on one line; an error that `instantiate` wrapped is shown as the original one
    (with the class it was building)."""
    cause = error.__cause__
    if type(error).__name__ == "InstantiationException" and cause is not None:
        target = str(error).split("'")[1] if str(error).count("'") >= 2 else ""
        error = cause
        prefix = f"{target}: " if target else ""
    else:
        prefix = ""
    return prefix + " ".join((omegaconf_message(error) or f"{error}").split())


def omegaconf_message(error: BaseException) -> str | None:
    """An OmegaConf error in a user's words (None for another error): a value left ??? says which key to
    give; an error raised by a resolver is that error's message, with the key it was resolving; the
    others lose OmegaConf's `full_key: ... object_type=...` trailer, the key kept in the message."""
    from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue, OmegaConfBaseException

    if not isinstance(error, OmegaConfBaseException):
        return None
    key = getattr(error, "full_key", None) or ""
    text = re.split(r"\n\s+(?:full_key|reference_type|object_type)[:=]", str(error), maxsplit=1)[0].strip()
    if isinstance(error, MissingMandatoryValue) and key:
        return f"{key} has no value; give {key}=<value> on the command line (--help shows examples)"
    raised = re.match(r"(\w+) raised while resolving interpolation: ", text)
    if isinstance(error, InterpolationResolutionError) and raised:  # a resolver's own error: its words
        kind = raised.group(1)
        text = text[raised.end() :] if kind == "ValueError" else f"{kind}: {text[raised.end() :]}"
    return f"{text} (at {key})" if key and key not in text else text


def to_log_files(error: BaseException) -> None:
    """The traceback into the task's log file(s), not onto the console."""
    record = log.makeRecord(
        log.name,
        logging.ERROR,
        __file__,
        0,
        "%s",
        (one_line(error),),
        (type(error), error, error.__traceback__),
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


@contextmanager
def errors_in_one_line() -> Iterator[None]:
    """Around a task's entry point: a user error prints `Error: <message>` on stderr and exits with 1."""
    try:
        yield
    except user_errors() as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        to_log_files(error)
        print(f"Error: {one_line(error)}", file=sys.stderr, flush=True)
        print("(HYDRA_FULL_ERROR=1 shows the traceback; the run's log file has it too)", file=sys.stderr)
        sys.exit(1)
