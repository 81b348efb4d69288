"""Figures drawn as PNGs, here or by a drawing process that goes on beside the training.

Drawing holds the GIL, and a CV run's 25 folds' confusion figures take over a second; a population
(population/fold_files.py) hands each one to a drawing process as soon as its member stops, while the
other members still train. That process is a new interpreter running this module (`python -m
litlab.callbacks.drawing`), which needs NumPy and matplotlib, never torch or Lightning. Not a fork of
the training process (it would inherit torch's thread pool in whatever state it was, and share every
page copy-on-write), and not multiprocessing's spawn either: that imports the parent's `__main__` again,
and a user's script that trains without an `if __name__ == "__main__":` guard would train again in it.
Jobs go to it as pickles over its stdin; a thread of this process, blocked in a read most of the time,
collects the PNGs from its stdout.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Sequence
from typing import Any


def fitted(figure, text: str, per_inch: float = 11) -> str:
    """`text` wrapped to the figure's width: `per_inch` characters of its font per inch (11: medium, the
    run's title; 10: large, an axes' title), at least 24 a line."""
    return textwrap.fill(text, max(24, int(figure.get_figwidth() * per_inch)))


def titled(figure, title: str):
    """The figure with the run's title above its own, wrapped to the figure's width; returns it."""
    if title:
        figure.suptitle(fitted(figure, title), fontsize="medium")
        from matplotlib.layout_engine import ConstrainedLayoutEngine

        # A constrained layout makes room for it when drawn; an earlier tight_layout() left only a
        # placeholder engine, which does not, so the axes' own title would run into it: lay out again.
        if not isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine):
            figure.tight_layout()
    return figure


def png_of(figure) -> bytes:
    """The figure drawn as a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def drawn(draw: Callable[..., Any], args: tuple) -> bytes:
    """The PNG of the figure `draw(*args)` makes."""
    return png_of(draw(*args))


def confusion_figure(confusion: Any, names: Sequence[str], title: str = ""):
    """A matplotlib figure of the confusion matrix (a tensor or an array), the classes by name on both
    axes and counts in the cells, titled with the run."""
    import itertools

    import numpy as np
    from matplotlib.figure import Figure  # deferred: matplotlib costs half a second to import

    counts = np.asarray(confusion)
    size = max(4.0, 0.55 * len(names) + 2)
    # Laid out while it is drawn (once, by savefig): tight_layout() would draw it once more, each time.
    figure = Figure(figsize=(size, size), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    ax.imshow(counts, cmap="Blues")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="predicted class", ylabel="true class")
    ax.set_title("confusion matrix", fontsize="medium")
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    threshold = counts.max() / 2
    for i, j in itertools.product(range(len(names)), repeat=2):
        count = int(counts[i, j])
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    return titled(figure, title)


def start_forked() -> None:
    """A forked drawing process's start: the run's SIGTERM handler, inherited, would raise in it when
    the pool ends it; and SIGINT goes to the run alone."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def forked_pngs(draw: Callable[..., Any], jobs: list[tuple]) -> list[bytes]:
    """The PNG of `draw(*job)` for every job, in order; many figures on several cores are drawn by
    processes forked now, one per core (a fork is cheap once the training is over: see the module
    docstring for why not during it)."""
    import multiprocessing
    import sys

    from litlab.runtime.threads import available_cores

    cores = available_cores()
    forkable = "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux")
    if len(jobs) < 4 or cores < 2 or not forkable:
        return [drawn(draw, job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(min(cores, len(jobs)), initializer=start_forked) as pool:
        return pool.starmap(drawn, [(draw, job) for job in jobs])


def write_frame(stream: Any, value: Any) -> None:
    """One pickled value, length first."""
    import pickle
    import struct

    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def read_frame(stream: Any) -> Any:
    """The next value `write_frame` wrote; EOFError at the end of the stream."""
    import pickle
    import struct

    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class DrawingProcess:
    """The drawing process (see the module docstring): `submit` hands it a job, `result` waits for that
    job's PNG (None if the process failed it or is gone: the caller then draws it itself). Starting it
    raises OSError where no interpreter can be started (the caller then draws everything itself)."""

    def __init__(self) -> None:
        import subprocess
        import sys
        import threading
        from pathlib import Path

        # Started where this package's own directory is first on its path (`-m` puts the working
        # directory there, where a user's folder named litlab would shadow the installed package).
        home = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "litlab.callbacks.drawing"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=home,
        )  # fmt: skip
        self.done: dict[int, bytes | None] = {}
        self.changed = threading.Condition()
        self.alive = True
        self.reader = threading.Thread(target=self.collect, name="litlab-drawing", daemon=True)
        self.reader.start()
        self.count = 0

    def submit(self, draw: Callable[..., Any], args: tuple) -> int:
        """Hand `draw(*args)` over; returns the job's number."""
        self.count += 1
        try:
            write_frame(self.process.stdin, (self.count, draw, args))
        except (OSError, ValueError):  # gone (a broken or closed pipe)
            with self.changed:
                self.done[self.count] = None
        return self.count

    def collect(self) -> None:
        """The reader thread: every PNG as it comes. Whatever ends it (the end of the stream, a stream it
        cannot read), the process counts as gone from then on, so that no one waits for it."""
        try:
            while True:
                job, png = read_frame(self.process.stdout)
                with self.changed:
                    self.done[job] = png
                    self.changed.notify_all()
        except BaseException:  # noqa: BLE001  (its figures are then drawn by the run itself)
            pass
        finally:
            with self.changed:
                self.alive = False
                self.changed.notify_all()

    def result(self, job: int) -> bytes | None:
        with self.changed:
            self.changed.wait_for(lambda: job in self.done or not self.alive)
            return self.done.pop(job, None)

    def close(self, now: bool = False) -> None:
        """End the process: at the end of its input, once it has drawn what it holds, or `now`."""
        import contextlib
        import subprocess

        if now:
            self.process.kill()
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)  # it reads the end of the stream once the process is gone
        if not self.reader.is_alive():
            self.process.stdout.close()


def serve() -> None:
    """The drawing process: SIGINT goes to the run alone (which ends this process); the frames go out
    on a private copy of stdout, and stdout itself points at stderr, so that nothing printed while
    drawing can mix into them; matplotlib is loaded at once, while the run is still setting up; then
    each job's PNG (None where drawing it failed), until its input ends."""
    import os
    import signal
    import sys
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    png_of(confusion_figure([[1, 0], [0, 1]], ["0", "1"], "warm-up"))
    jobs = sys.stdin.buffer
    while True:
        try:
            job, draw, args = read_frame(jobs)
        except EOFError:
            return
        try:
            png = drawn(draw, args)
        except Exception:  # noqa: BLE001  (the run draws it itself, and says why)
            traceback.print_exc()
            png = None
        write_frame(results, (job, png))


class FigurePool:
    """Figures drawn beside this process. `beside`: a drawing process is started now (see the module
    docstring), to draw the figures `submit` hands it while this process trains (which leaves it a
    core: population/run.py); otherwise `submit` does nothing. `pngs` gives the PNGs of a list of
    figures, each from a submitted job with the same arguments or drawn by the drawing process now;
    without one, drawn now (by forked processes when there are many). `draw` and its arguments must
    pickle: a function of a module that imports no torch (this one), NumPy arrays, strings."""

    def __init__(self, beside: bool) -> None:
        self.drawer: DrawingProcess | None = None
        if beside:
            try:
                self.drawer = DrawingProcess()
            except OSError as error:  # no interpreter to start: drawn here, after the fit
                import logging

                logging.getLogger(__name__).warning(
                    "No drawing process (%s): figures drawn after the fit", error
                )
        self.jobs: dict[bytes, int] = {}  # the pickled (draw, args) -> its job number

    def submit(self, draw: Callable[..., Any], args: tuple) -> None:
        """Start drawing `draw(*args)` in the drawing process (nothing, without one)."""
        import pickle

        key = pickle.dumps((draw, args))
        if self.drawer is not None and key not in self.jobs:
            self.jobs[key] = self.drawer.submit(draw, args)

    def pngs(self, draw: Callable[..., Any], jobs: list[tuple]) -> list[bytes]:
        """The PNG of `draw(*job)` for every job, in order: by the drawing process, where there is one
        (the jobs not submitted yet are handed to it now: it has matplotlib loaded, this process may
        not; a job it failed is drawn here), else drawn now (`forked_pngs`)."""
        import pickle

        if self.drawer is None:
            return forked_pngs(draw, jobs)
        for args in jobs:
            self.submit(draw, args)
        keys = [pickle.dumps((draw, args)) for args in jobs]
        got = {key: self.drawer.result(self.jobs.pop(key)) for key in dict.fromkeys(keys)}
        return [
            drawn(draw, args) if got[key] is None else got[key] for key, args in zip(keys, jobs, strict=True)
        ]

    def close(self, now: bool = False) -> None:
        """End the drawing process (`now`: without drawing what it still holds)."""
        if self.drawer is not None:
            self.drawer.close(now)
            self.drawer = None
        self.jobs.clear()

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(now=kind is not None)  # on an error, nothing it still draws is wanted


if __name__ == "__main__":
    serve()
