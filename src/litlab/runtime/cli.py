"""What the entry points answer before Hydra runs: `--shell-completion` (`-sc`) given without a
subcommand says how to install tab completion, where Hydra would end in a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMPLETION_FLAGS = ("--shell-completion", "-sc")
SUBCOMMANDS = ("install=", "uninstall=", "query=")


def completion_help(argv: list[str]) -> str | None:
    """How to install completion, when `argv` asks for completion without install=, uninstall= or query=."""
    if not any(arg in COMPLETION_FLAGS for arg in argv[1:]):
        return None
    if any(arg.startswith(SUBCOMMANDS) for arg in argv[1:]):
        return None
    command = f"python {Path(argv[0]).name}" if argv[0].endswith(".py") else Path(argv[0]).name
    return (
        f"Tab completion of {command}'s overrides (Hydra's): for bash, run\n"
        f'  eval "$({command} -sc install=bash)"\n'
        "and add that line to ~/.bashrc to keep it (zsh: the same line; fish: "
        f"{command} -sc install=fish | source). Then `{command} experiment=<TAB>` lists the experiments.\n"
        f'Remove it with: eval "$({command} -sc uninstall=bash)"'
    )


def explains_completion(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a `@hydra.main` function: a bare `--shell-completion` prints `completion_help` and exits 0."""

    @functools.wraps(main)
    def entry_point(*args: Any, **kwargs: Any) -> Any:
        text = completion_help(sys.argv) if not args and not kwargs else None
        if text:
            print(text)
            sys.exit(0)
        return main(*args, **kwargs)

    return entry_point
