"""What the entry points do around Hydra: before it runs, a `--shell-completion` (`-sc`) given without a
subcommand says how to install tab completion, where Hydra would end in a traceback; after it, the
process exits without the interpreter's last garbage collection (`quick_exit`)."""

from __future__ import annotations

import atexit
import functools
import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMPLETION_FLAGS = ("--shell-completion", "-sc")
SUBCOMMANDS = ("install=", "uninstall=", "query=")
QUICK_EXIT_REGISTERED = False  # quick_exit: this process has registered it


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


def quick_exit() -> None:
    """At exit, after the exit handlers registered after it (handlers run last registered first: those
    of torch, Lightning and litlab, imported once the entry point has started), freeze the objects the
    garbage collector tracks, so that the interpreter's shutdown does not walk them all once more: with
    torch and Lightning imported that walk costs about a second (1.1 s of `import lightning`'s 1.4 s
    shutdown here, 0.15 s left). Objects are still freed by reference counting (open files closed,
    buffers flushed); only cyclic garbage is left to the operating system, finalizers unrun. litlab's
    files are written, closed and renamed before then (runtime/files.py), and its TensorBoard files still
    open are flushed by an exit handler of their own (runtime/event_file.py).

    Once a process: the entry point calls it in the process it starts, the task in each process a
    launcher runs jobs in (joblib's workers, which the sweep's process waits for at its exit). The task
    calls it first, before it imports torch and Lightning, so in a worker too their handlers run before
    the freeze; only handlers registered before it (loky's own) run after it, which a freeze does not
    stop."""
    global QUICK_EXIT_REGISTERED
    if not QUICK_EXIT_REGISTERED:
        atexit.register(gc.freeze)
        QUICK_EXIT_REGISTERED = True


def entry_point(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a `@hydra.main` function: a bare `--shell-completion` prints `completion_help` and exits 0;
    otherwise it runs, and the process exits quickly (`quick_exit`)."""

    @functools.wraps(main)
    def run(*args: Any, **kwargs: Any) -> Any:
        text = completion_help(sys.argv) if not args and not kwargs else None
        if text:
            print(text)
            sys.exit(0)
        quick_exit()
        return main(*args, **kwargs)

    return run
