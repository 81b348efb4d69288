"""Figures drawn as PNGs, here or by a drawing process that goes on beside the training.

Drawing holds the GIL, and a CV run's 25 folds' confusion figures take over a second; a population
(population/fold_files.py) hands each one to a drawing process as soon as its member stops, while the
other members still train. That process is spawned, not forked: a fork of a process that holds torch
and a training run makes the parent copy every page it touches afterwards (it slowed the fit it ran
beside by a second), and a spawned one imports only this module, which needs NumPy and matplotlib,
never torch or Lightning.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Sequence
from typing import Any


def titled(figure, title: str):
    """The figure with the run's title above its own, wrapped to the figure's width; returns it."""
    if title:
        width = max(24, int(figure.get_figwidth() * 11))  # characters of a medium font per line
        figure.suptitle(textwrap.fill(title, width), fontsize="medium")
        if figure.get_layout_engine() is None:  # a constrained one makes room for it when drawn
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


def start_drawing() -> None:
    """A spawned drawing process's start: SIGINT goes to the run alone (which ends the pool), and
    matplotlib is imported and its fonts loaded now, while the run is still setting up."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    png_of(confusion_figure([[1, 0], [0, 1]], ["0", "1"], "warm-up"))


def start_forked() -> None:
    """A forked drawing process's start: the run's SIGTERM handler, inherited, would raise in it when
    the pool ends it; and SIGINT goes to the run alone."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def forked_pngs(draw: Callable[..., Any], jobs: list[tuple]) -> list[bytes]:
    """The PNG of `draw(*job)` for every job, in order; many figures on several cores are drawn by
    processes forked now, one per core (a fork is cheap once the training is over: see the module
    docstring for why not during it)."""
    import multiprocessing
    import sys

    forkable = "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux")
    if len(jobs) < 4 or cores() < 2 or not forkable:
        return [drawn(draw, job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(min(cores(), len(jobs)), initializer=start_forked) as pool:
        return pool.starmap(drawn, [(draw, job) for job in jobs])


class FigurePool:
    """Figures drawn beside this process. `beside`: a drawing process is spawned now (see the module
    docstring), to draw the figures `submit` hands it while this process trains (which leaves it a
    core: population/run.py); otherwise `submit` does nothing. `pngs` gives the PNGs of a list of
    figures, each from a submitted job with the same arguments or drawn by the drawing process now;
    without one, drawn now (by forked processes when there are many). `draw` and its arguments must
    pickle: a function of a module that imports no torch (this one), NumPy arrays, strings."""

    def __init__(self, beside: bool) -> None:
        import multiprocessing

        self.pool: Any = None
        if beside:
            self.pool = multiprocessing.get_context("spawn").Pool(1, initializer=start_drawing)
        self.jobs: dict[bytes, Any] = {}  # the pickled (draw, args) -> its pending result

    def submit(self, draw: Callable[..., Any], args: tuple) -> None:
        """Start drawing `draw(*args)` in the drawing process (nothing, without one)."""
        import pickle

        key = pickle.dumps((draw, args))
        if self.pool is not None and key not in self.jobs:
            self.jobs[key] = self.pool.apply_async(drawn, (draw, args))

    def pngs(self, draw: Callable[..., Any], jobs: list[tuple]) -> list[bytes]:
        """The PNG of `draw(*job)` for every job, in order: by the drawing process, where there is one
        (the jobs not submitted yet are handed to it now: it has matplotlib loaded, this process may
        not), else drawn now (`forked_pngs`)."""
        import pickle

        if self.pool is None:
            return forked_pngs(draw, jobs)
        for args in jobs:
            self.submit(draw, args)
        return [self.jobs.pop(pickle.dumps((draw, args))).get() for args in jobs]

    def close(self) -> None:
        """End the drawing process (figures still being drawn are dropped)."""
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
        self.jobs.clear()

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
